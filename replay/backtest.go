package replay

import (
	"context"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
)

// Run feeds events through a fresh pipeline processor in (event time, id)
// order, the order every output is defined by, and returns every output,
// closing the last windows at the end. The events slice is sorted in place.
// The live pipeline consumes the log in log order, which is within the
// window lateness of that order across partitions (the edge appends as it
// goes, bulk appends keep to the store's batch span), and windows are
// released in (start, partition) order (window.Assembler.Closed): so a
// replay raises what the live pipeline raised. History appended after newer
// events (an import into a log that already holds live traffic) was late
// for the live pipeline; a replay still scores it. Outputs of an earlier
// run found among the events (alerts, interventions, models) are not fed
// back.
func Run(evs []events.Event, cfg pipeline.Config) ([]events.Event, pipeline.Stats, error) {
	return RunContext(context.Background(), evs, cfg, nil)
}

// RunContext is Run that stops with ctx's error when ctx ends and calls
// progress, when not nil, with the number of events processed so far every
// 4096 events (from the goroutine that called RunContext). The pipeline
// runs on several cores (pipeline.Processor.ProcessAll), with the same
// outputs as one event at a time.
func RunContext(ctx context.Context, evs []events.Event, cfg pipeline.Config, progress func(done int)) ([]events.Event, pipeline.Stats, error) {
	events.SortByTime(evs)
	return RunSorted(ctx, events.Values(evs), cfg, progress)
}

// AlertsOf keeps the alert.raised and alert.updated events of outputs.
func AlertsOf(outs []events.Event) []events.Event {
	isAlert := func(o *events.Event) bool {
		t := o.Type()
		return t == events.TypeAlertRaised || t == events.TypeAlertUpdated
	}
	n := 0
	for i := range outs {
		if isAlert(&outs[i]) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	a := make([]events.Event, 0, n)
	for i := range outs {
		if isAlert(&outs[i]) {
			a = append(a, outs[i])
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
	f := sinceFilter{from: from}
	var kept []events.Event
	for i := range outs {
		if f.keep(&outs[i]) {
			kept = append(kept, outs[i])
		}
	}
	return kept
}

// sinceFilter is Since one output at a time, in order.
type sinceFilter struct {
	from   time.Time
	raised map[string]bool // alerts raised since from
}

func (f *sinceFilter) keep(o *events.Event) bool {
	if f.from.IsZero() {
		return true
	}
	if o.Time.Before(f.from) {
		return false
	}
	switch p := o.Payload.(type) {
	case *events.AlertRaised:
		if f.raised == nil {
			f.raised = map[string]bool{}
		}
		f.raised[p.AlertId] = true
	case *events.AlertUpdated:
		return f.raised[p.AlertId]
	}
	return true
}
