package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// TestStreamBatchOfAlerts: the pipeline appends several alerts in one log
// message (they share a Seq); the stream must deliver each, live and on
// resume, with distinct, increasing ids.
func TestStreamBatchOfAlerts(t *testing.T) {
	e := newEnv(t)
	c := stream(t, e.http.URL, e.acme, "")
	var batch []events.Event
	for i := range 3 {
		batch = append(batch, alertEvent("acme", "pos-1", fmt.Sprintf("b-%d", i), "scan", events.Severity_SEVERITY_HIGH, t0.Add(time.Duration(i)*time.Second)))
	}
	e.raise(batch...) // one Append: one log message, one Seq
	var ids []string
	for i := range 3 {
		ev := c.next(t, false)
		if a := alertOf(t, ev); a["id"] != fmt.Sprintf("b-%d", i) {
			t.Fatalf("event %d: %v", i, a["id"])
		}
		ids = append(ids, ev.id)
	}
	var n [3]uint64
	for i, id := range ids {
		if _, err := fmt.Sscan(id, &n[i]); err != nil {
			t.Fatalf("id %q: %v", id, err)
		}
	}
	if !(n[0] < n[1] && n[1] < n[2]) {
		t.Fatalf("ids not increasing: %v", ids)
	}
	// Resuming after the first gives the other two.
	r := stream(t, e.http.URL, e.acme, ids[0])
	for i := 1; i < 3; i++ {
		if a := alertOf(t, r.next(t, false)); a["id"] != fmt.Sprintf("b-%d", i) {
			t.Fatalf("resume event %d: %v", i, a["id"])
		}
	}
}
