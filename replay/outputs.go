package replay

import (
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/slab"
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
	// The alert.raised and alert.updated events, slimmed (Candidate), in
	// chunks of candChunk: a slice that doubled as they come would copy
	// them again and again.
	cand  [][]events.Event
	ncand int
	// The slimmed payloads, allocated slabChunk at a time (one allocation
	// per payload was most of Add's).
	raisedSlab  []events.AlertRaised
	updatedSlab []events.AlertUpdated

	since sinceFilter
}

// NewOutputs returns an empty Outputs for a replay reporting from from
// (zero: everything).
func NewOutputs(from time.Time) *Outputs {
	return &Outputs{Set: alerts.NewSet(), since: sinceFilter{from: from}}
}

const (
	candChunk = 4096
	slabChunk = 256
)

// Candidate returns the alert.raised and alert.updated events, slimmed, in
// order, in one slice.
func (o *Outputs) Candidate() []events.Event {
	if len(o.cand) == 1 {
		return o.cand[0]
	}
	all := make([]events.Event, 0, o.ncand)
	for _, c := range o.cand {
		all = append(all, c...)
	}
	o.cand = [][]events.Event{all}
	return all
}

// addCandidate appends a slimmed alert event.
func (o *Outputs) addCandidate(ev events.Event) {
	if n := len(o.cand); n == 0 || len(o.cand[n-1]) == cap(o.cand[n-1]) {
		o.cand = append(o.cand, make([]events.Event, 0, candChunk))
	}
	n := len(o.cand) - 1
	o.cand[n] = append(o.cand[n], ev)
	o.ncand++
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
			sp := slab.Next(&o.raisedSlab, slabChunk)
			sp.AlertId, sp.Detector, sp.Severity, sp.Score = p.AlertId, p.Detector, p.Severity, p.Score
			sp.WindowStart, sp.WindowEnd, sp.Key = p.WindowStart, p.WindowEnd, p.Key
			slim := *ev
			slim.Payload = sp
			o.addCandidate(slim)
		case *events.AlertUpdated:
			sp := slab.Next(&o.updatedSlab, slabChunk)
			sp.AlertId, sp.Count, sp.LastSeen, sp.Score = p.AlertId, p.Count, p.LastSeen, p.Score
			sp.WindowStart, sp.WindowEnd = p.WindowStart, p.WindowEnd
			slim := *ev
			slim.Payload = sp
			o.addCandidate(slim)
		case *events.InterventionApplied:
			o.Interventions = append(ev.AppendJSON(o.Interventions), '\n')
			o.NInterventions++
		}
	}
	return nil
}
