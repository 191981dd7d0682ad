package replay

import (
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
)

// Run feeds events through a fresh pipeline processor in the order given —
// for a replay of the log, the log's order, which is the order the live
// pipeline consumed them in, so a replay raises exactly what the live
// pipeline raised — and returns every output, closing the last windows at
// the end. Windows and everything computed from them come out the same for
// any order that is at most the window lateness out of event-time order
// across partitions (see window.Assembler.Closed); events collected from
// elsewhere (a Zeek file is written as connections end) must be put in
// time order first, with events.SortByTime, as halo import does before appending.
// Outputs of an earlier run found among the events (alerts,
// interventions, models) are not fed back.
func Run(evs []events.Event, cfg pipeline.Config) ([]events.Event, pipeline.Stats, error) {
	proc, err := pipeline.NewProcessor(cfg)
	if err != nil {
		return nil, pipeline.Stats{}, err
	}
	defer proc.Close()
	var out []events.Event
	for i := range evs {
		if pipeline.IsPipelineOutput(&evs[i]) {
			continue
		}
		out = append(out, proc.Process(&evs[i])...)
	}
	out = append(out, proc.Flush()...)
	return out, proc.Stats(), nil
}

// AlertsOf keeps the alert.raised and alert.updated events of outputs.
func AlertsOf(outs []events.Event) []events.Event {
	var a []events.Event
	for _, o := range outs {
		if t := o.Type(); t == events.TypeAlertRaised || t == events.TypeAlertUpdated {
			a = append(a, o)
		}
	}
	return a
}

// Since keeps the outputs of a replay that belong to the reported range
// starting at from: outputs timed before it came from the warm-up (the
// history replayed only to build baselines) and are dropped, and so are
// updates of alerts raised during the warm-up. A zero from keeps all.
func Since(outs []events.Event, from time.Time) []events.Event {
	if from.IsZero() {
		return outs
	}
	raised := map[string]bool{}
	var kept []events.Event
	for _, o := range outs {
		if o.Time.Before(from) {
			continue
		}
		switch p := o.Payload.(type) {
		case *events.AlertRaised:
			raised[p.AlertId] = true
		case *events.AlertUpdated:
			if !raised[p.AlertId] {
				continue
			}
		}
		kept = append(kept, o)
	}
	return kept
}

// InRange keeps the events timed at or after from (all when from is zero).
func InRange(evs []events.Event, from time.Time) []events.Event {
	if from.IsZero() {
		return evs
	}
	var kept []events.Event
	for _, e := range evs {
		if !e.Time.Before(from) {
			kept = append(kept, e)
		}
	}
	return kept
}
