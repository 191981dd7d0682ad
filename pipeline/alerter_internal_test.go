package pipeline

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/detect"
)

// sweepsOpen checks that the alerts gc sweeps (alerter.all, but for those
// replaced) are those of the open map: gc forgets what a sweep of the map
// would.
func sweepsOpen(a *alerter) error {
	n := 0
	for _, st := range a.all {
		if st.gone {
			continue
		}
		n++
		if a.open[st.key] != st {
			return fmt.Errorf("alert %s of %v swept, not the open one", st.id, st.key)
		}
	}
	if n != len(a.open) {
		return fmt.Errorf("%d alerts swept, %d open", n, len(a.open))
	}
	return nil
}

// The alerter's cache of the last alert looked up and of the last raised,
// and of the last window start formatted, change nothing: on
// random findings — runs about one alert, runs about two interleaved
// (another raised between), alerts quiet for longer than the
// suppression interval, forgotten by gc and raised again, times out of
// order, window starts in other zones — it makes the
// events an alerter that always looks up its map makes, with the ids
// DerivedID gives.
func TestAlerterLastAlertCache(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	cached, plain := newAlerter(10*time.Minute), newAlerter(10*time.Minute)
	at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	hits, raised := 0, 0
	var prev, prev2 alertKey
	var out []events.Event
	for i := range 20000 {
		switch r.IntN(50) {
		case 0:
			at = at.Add(time.Duration(r.IntN(30)) * time.Minute)
		case 1: // findings' times are not in order (a window's end, then an event of it)
			at = at.Add(-time.Duration(r.IntN(15)) * time.Minute)
		default:
			at = at.Add(time.Duration(r.IntN(2000)) * time.Millisecond)
		}
		start := at.Truncate(time.Minute)
		if r.IntN(4) == 0 { // one instant, elsewhere
			start = start.In(time.FixedZone("x", 3600*(r.IntN(5)-2)))
		}
		f := detect.Finding{
			Detector: []string{"inbound", "beaconing", "new-destination"}[r.IntN(3)],
			Tenant:   fmt.Sprint("t", r.IntN(2)), Device: fmt.Sprint("pos-", r.IntN(4)), Key: fmt.Sprint("k", r.IntN(3)),
			Score: r.Float64(), Time: at, WindowStart: start, WindowEnd: at.Truncate(time.Minute).Add(time.Minute),
			Evidence: []events.ID{events.DerivedID("e", fmt.Sprint(i))},
		}
		switch k := r.IntN(6); {
		case i == 0:
		case k < 3: // runs of findings about one alert
			f.Tenant, f.Device, f.Detector, f.Key = prev.tenant, prev.device, prev.detector, prev.key
		case k == 3: // about the alert before, between others
			f.Tenant, f.Device, f.Detector, f.Key = prev2.tenant, prev2.device, prev2.detector, prev2.key
		}
		if k := (alertKey{f.Tenant, f.Device, f.Detector, f.Key}); k != prev {
			prev, prev2 = k, prev
		}
		if (cached.last != nil && cached.last.key == prev) || (cached.newest != nil && cached.newest.key == prev) {
			hits++
		}
		plain.last, plain.newest = nil, nil // always the map
		g := f
		// The cached alerter appends in place (appendFinding), over an
		// event left in the slice's memory: every field is written.
		out = append(out[:0], events.Event{Schema: 9, Tenant: "x", Seq: 3, Recorded: at, Payload: &events.ClockTick{}})[:0]
		var (
			id1  string
			new1 bool
		)
		out, id1, new1 = cached.appendFinding(out, &f)
		ev1 := out[0]
		ev2, id2, new2 := plain.finding(&g)
		if id1 != id2 || new1 != new2 || ev1.ID != ev2.ID || !ev1.Time.Equal(ev2.Time) || !proto.Equal(ev1.Payload, ev2.Payload) ||
			ev1.Schema != ev2.Schema || ev1.Tenant != ev2.Tenant || ev1.Device != ev2.Device || ev1.Seq != 0 || !ev1.Recorded.IsZero() {
			t.Fatalf("finding %d: cached alerter made %v %s %v (%v), the plain one %v %s %v (%v)", i, ev1.ID, id1, new1, ev1.Payload, ev2.ID, id2, new2, ev2.Payload)
		}
		if err := sweepsOpen(cached); err != nil {
			t.Fatalf("finding %d: %v", i, err)
		}
		if new1 {
			raised++
			if want := AlertID(&f); id1 != want {
				t.Fatalf("finding %d: alert id %s, AlertID %s", i, id1, want)
			}
			if want := events.DerivedID("alert.raised", id1); ev1.ID != want {
				t.Fatalf("finding %d: alert.raised id %s, DerivedID %s", i, ev1.ID, want)
			}
		} else { // the update's id from the alert's IDHasher
			count := ev1.Payload.(*events.AlertUpdated).Count
			if want := events.DerivedID("alert.updated", id1, fmt.Sprint(count)); ev1.ID != want {
				t.Fatalf("finding %d: alert.updated id %s (count %d), DerivedID %s", i, ev1.ID, count, want)
			}
		}
	}
	if hits < 5000 || raised < 500 || cached.lastGC.IsZero() {
		t.Fatalf("%d cache hits, %d alerts raised: the test checks little", hits, raised)
	}
}
