package features_test

import (
	"fmt"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/pipeline/window"
)

// Events go through a window.Assembler; each closed window gives one vector
// per device.
func ExampleCompute() {
	a, _ := window.New(window.Config{Size: time.Minute}, 16, nil)
	defer a.Release()
	st, _ := features.NewState(features.StateConfig{})
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	add := func(at time.Duration, p events.Payload) {
		ev := events.Event{ID: events.DerivedID("example", at.String()), Tenant: "acme", Device: "pos-1", Time: t0.Add(at), Payload: p}
		a.Add(&ev)
	}
	add(1*time.Second, &events.ConnOpened{ConnId: "c1", DstHost: "pay.example.com", DstPort: 443, TlsFp: "t13d1516h2_8daaf6152771_b186095e22b6"})
	add(2*time.Second, &events.ConnClosed{ConnId: "c1", BytesUp: 1200, BytesDown: 3600, DurationNs: int64(1500 * time.Millisecond)})
	add(3*time.Second, &events.ConnOpened{ConnId: "c2", DstHost: "pay.example.com", DstPort: 443})
	add(4*time.Second, &events.ConnClosed{ConnId: "c2", Reason: events.CloseReason_CLOSE_REASON_REFUSED})
	a.Flush()
	for _, w := range a.Closed() {
		for _, v := range features.Compute(w, nil, st) {
			for _, name := range []string{"connections", "new_dsts_device", "bytes_up_share", "duration_max", "refused_conns", "new_tls_fps_cohort"} {
				x, _ := v.Value(name)
				fmt.Printf("%s %s = %g\n", v.Device, name, x)
			}
		}
		w.Release()
	}
	// Output:
	// pos-1 connections = 2
	// pos-1 new_dsts_device = 1
	// pos-1 bytes_up_share = 0.25
	// pos-1 duration_max = 1.5
	// pos-1 refused_conns = 1
	// pos-1 new_tls_fps_cohort = 1
}
