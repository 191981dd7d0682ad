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
	// The alert.raised and alert.updated events, slimmed (Candidate), in
	// chunks: the sink's chunks they came in, or chunks of candChunk they
	// were copied to (a slice that doubled as they come would copy them
	// again and again).
	cand  [][]events.Event
	ncand int

	since sinceFilter
}

// NewOutputs returns an empty Outputs for a replay reporting from from
// (zero: everything).
func NewOutputs(from time.Time) *Outputs {
	return &Outputs{Set: alerts.NewSet(), since: sinceFilter{from: from}}
}

const candChunk = 4096

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

// Add takes a chunk of outputs, in order, and its memory (Add is a
// sink of RunSortedTo, which hands each chunk over): the alert events kept
// stay in the chunk, moved to its front, and their payloads are slimmed
// in place (their evidence, features, summary and explanation dropped) —
// a copy of each event and payload was a third of Add's allocation.
// Other outputs (model.deployed) are dropped: a processor feeding Add
// need not make them (pipeline.Config.NoModelEvents).
func (o *Outputs) Add(chunk []events.Event) error {
	if !o.since.from.IsZero() { // the outputs kept, at the chunk's front
		n := 0
		for i := range chunk {
			if o.since.keep(&chunk[i]) {
				chunk[n] = chunk[i]
				n++
			}
		}
		clear(chunk[n:])
		chunk = chunk[:n]
	}
	// Folded under one lock, before their payloads are slimmed: the set
	// copies what it keeps of them.
	o.Set.ApplyAll(chunk)
	k := 0 // the alert events kept, at the chunk's front
	for i := range chunk {
		ev := &chunk[i]
		switch p := ev.Payload.(type) {
		case *events.AlertRaised:
			o.Raised = append(o.Raised, [2]string{ev.Tenant, p.AlertId})
			p.Evidence, p.Summary, p.Explanation, p.Features = nil, "", "", nil
		case *events.AlertUpdated:
			p.Evidence = nil
		case *events.InterventionApplied:
			o.Interventions = append(ev.AppendJSON(o.Interventions), '\n')
			o.NInterventions++
			continue
		default:
			continue
		}
		if k != i {
			chunk[k] = *ev
		}
		k++
	}
	clear(chunk[k:])
	if 2*k >= cap(chunk) {
		// Mostly alert events (a replay's outputs): the chunk is kept,
		// the candidates after it appended to its room.
		o.cand = append(o.cand, chunk[:k])
		o.ncand += k
		return nil
	}
	// Few: copied, so that they do not hold the chunk's memory.
	for i := range k {
		o.addCandidate(chunk[i])
	}
	return nil
}
