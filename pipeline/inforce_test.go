package pipeline

import (
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// TestInterventionInForceIsNotRepeated: two devices replaying one payment
// raise two alerts, and the default policy's fingerprint block is
// recorded once (each alert recorded one: two identical blocks until the
// same time, two rows in every list of blocks). Once an operator lifts it,
// the next replay of that payment blocks it again.
func TestInterventionInForceIsNotRepeated(t *testing.T) {
	p, err := NewProcessor(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	var outs []events.Event
	process := func(evs ...events.Event) {
		for i := range evs {
			outs = append(outs, p.Process(&evs[i])...)
		}
	}
	count := func() (alerts, blocks int, ids []string) {
		for _, o := range outs {
			switch pl := o.Payload.(type) {
			case *events.AlertRaised:
				if pl.Detector == "replay-attack" {
					alerts++
				}
			case *events.InterventionApplied:
				if pl.Match != nil && len(pl.Match.StrictFp) > 0 {
					blocks++
					ids = append(ids, pl.InterventionId)
				}
			}
		}
		return
	}
	process(payment("pos-1", at, "Q", 200), payment("pos-2", at.Add(10*time.Millisecond), "Q", 200),
		payment("pos-3", at.Add(20*time.Millisecond), "Q", 200))
	alerts, blocks, ids := count()
	if alerts < 2 || blocks != 1 {
		t.Fatalf("%d replay-attack alerts, %d fingerprint blocks: want 2 or more alerts and one block", alerts, blocks)
	}
	lift := events.Event{ID: events.NewID(), Tenant: "acme", Time: at.Add(time.Minute), Payload: &events.InterventionLifted{InterventionId: ids[0], Reason: "false alarm", Actor: "ops"}}
	process(lift, payment("pos-4", at.Add(2*time.Minute), "Q", 200))
	alerts2, blocks2, _ := count()
	if alerts2 <= alerts || blocks2 != 2 {
		t.Fatalf("after the lift: %d alerts (%d before), %d blocks: want a new alert and a new block", alerts2, alerts, blocks2)
	}
	// A replay 30 s later: the block in force ends 30 s before a new one
	// would, no new block; 5 h later, a new block, which ends 5 h later:
	// a block lasts its full term from every alert.
	process(payment("pos-5", at.Add(2*time.Minute+30*time.Second), "Q", 200))
	if a, b, _ := count(); a <= alerts2 || b != 2 {
		t.Fatalf("30 s later: %d alerts, %d blocks: want a new alert, no new block", a, b)
	}
	process(payment("pos-6", at.Add(5*time.Hour), "Q", 200))
	if _, b, _ := count(); b != 3 {
		t.Fatalf("5 h later: %d blocks: want a new one", b)
	}
}
