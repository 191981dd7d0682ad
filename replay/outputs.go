package replay

import (
	"context"
	"iter"
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
)

// RunSortedTo is RunSorted handing the outputs to sink as they are made
// (pipeline.Processor.ProcessSeqTo), so that a replay keeps only what it
// needs of them: see Outputs.
func RunSortedTo(ctx context.Context, seq iter.Seq2[events.Event, error], cfg pipeline.Config, progress func(done int), sink func([]events.Event) error) (pipeline.Stats, error) {
	proc, err := pipeline.NewProcessor(cfg)
	if err != nil {
		return pipeline.Stats{}, err
	}
	defer proc.Close()
	err = proc.ProcessSeqTo(ctx, seq, pipeline.IsPipelineOutput, progress, sink)
	return proc.Stats(), err
}

// Outputs keeps what a backtest reports of a replay's outputs, fed chunk
// by chunk as the replay makes them (Add, the sink of RunSortedTo), instead
// of every output event: the alerts folded (alerts.Set), the order they
// were raised in, the interventions as JSON lines, and the candidate alert
// events Evaluate, CompareBaseline and WriteHTML read, slimmed to the
// fields they read (no evidence, features, summary or explanation). A
// replay of a month with a noisy candidate detector raises hundreds of
// thousands of alerts, and their repeats; the outputs held whole took
// several gigabytes. Outputs of the warm-up before From are dropped, as
// Since drops them.
type Outputs struct {
	From time.Time
	// Set is the fold of the alert events.
	Set *alerts.Set
	// Raised lists the alerts raised, (tenant, alert id), in order.
	Raised [][2]string
	// Interventions holds the intervention.applied events as JSON lines;
	// NInterventions counts them.
	Interventions  []byte
	NInterventions int
	// Candidate holds the alert.raised and alert.updated events, slimmed.
	Candidate []events.Event

	raisedIDs map[string]bool // with From: alerts raised since From
}

// NewOutputs returns an empty Outputs for a replay reporting from from
// (zero: everything).
func NewOutputs(from time.Time) *Outputs {
	return &Outputs{From: from, Set: alerts.NewSet(), raisedIDs: map[string]bool{}}
}

// Add takes a chunk of outputs, in order.
func (o *Outputs) Add(chunk []events.Event) error {
	for i := range chunk {
		ev := &chunk[i]
		if !o.From.IsZero() {
			if ev.Time.Before(o.From) {
				continue
			}
			switch p := ev.Payload.(type) {
			case *events.AlertRaised:
				o.raisedIDs[p.AlertId] = true
			case *events.AlertUpdated:
				if !o.raisedIDs[p.AlertId] {
					continue
				}
			}
		}
		o.Set.Apply(ev)
		switch p := ev.Payload.(type) {
		case *events.AlertRaised:
			o.Raised = append(o.Raised, [2]string{ev.Tenant, p.AlertId})
			slim := *ev
			slim.Payload = &events.AlertRaised{AlertId: p.AlertId, Detector: p.Detector, Severity: p.Severity, Score: p.Score,
				WindowStart: p.WindowStart, WindowEnd: p.WindowEnd, Key: p.Key}
			o.Candidate = append(o.Candidate, slim)
		case *events.AlertUpdated:
			slim := *ev
			slim.Payload = &events.AlertUpdated{AlertId: p.AlertId, Count: p.Count, LastSeen: p.LastSeen, Score: p.Score,
				WindowStart: p.WindowStart, WindowEnd: p.WindowEnd}
			o.Candidate = append(o.Candidate, slim)
		case *events.InterventionApplied:
			o.Interventions = append(ev.AppendJSON(o.Interventions), '\n')
			o.NInterventions++
		}
	}
	return nil
}
