package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

// Beaconing's gc finds the expired flows from the records of the windows
// that added to them: it must forget exactly the flows a scan of every
// flow at each gc forgets (the scan it falls back to when windows are not
// in order), and so find the same.
func TestBeaconingForgetsFlowsExactly(t *testing.T) {
	newB := func() *Beaconing {
		return newDetector[*Beaconing](t, "beaconing", map[string]string{"horizon": "1h30s", "min_count": "4"})
	}
	fast, scan := newB(), newB()
	scan.ordered = false
	asm, err := window.New(window.Config{Size: time.Minute, Lateness: time.Second}, 1, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer asm.Release()
	ctx := &Context{Cohort: func(tenant, device string) string { return tenant + "/" }}
	r := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var evs []events.Event
	for m := range 6 * 60 {
		if (m/50)%4 == 3 {
			continue // quiet spells longer than the horizon, some
		}
		for d := range 12 {
			// Destinations come and go; some beacon every minute. The
			// horizon is not a whole number of windows: a gc's cut falls
			// within a window.
			dst := fmt.Sprintf("h%d.example", r.IntN(40)+(m/90)*7)
			at := t0.Add(time.Duration(m)*time.Minute + time.Duration(d*1000+r.IntN(50000))*time.Millisecond)
			switch {
			case d < 3:
				dst = fmt.Sprintf("c2-%d.example", (m/100+d)%4)
				at = t0.Add(time.Duration(m)*time.Minute + time.Duration(d)*time.Second)
			case r.IntN(3) == 0:
				continue
			}
			evs = append(evs, events.Event{ID: events.DerivedID("f", fmt.Sprint(m, d)), Tenant: "acme", Device: fmt.Sprintf("pos-%02d", d), Time: at,
				Payload: &events.ConnOpened{ConnId: fmt.Sprint(m, d), DstHost: dst, DstPort: 443}})
		}
	}
	events.SortByTime(evs)
	windows, found, forgot := 0, 0, 0
	check := func(w *window.Window) {
		windows++
		before := len(fast.flowKeys())
		ff, fs := fast.Window(w, ctx), scan.Window(w, ctx)
		if !reflect.DeepEqual(ff, fs) {
			t.Fatalf("window ending %s: found %v, the scanning gc %v", w.End, ff, fs)
		}
		found += len(ff)
		kept := fast.flowKeys()
		if len(kept) < before {
			forgot++
		}
		if want := scan.flowKeys(); len(kept) != len(want) {
			t.Fatalf("window ending %s: %d flows kept, the scanning gc keeps %d", w.End, len(kept), len(want))
		}
		for k := range scan.flowKeys() {
			if !kept[k] {
				t.Fatalf("window ending %s: flow %v forgotten, the scanning gc keeps it", w.End, k)
			}
		}
	}
	eachWindow(asm, evs, check)
	t.Logf("%d windows, %d findings, %d forgetting gcs, %d records", windows, found, forgot, fast.flowRecs.len())
	if !fast.ordered {
		t.Fatal("windows in order turned the records off")
	}
	if found == 0 || forgot < 3 {
		t.Fatalf("%d windows: %d findings, flows forgotten at %d gcs: the test checks little", windows, found, forgot)
	}
	if n := fast.flowRecs.len(); n > 3*(len(evs)/6) {
		t.Errorf("%d flow records kept", n)
	}
}

// sinceNs is time.Time.Sub over unix nanos, saturating alike.
func TestSinceNsIsSub(t *testing.T) {
	vals := []int64{math.MinInt64, math.MinInt64 + 1, -6 * 3600e9, -1, 0, 1, 3600e9, 1764201600e9, math.MaxInt64 - 1, math.MaxInt64}
	for _, now := range vals {
		for _, at := range vals {
			if got, want := sinceNs(now, at), time.Unix(0, now).Sub(time.Unix(0, at)); got != want {
				t.Errorf("sinceNs(%d, %d) = %v, Sub %v", now, at, got, want)
			}
		}
	}
}
