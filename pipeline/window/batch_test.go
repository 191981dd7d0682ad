package window_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
	"github.com/halo-sec/halo/pipeline/window/windowtest"
)

// TestAddBatch: AddBatch gives the windows (bytes, order), per-event
// results and stats of Add one by one, on the reference test's random logs
// (late events, ties, duplicates, two tenants, devices without an id,
// clock ticks, nil payloads) and on synthetic fleet traffic, whether the
// windows are collected after every event or at the end.
func TestAddBatch(t *testing.T) {
	logs := map[string][]events.Event{"synthetic": windowtest.LogOrder(windowtest.Synthetic(20_000, 300, 3*time.Minute, 7), 4, 256)}
	for seed := range uint64(3) {
		evs := randomLog(rand.New(rand.NewPCG(seed, 7)), 2000)
		evs = append(evs, events.Event{ID: events.DerivedID("nil", "x"), Tenant: "acme", Device: "d1", Time: t0}) // no payload
		logs[fmt.Sprint("random-", seed)] = evs
	}
	cfg := window.Config{Size: 20 * time.Second, Lateness: 5 * time.Second}
	for name, evs := range logs {
		t.Run(name, func(t *testing.T) {
			mem := checked(t)
			run := func(batch bool, every int) ([]byte, []bool, window.Stats) {
				a := newAssembler(t, cfg, 4, mem)
				var ws []*window.Window
				added := make([]bool, len(evs))
				after := func(i int, ok bool) {
					added[i] = ok
					if every > 0 && i%every == 0 {
						ws = append(ws, a.Closed()...)
					}
				}
				if batch {
					// In pieces of several lengths, as a caller's buffers.
					for lo, k := 0, 1; lo < len(evs); k++ {
						hi := min(lo+k*k, len(evs))
						n := a.AddBatch(evs[lo:hi], func(i int, ok bool) { after(lo+i, ok) })
						want := 0
						for _, ok := range added[lo:hi] {
							if ok {
								want++
							}
						}
						if n != want {
							t.Fatalf("AddBatch returned %d, %d added", n, want)
						}
						lo = hi
					}
				} else {
					for i := range evs {
						after(i, a.Add(&evs[i]))
					}
				}
				a.Flush()
				ws = append(ws, a.Closed()...)
				defer releaseAll(ws)
				return ipcBytes(t, ws), added, a.Stats()
			}
			want, wantAdded, wantStats := run(false, 0)
			for _, every := range []int{0, 1, 37} {
				got, gotAdded, gotStats := run(true, every)
				if !bytes.Equal(got, want) {
					t.Errorf("Closed every %d events: AddBatch made other windows than Add", every)
				}
				for i := range gotAdded {
					if gotAdded[i] != wantAdded[i] {
						t.Fatalf("event %d: AddBatch says added %v, Add %v", i, gotAdded[i], wantAdded[i])
					}
				}
				if gotStats != wantStats {
					t.Errorf("stats %+v, want %+v", gotStats, wantStats)
				}
			}
		})
	}
}

// TestAddBatchReleased: after Release, AddBatch adds nothing, as Add.
func TestAddBatchReleased(t *testing.T) {
	a, err := window.New(window.Config{}, 2, checked(t))
	if err != nil {
		t.Fatal(err)
	}
	evs := fleet(3, 4, time.Second)
	a.Release()
	if n := a.AddBatch(evs, nil); n != 0 {
		t.Errorf("added %d after Release", n)
	}
	if st := a.Stats(); st.Ignored != uint64(len(evs)) {
		t.Errorf("ignored %d, want %d", st.Ignored, len(evs))
	}
}
