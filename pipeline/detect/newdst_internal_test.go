package detect

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

// new-destination's gc only bounds its memory: whether a destination is
// known depends on when it was last seen, so a detector that sweeps after
// every window finds exactly what one sweeping every eighth of the horizon
// (at most hourly) finds, and the latter keeps no destination longer than
// the horizon and that interval.
func TestNewDestinationForgetsOnlyMemory(t *testing.T) {
	newND := func() *NewDestination {
		return newDetector[*NewDestination](t, "new-destination", map[string]string{"horizon": "40m", "learning": "5m"})
	}
	lazy, eager := newND(), newND()
	asm, err := window.New(window.Config{Size: time.Minute, Lateness: time.Second}, 1, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer asm.Release()
	ctx := &Context{Cohort: func(tenant, device string) string { return tenant + "/" + device[len(device)-1:] }}
	r := rand.New(rand.NewPCG(5, 6))
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var evs []events.Event
	for m := range 5 * 60 {
		for d := range 10 {
			if r.IntN(4) == 0 {
				continue
			}
			// A few destinations every device uses, and rare ones that
			// come back after more or less than the horizon.
			dst := fmt.Sprintf("common-%d.example", r.IntN(3))
			if r.IntN(3) == 0 {
				dst = fmt.Sprintf("rare-%d.example", r.IntN(200))
			}
			at := t0.Add(time.Duration(m)*time.Minute + time.Duration(d*1000+r.IntN(40000))*time.Millisecond)
			evs = append(evs, events.Event{ID: events.DerivedID("n", fmt.Sprint(m, d)), Tenant: "acme", Device: fmt.Sprintf("pos-%d", d), Time: at,
				Payload: &events.ConnOpened{ConnId: fmt.Sprint(m, d), DstHost: dst, DstPort: 443}})
		}
	}
	events.SortByTime(evs)
	found, kept := 0, 0
	check := func(w *window.Window) {
		fl := lazy.Window(w, ctx)
		eager.lastGC = time.Time{} // sweeps every window
		fe := eager.Window(w, ctx)
		if !reflect.DeepEqual(fl, fe) {
			t.Fatalf("window ending %s: found %v, sweeping every window %v", w.End, fl, fe)
		}
		found += len(fl)
		n := 0
		for cohort, m := range lazy.seen {
			for dst, s := range m {
				n++
				if k := lazy.slots[s]; k.dst != dst || k.m == nil || k.m[k.dst] != s {
					t.Fatalf("window ending %s: %s of %s in slot %d, which names %q", w.End, dst, cohort, s, k.dst)
				}
				if age := sinceNs(w.End.UnixNano(), lazy.at[s]); age > lazy.horizon+max(time.Hour, lazy.horizon/8) {
					t.Fatalf("window ending %s: %s of %s kept %v after it was last seen", w.End, dst, cohort, age)
				}
			}
		}
		kept = max(kept, n)
		if len(lazy.at)-len(lazy.free) != n {
			t.Fatalf("window ending %s: %d slots in use for %d destinations", w.End, len(lazy.at)-len(lazy.free), n)
		}
	}
	eachWindow(asm, evs, check)
	if found < 20 || kept == 0 {
		t.Fatalf("%d findings, at most %d destinations kept: the test checks little", found, kept)
	}
	t.Logf("%d findings, at most %d destinations kept", found, kept)
}

// TestCompareJoined: new-destination sorts its hits by cohort+"|"+dst
// without joining them; compareJoined agrees with strings.Compare of the
// joined strings on every pair of short strings over an alphabet with
// the separator, the bytes around it and the extremes (cohorts that are
// prefixes of each other, that hold "|", empty ones), and on random ones.
func TestCompareJoined(t *testing.T) {
	alphabet := []byte{0, 'a', '{', '|', '}', 0xff}
	var short []string
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		short = append(short, prefix)
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(prefix+string(c), n-1)
		}
	}
	gen("", 2)
	check := func(a1, a2, b1, b2 string) {
		if got, want := compareJoined(a1, a2, b1, b2), strings.Compare(a1+"|"+a2, b1+"|"+b2); got != want {
			t.Fatalf("compareJoined(%q, %q, %q, %q) = %d, want %d", a1, a2, b1, b2, got, want)
		}
	}
	for _, a1 := range short {
		for _, b1 := range short {
			for _, a2 := range short[:8] {
				for _, b2 := range short[:8] {
					check(a1, a2, b1, b2)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	rnd := func() string {
		b := make([]byte, r.IntN(6))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 200000 {
		check(rnd(), rnd(), rnd(), rnd())
	}
}
