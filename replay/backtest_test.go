package replay

import (
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// TestSinceDropsWarmup: outputs before from go, and so do later updates of
// an alert raised during the warm-up; alerts raised in range keep theirs.
func TestSinceDropsWarmup(t *testing.T) {
	from := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	ev := func(at time.Duration, p events.Payload) events.Event {
		return events.Event{ID: events.NewID(), Tenant: "t", Device: "d", Time: from.Add(at), Payload: p}
	}
	outs := []events.Event{
		ev(-time.Hour, &events.AlertRaised{AlertId: "old"}),
		ev(time.Minute, &events.AlertUpdated{AlertId: "old"}),
		ev(2*time.Minute, &events.AlertRaised{AlertId: "new"}),
		ev(3*time.Minute, &events.AlertUpdated{AlertId: "new"}),
	}
	got := Since(outs, from)
	if len(got) != 2 || got[0].Payload.(*events.AlertRaised).AlertId != "new" || got[1].Payload.(*events.AlertUpdated).AlertId != "new" {
		t.Fatalf("Since kept %v", got)
	}
	if len(Since(outs, time.Time{})) != 4 || len(InRange(outs, from)) != 3 {
		t.Fatal("zero from must keep everything; InRange keeps events at or after from")
	}
}
