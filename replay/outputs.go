package replay

import (
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
)

// Outputs keeps what a backtest reports of a replay's outputs, fed chunk
// by chunk as the replay makes them (Add, the sink of RunSortedTo), instead
// of every output event: the alerts folded (alerts.Set), the order they
// were raised in, the interventions as JSON lines, and the candidate alert
// events Evaluate, CompareBaseline and WriteHTML read, slimmed to the
// fields they read (no evidence, features, summary or explanation). A
// replay of a month with a noisy candidate detector raises hundreds of
// thousands of alerts, and their repeats; the outputs held whole took
// several gigabytes. Outputs of the warm-up are dropped, as Since drops
// them.
type Outputs struct {
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

	since sinceFilter
}

// NewOutputs returns an empty Outputs for a replay reporting from from
// (zero: everything).
func NewOutputs(from time.Time) *Outputs {
	return &Outputs{Set: alerts.NewSet(), since: sinceFilter{from: from}}
}

// Add takes a chunk of outputs, in order.
func (o *Outputs) Add(chunk []events.Event) error {
	for i := range chunk {
		ev := &chunk[i]
		if !o.since.keep(ev) {
			continue
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
