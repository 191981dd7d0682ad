package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

// Beaconing forgets a device's destination (and a cohort's device) exactly
// when it was last seen more than the horizon before a gc, and keeps
// everything else: what a full scan of the maps at each gc would keep.
func TestBeaconingForgetsExactly(t *testing.T) {
	ds, err := New([]string{"beaconing"}, map[string]map[string]string{"beaconing": {"horizon": "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	b := ds[0].(*Beaconing)
	asm, err := window.New(window.Config{Size: time.Minute, Lateness: time.Second}, 1, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer asm.Release()
	ctx := &Context{Cohort: func(tenant, device string) string { return tenant + "/" + device[len(device)-1:] }}
	type prevKey struct{ cohort, dst, device string }
	type devKey struct{ cohort, device string }
	lastPrev := map[prevKey]time.Time{}
	lastDev := map[devKey]time.Time{}
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var evs []events.Event
	for m := range 5 * 60 {
		for d := range 24 {
			// Devices go quiet for hours at a time; a few destinations
			// are shared, most are rare.
			if (m/(40+7*d))%3 == 2 {
				continue
			}
			for k := range 1 + r.IntN(3) {
				dst := fmt.Sprintf("h%d.example", r.IntN(60))
				at := t0.Add(time.Duration(m)*time.Minute + time.Duration(d*1000+k*7000)*time.Millisecond)
				evs = append(evs, events.Event{ID: events.DerivedID("b", fmt.Sprint(m, d, k)), Tenant: "acme", Device: fmt.Sprintf("pos-%02d", d), Time: at,
					Payload: &events.ConnOpened{ConnId: fmt.Sprint(m, d, k), DstHost: dst, DstPort: 443}})
			}
		}
	}
	events.SortByTime(evs)
	gcs := 0
	check := func(w *window.Window) {
		c := colsOf(w)
		for _, d := range w.Devices {
			cohort := ctx.Cohort(d.Tenant, d.Device)
			lastDev[devKey{cohort, d.Device}] = w.End
			for i := d.Rows[0]; i < d.Rows[1]; i++ {
				if c.typ[i] == window.TypeConnOpened {
					lastPrev[prevKey{cohort, c.dst(i), d.Device}] = w.End
				}
			}
		}
		b.Window(w, ctx)
		if b.lastGC.Equal(w.End) {
			gcs++
		}
		kept := func(at time.Time) bool { return b.lastGC.Sub(at) <= b.horizon }
		n := 0
		prevalence := prevalenceOf(t, b)
		for k, at := range lastPrev {
			got, ok := prevalence[cohortDst{k.cohort, k.dst}].get(k.device)
			if ok != kept(at) || ok && got != at.UnixNano() {
				t.Fatalf("window ending %s (last gc %s): %v last seen %s: kept %v (%s)", w.End, b.lastGC, k, at, ok, time.Unix(0, got).UTC())
			}
			if ok {
				n++
			}
		}
		total := 0
		for ck, e := range prevalence {
			held := len(e.more)
			for _, d := range e.one {
				if d.device != "" {
					held++
				}
			}
			if e.n <= 0 || int(e.n) != held || e.gone {
				t.Fatalf("window ending %s: destination %v is kept with %d devices counted, %d held (gone %v)", w.End, ck, e.n, held, e.gone)
			}
			total += int(e.n)
		}
		if total != n {
			t.Fatalf("window ending %s: %d destinations kept, want %d", w.End, total, n)
		}
		n, total = 0, 0
		for k, at := range lastDev {
			var ok bool
			if co := b.cohorts[k.cohort]; co != nil {
				ok = co.devs[k.device] != nil
			}
			if ok != kept(at) {
				t.Fatalf("window ending %s: device %v last seen %s: kept %v", w.End, k, at, ok)
			}
			if ok {
				n++
			}
		}
		for _, co := range b.cohorts {
			total += len(co.devs)
		}
		if total != n {
			t.Fatalf("window ending %s: %d devices kept, want %d", w.End, total, n)
		}
	}
	eachWindow(asm, evs, check)
	if gcs < 10 {
		t.Fatalf("%d gcs over 5 hours", gcs)
	}
	if b.seen.len() > 3*len(lastPrev)+len(lastDev) {
		t.Errorf("%d records kept for %d entries", b.seen.len(), len(lastPrev)+len(lastDev))
	}
}

// get returns the device's time in e (nil: none).
// cohortDst is a destination of a cohort.
type cohortDst struct{ cohort, dst string }

// prevalenceOf returns b's prevalence entries by cohort and destination,
// failing when a cohort or an entry is kept under a key other than its
// own or is not found by it.
func prevalenceOf(t *testing.T, b *Beaconing) map[cohortDst]*dstDevs {
	t.Helper()
	m := map[cohortDst]*dstDevs{}
	for name, co := range b.cohorts {
		if co.name != name {
			t.Fatalf("cohort %q kept under %q", co.name, name)
		}
		n := 0
		for dst, e := range co.dsts.all() {
			if e.co != co || e.dst != dst {
				t.Fatalf("entry of %q in cohort %q kept under %q in cohort %q", e.dst, e.co.name, dst, name)
			}
			if got := co.dsts.get(dstHash(b.seed, dst), dst); got != e {
				t.Fatalf("entry of %q in cohort %q not found by its destination", dst, name)
			}
			n++
			m[cohortDst{name, dst}] = e
		}
		if n != co.dsts.Len() {
			t.Fatalf("cohort %q holds %d entries, counts %d", name, n, co.dsts.Len())
		}
	}
	return m
}

func (e *dstDevs) get(device string) (int64, bool) {
	if e == nil {
		return 0, false
	}
	if i := e.inOne(device); i >= 0 {
		return e.one[i].at, true
	}
	at, ok := e.more[device]
	return at, ok
}

// smallSet counts distinct values, up to 8.
func TestSmallSet(t *testing.T) {
	var s smallSet[uint32]
	for _, x := range []uint32{443, 443, 80, 443, 80} {
		s.add(x)
	}
	if s.n != 2 {
		t.Fatalf("2 distinct ports counted as %d", s.n)
	}
	for x := range uint32(20) {
		s.add(x)
	}
	if s.n != 8 {
		t.Fatalf("22 distinct ports counted as %d, want the cap of 8", s.n)
	}
}

// portSet counts distinct ports, up to 3, as a smallSet does up to 3.
func TestPortSet(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		var p portSet
		var s smallSet[uint32]
		for range r.IntN(12) {
			x := uint32(r.IntN(6))
			p.add(x)
			s.add(x)
			if want := min(s.n, 3); p.n != want || (p.n > 2) != (s.n > 2) {
				t.Fatalf("%d distinct ports of the first 8 counted as %d, want %d", s.n, p.n, want)
			}
		}
	}
}

// TestBeaconStateSize: a flow's state stays within its size class of 208
// bytes (its small fields together, ports up to 3).
func TestBeaconStateSize(t *testing.T) {
	if n := unsafe.Sizeof(beaconState{}); n > 208 {
		t.Fatalf("beaconState takes %d bytes, want at most 208", n)
	}
	if o := unsafe.Offsetof(beaconState{}.lastAt); o >= 16 {
		t.Fatalf("beaconState's lastAt at offset %d, want it with gone in the first 16 bytes", o)
	}
}

// intervalStats gives what sorting a copy, then summing the intervals in a
// pass of their own gave, bit for bit, on sorted, nearly sorted and
// shuffled times (with repeats).
func TestIntervalStatsIsPlain(t *testing.T) {
	plain := func(ts []int64) (float64, float64) {
		s := slices.Clone(ts)
		slices.Sort(s)
		n := len(s) - 1
		if n < 1 {
			return 0, math.Inf(1)
		}
		var sum float64
		for i := 1; i < len(s); i++ {
			sum += float64(s[i] - s[i-1])
		}
		mean := sum / float64(n)
		if mean == 0 {
			return 0, math.Inf(1)
		}
		var v float64
		for i := 1; i < len(s); i++ {
			d := float64(s[i]-s[i-1]) - mean
			v += d * d
		}
		return mean, math.Sqrt(v/float64(n)) / mean
	}
	r := rand.New(rand.NewPCG(7, 8))
	var scratch []int64
	unsorted := 0
	for range 20000 {
		ts := make([]int64, r.IntN(66))
		at := r.Int64N(1 << 62)
		for i := range ts {
			at += r.Int64N(int64(1) << r.IntN(40)) // some intervals 0
			ts[i] = at
		}
		switch r.IntN(4) {
		case 0:
			r.Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
		case 1:
			if len(ts) > 1 {
				i := r.IntN(len(ts) - 1)
				ts[i], ts[i+1] = ts[i+1], ts[i]
			}
		}
		if !slices.IsSorted(ts) {
			unsorted++
		}
		in := slices.Clone(ts)
		gm, gc := intervalStats(ts, &scratch)
		wm, wc := plain(ts)
		if math.Float64bits(gm) != math.Float64bits(wm) || math.Float64bits(gc) != math.Float64bits(wc) && !(math.IsNaN(gc) && math.IsNaN(wc)) {
			t.Fatalf("%v: mean %v, cv %v; want %v, %v", ts, gm, gc, wm, wc)
		}
		if !slices.Equal(ts, in) {
			t.Fatalf("intervalStats changed its input %v to %v", in, ts)
		}
	}
	if unsorted < 5000 {
		t.Fatalf("%d unsorted inputs: the test checks little", unsorted)
	}
}
