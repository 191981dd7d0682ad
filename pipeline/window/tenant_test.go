package window_test

import (
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

// TestEmptyTenant: events without a tenant, before and after another
// tenant's, are one device of one window.
func TestEmptyTenant(t *testing.T) {
	a := newAssembler(t, window.Config{}, 1, checked(t))
	for i, tenant := range []string{"", "acme", ""} {
		a.Add(&events.Event{ID: events.DerivedID("t", string(rune('a'+i))), Tenant: tenant, Device: "pos-1",
			Time: t0.Add(time.Duration(i) * time.Second), Payload: &events.AuthFailed{}})
	}
	a.Flush()
	ws := a.Closed()
	defer releaseAll(ws)
	if len(ws) != 1 {
		t.Fatalf("%d windows", len(ws))
	}
	if got := ws[0].Devices; len(got) != 2 || got[0].Tenant != "" || got[0].Rows != [2]int{0, 2} || got[1].Tenant != "acme" {
		t.Errorf("devices %+v", got)
	}
}
