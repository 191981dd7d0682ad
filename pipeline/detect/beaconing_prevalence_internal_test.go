package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

// refPrevalence is beaconing's prevalence as it was kept before the
// entries by cohort and destination (dstDevs): a map of (cohort,
// destination, device) to the time set, the count of its keys by cohort
// and destination, and the records of every time set, forgotten in order
// by gc. The tests compare the detector's prevalence with it.
type refPrevalence struct {
	at    map[refPrevKey]int64
	peers map[cohortDst]int32
	seen  []refSeen
}

type refPrevKey struct{ cohort, dst, device string }

type refSeen struct {
	key  refPrevKey
	flow bool // a record of at (else one of a device, which only takes its place in line)
	at   int64
}

// window applies a window as beaconing did: every device is recorded
// once, every flow (tenant, device, destination) with a connection once,
// in row order.
func (r *refPrevalence) window(w *window.Window, ctx *Context) {
	c := colsOf(w)
	end := w.End.UnixNano()
	for _, d := range w.Devices {
		if d.Tenant == "" || d.Device == "" {
			continue
		}
		cohort := ctx.Cohort(d.Tenant, d.Device)
		r.seen = append(r.seen, refSeen{at: end})
		done := map[string]bool{}
		for i := d.Rows[0]; i < d.Rows[1]; i++ {
			if c.typ[i] != window.TypeConnOpened {
				continue
			}
			dst := c.dst(i)
			if dst == "" || done[dst] {
				continue
			}
			done[dst] = true
			ck := cohortDst{cohort, dst}
			if n := r.peers[ck]; n < 1024 {
				k := refPrevKey{cohort, dst, d.Device}
				if _, ok := r.at[k]; !ok {
					r.peers[ck] = n + 1
				}
				r.at[k] = end
				r.seen = append(r.seen, refSeen{key: k, flow: true, at: end})
			}
		}
	}
}

// gc forgets, as beaconing's gc did at now, the entries of the expired
// records at the front whose time is still the record's.
func (r *refPrevalence) gc(now time.Time, horizon time.Duration) {
	for len(r.seen) > 0 && sinceNs(now.UnixNano(), r.seen[0].at) > horizon {
		s := r.seen[0]
		r.seen = r.seen[1:]
		if at, ok := r.at[s.key]; s.flow && ok && at == s.at {
			delete(r.at, s.key)
			ck := cohortDst{s.key.cohort, s.key.dst}
			if r.peers[ck]--; r.peers[ck] == 0 {
				delete(r.peers, ck)
			}
		}
	}
}

// check compares b's prevalence with r's.
func (r *refPrevalence) check(t *testing.T, b *Beaconing, when string) {
	t.Helper()
	n := 0
	prevalence := prevalenceOf(t, b)
	for k, at := range r.at {
		got, ok := prevalence[cohortDst{k.cohort, k.dst}].get(k.device)
		if !ok || got != at {
			t.Fatalf("%s: %v at %d: kept %v at %d", when, k, at, ok, got)
		}
		n++
	}
	total := 0
	for ck, e := range prevalence {
		held := len(e.more)
		for _, d := range e.one {
			if d.device != "" {
				held++
			}
		}
		if e.gone || int(e.n) != held || e.n != r.peers[ck] {
			t.Fatalf("%s: entry %v: gone %v, %d devices counted, %d held, want %d", when, ck, e.gone, e.n, held, r.peers[ck])
		}
		total += held
	}
	if total != n {
		t.Fatalf("%s: %d devices kept, want %d", when, total, n)
	}
}

