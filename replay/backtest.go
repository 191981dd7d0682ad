package replay

import (
	"slices"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
)

// Run feeds events through a fresh pipeline processor in (event time, id)
// order — the order that makes outputs independent of how the events were
// appended (imports write connections when they end, not when they start)
// — and returns every output, closing the last windows at the end. The
// events slice is sorted in place. Outputs of an earlier run found among
// the events (alerts, interventions, models) are not fed back.
func Run(evs []events.Event, cfg pipeline.Config) ([]events.Event, pipeline.Stats, error) {
	proc, err := pipeline.NewProcessor(cfg)
	if err != nil {
		return nil, pipeline.Stats{}, err
	}
	defer proc.Close()
	SortByTime(evs)
	var out []events.Event
	for i := range evs {
		if pipeline.IsOutput(evs[i].Type()) {
			continue
		}
		out = append(out, proc.Process(&evs[i])...)
	}
	out = append(out, proc.Flush()...)
	return out, proc.Stats(), nil
}

// SortByTime orders events by (event time, id), stably.
func SortByTime(evs []events.Event) {
	slices.SortStableFunc(evs, func(a, b events.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return a.ID.Compare(b.ID)
	})
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
