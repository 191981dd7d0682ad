package window

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// TestWindowCaches: add's start of a partition's latest window and
// raiseTop's topNext, which skip the divisions, decide as the divisions
// do: an Assembler whose caches are cleared before every event and tick
// (so that it always divides) closes the same windows, with the same
// rows, and keeps the same watermarks, for events that jump back and
// forth across window boundaries on several partitions, ticks (on a
// boundary, from a partition that runs ahead, past Idle), times within
// the first window after the epoch, and a Flush in the middle.
func TestWindowCaches(t *testing.T) {
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 7))
		cfg := Config{Size: 2 * time.Second, Lateness: time.Second, Idle: 3 * time.Second}
		var as [2]*Assembler
		for k := range as {
			a, err := New(cfg, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release()
			as[k] = a
		}
		divide := func() { // the second always divides
			a := as[1]
			a.topNext = math.MinInt64
			for i := range a.parts {
				a.parts[i].latest = 0
			}
		}
		at := int64(1) // from the first window after the epoch
		var got [2][]string
		collect := func() {
			for k, a := range as {
				for _, w := range a.Closed() {
					got[k] = append(got[k], fmt.Sprint(w.Partition, w.Start.UnixNano(), w.End.UnixNano(), w.Batch.NumRows()))
					w.Release()
				}
				for p := range a.parts {
					got[k] = append(got[k], fmt.Sprint("wm", p, a.parts[p].wm))
				}
			}
		}
		for i := range 3000 {
			at += rng.Int64N(int64(300 * time.Millisecond))
			tm := at - rng.Int64N(int64(1500*time.Millisecond))
			switch r := rng.IntN(100); {
			case r < 5:
				tm = tm - tm%int64(cfg.Size) // on a boundary
			case r < 7:
				tm += int64(10 * time.Second) // a partition far ahead
			}
			ev := events.Event{ID: events.DerivedID("caches", fmt.Sprint(seed, i)), Tenant: "acme", Device: fmt.Sprintf("d%d", rng.IntN(9)),
				Time: time.Unix(0, max(tm, 1)), Payload: &events.AuthFailed{}}
			tick := rng.IntN(50) == 0
			p := rng.IntN(3)
			for k, a := range as {
				if k == 1 {
					divide()
				}
				if tick {
					if err := a.Tick(p, ev.Time); err != nil {
						t.Fatal(err)
					}
				} else {
					a.Add(&ev)
				}
			}
			if i == 1500 {
				for _, a := range as {
					a.Flush()
				}
			}
			collect()
		}
		for _, a := range as {
			a.Flush()
		}
		collect()
		if as[0].Stats() != as[1].Stats() {
			t.Errorf("seed %d: stats %+v, dividing %+v", seed, as[0].Stats(), as[1].Stats())
		}
		if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
			t.Errorf("seed %d: the caches closed other windows than the divisions", seed)
		}
		if len(got[0]) < 100 {
			t.Errorf("seed %d: %d windows and watermarks, too few to tell", seed, len(got[0]))
		}
	}
}