// Beaconing's prevalence (by cohort and destination, with its devices)
// holds what the maps of (cohort, destination, device) and of the count by
// cohort and destination held, window after window and gc after gc:
// devices changing cohorts, two tenants' devices of one name in one cohort,
// windows out of order (some by more than the horizon, so that an entry
// forgotten is set anew while the records of its old times wait), and a
// destination reached by more than 1024 devices of a cohort.
func TestBeaconingPrevalenceAsMaps(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		evs     func(r *rand.Rand) []events.Event
		shuffle bool
		windows []int // when set: a window of each minute listed, from evs, in this order
	}{
		{"random", randomBeaconEvents, false, nil},
		{"random, windows out of order", randomBeaconEvents, true, nil},
		{"1100 devices to one destination", func(r *rand.Rand) []events.Event {
			var evs []events.Event
			for m := range 90 {
				for d := range 1100 {
					if r.IntN(4) == 0 {
						continue
					}
					dst := "shared.example"
					if r.IntN(8) == 0 {
						dst = fmt.Sprintf("h%d.example", r.IntN(5))
					}
					evs = append(evs, events.Event{ID: events.DerivedID("p", fmt.Sprint(m, d)), Tenant: "acme", Device: fmt.Sprintf("pos-%04d", d),
						Time: t0.Add(time.Duration(m)*time.Minute + time.Duration(d)*time.Millisecond), Payload: &events.ConnOpened{ConnId: fmt.Sprint(m, d), DstHost: dst, DstPort: 443}})
				}
			}
			return evs
		}, false, nil},
		// An entry forgotten (its record of minute 0 found it set to
		// minute 0 again, by a second window of that minute) is set anew
		// by a second window of minute 20: the record of the first
		// window of minute 20, expired, is the new entry's (the cohorts
		// of these minutes are one).
		{"an entry forgotten and set anew", func(*rand.Rand) []events.Event {
			var evs []events.Event
			for _, m := range []int{0, 20, 45, 62} {
				dev, dst := "pos-1", "c2.example"
				if m > 40 {
					dev, dst = "pos-2", "other.example"
				}
				evs = append(evs, events.Event{ID: events.DerivedID("f", fmt.Sprint(m)), Tenant: "acme", Device: dev,
					Time: t0.Add(time.Duration(m)*time.Minute + time.Second), Payload: &events.ConnOpened{ConnId: fmt.Sprint(m), DstHost: dst, DstPort: 443}})
			}
			return evs
		}, false, []int{0, 20, 0, 45, 20, 62}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			b := newDetector[*Beaconing](t, "beaconing", map[string]string{"horizon": "40m"})
			asm, err := window.New(window.Config{Size: time.Minute, Lateness: time.Second}, 1, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			defer asm.Release()
			// A device's cohort changes every 25 minutes of event time;
			// the cohorts do not name the tenant, so tenants' devices of
			// one name share entries.
			var clock time.Time
			ctx := &Context{Cohort: func(tenant, device string) string {
				if tc.windows != nil {
					return "c"
				}
				return fmt.Sprintf("c%d", (int(clock.Sub(t0)/(25*time.Minute))+len(device))%3)
			}}
			evs := tc.evs(r)
			events.SortByTime(evs)
			var ws []*window.Window
			eachWindow(asm, evs, func(w *window.Window) {
				w.Batch.Retain() // kept past eachWindow's release
				ws = append(ws, &window.Window{Partition: w.Partition, Start: w.Start, End: w.End, Batch: w.Batch, Devices: w.Devices})
			})
			defer func() {
				for _, w := range ws {
					w.Release()
				}
			}()
			if tc.windows != nil {
				byMinute := map[int]*window.Window{}
				for _, w := range ws {
					byMinute[int(w.Start.Sub(t0)/time.Minute)] = w
				}
				ws = nil
				for _, m := range tc.windows {
					w := byMinute[m]
					w.Batch.Retain() // released once per listing
					ws = append(ws, &window.Window{Partition: w.Partition, Start: w.Start, End: w.End, Batch: w.Batch, Devices: w.Devices})
				}
				for _, w := range byMinute {
					w.Release()
				}
			}
			if tc.shuffle {
				for i := range ws {
					switch j := r.IntN(len(ws)); {
					case r.IntN(4) == 0 && i+1 < len(ws):
						ws[i], ws[i+1] = ws[i+1], ws[i]
					case r.IntN(30) == 0:
						ws[i], ws[j] = ws[j], ws[i]
					}
				}
			}
			ref := &refPrevalence{at: map[refPrevKey]int64{}, peers: map[cohortDst]int32{}}
			gcs, capped := 0, false
			for k, w := range ws {
				clock = w.Start
				ref.window(w, ctx)
				lastGC := b.lastGC
				b.Window(w, ctx)
				if !b.lastGC.Equal(lastGC) {
					ref.gc(b.lastGC, b.horizon)
					gcs++
				}
				ref.check(t, b, fmt.Sprintf("window %d (%s, end %s)", k, tc.name, w.End))
				for _, n := range ref.peers {
					capped = capped || n == 1024
				}
			}
			if gcs < 3 {
				t.Fatalf("%d gcs", gcs)
			}
			if want := tc.name == "1100 devices to one destination"; capped != want {
				t.Fatalf("a destination's devices reached the cap: %v, want %v", capped, want)
			}
		})
	}
}

// randomBeaconEvents are connections of 30 devices of two tenants (the
// same device names in both) to 40 destinations over 4 hours, the devices
// quiet for an hour at a time.
func randomBeaconEvents(r *rand.Rand) []events.Event {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var evs []events.Event
	for m := range 4 * 60 {
		for d := range 30 {
			if (m/(30+5*d))%3 == 2 || r.IntN(3) == 0 {
				continue
			}
			tenant := []string{"acme", "bravo"}[d%2]
			for k := range 1 + r.IntN(3) {
				dst := fmt.Sprintf("h%d.example", r.IntN(40))
				at := time.Duration(m)*time.Minute + time.Duration(d*1000+k*7000)*time.Millisecond
				evs = append(evs, events.Event{ID: events.DerivedID("b", fmt.Sprint(m, d, k)), Tenant: tenant, Device: fmt.Sprintf("pos-%02d", d/2), Time: t0.Add(at),
					Payload: &events.ConnOpened{ConnId: fmt.Sprint(m, d, k), DstHost: dst, DstPort: 443}})
			}
		}
	}
	return evs
}
