package detect

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

// cols.dstIDs names the destination of every connection row, one id per
// distinct destination, and nothing for the other rows; RunWindow's
// scratch memory keeps nothing of a window once done with it.
func TestDstIDs(t *testing.T) {
	asm, err := window.New(window.Config{Size: time.Minute, Lateness: 5 * time.Second}, 1, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer asm.Release()
	ctx := &Context{Cohort: func(tenant, device string) string { return tenant + "//" }}
	rows, others := 0, 0
	eachWindow(asm, goldenEvents(3), func(w *window.Window) {
		c := colsOf(w)
		c.s = &ctx.scratch
		ids, names := c.dstIDs()
		if names[0] != "" {
			t.Fatalf("destination 0 is %q", names[0])
		}
		for i, n := range names {
			if j := slices.Index(names, n); j != i {
				t.Fatalf("destination %q has ids %d and %d", n, j, i)
			}
		}
		for i, typ := range c.typ {
			if typ != window.TypeConnOpened && typ != window.TypeConnClosed {
				others++
				if ids[i] != -1 {
					t.Fatalf("row %d of type %d has destination %d", i, typ, ids[i])
				}
				continue
			}
			rows++
			if got, want := names[ids[i]], c.dst(i); got != want {
				t.Fatalf("row %d: destination %q, want %q", i, got, want)
			}
		}
		for di, d := range w.Devices {
			if got, want := c.cohort(ctx, di), d.Tenant+"//"; got != want && d.Device != "" {
				t.Fatalf("device %v: cohort %q, want %q", d, got, want)
			}
		}
		ctx.scratch.forget()
		if d := ctx.scratch.dsts; d.len() != 0 || d.m != nil || slices.ContainsFunc(d.keys[:cap(d.keys)], func(s string) bool { return s != "" }) {
			t.Fatal("the scratch memory keeps destinations of a window done with")
		}
	})
	if rows == 0 || others == 0 {
		t.Fatalf("%d connection rows, %d others: the test checks little", rows, others)
	}
}

// cols.counts holds, for every device of a window, its rows of each type:
// what flood, scan, auth-failures and blocked-attempts pass devices over
// on.
func TestCounts(t *testing.T) {
	asm, err := window.New(window.Config{Size: time.Minute, Lateness: 5 * time.Second}, 1, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer asm.Release()
	var seen typeCounts
	eachWindow(asm, goldenEvents(3), func(w *window.Window) {
		c := colsOf(w)
		for di, d := range w.Devices {
			var want typeCounts
			for i := d.Rows[0]; i < d.Rows[1]; i++ {
				want[c.typ[i]]++
				seen[c.typ[i]]++
			}
			if got := *c.counts(di); got != want {
				t.Fatalf("device %v: counts %v, want %v", d, got, want)
			}
		}
	})
	for _, typ := range []int8{window.TypeConnOpened, window.TypeConnClosed, window.TypeConnBlocked, window.TypeAuthFailed} {
		if seen[typ] == 0 {
			t.Fatalf("no row of type %d: the test checks little", typ)
		}
	}
}

// Flood passes a device over when its connections and bytes sent in all
// are below its thresholds; bytes whose sum overflows are no such bound
// (each destination's sum, below, is past the threshold).
func TestFloodBytesOverflow(t *testing.T) {
	asm, err := window.New(window.Config{Size: time.Minute, Lateness: 5 * time.Second}, 1, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer asm.Release()
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var evs []events.Event
	for k, host := range []string{"a.example", "b.example"} {
		cid := fmt.Sprint("c", k)
		at := t0.Add(time.Duration(k+1) * time.Second)
		evs = append(evs,
			events.Event{ID: events.DerivedID("flood", cid+"o"), Tenant: "acme", Device: "pos-1", Time: at,
				Payload: &events.ConnOpened{ConnId: cid, DstHost: host, DstPort: 443}},
			events.Event{ID: events.DerivedID("flood", cid+"c"), Tenant: "acme", Device: "pos-1", Time: at.Add(time.Second),
				Payload: &events.ConnClosed{ConnId: cid, BytesUp: 1 << 63}})
	}
	fl := newDetector[*Flood](t, "flood", nil)
	var keys []string
	eachWindow(asm, evs, func(w *window.Window) {
		c := colsOf(w)
		if got := c.bytesSent(w.Devices[0]); got != math.MaxUint64 {
			t.Fatalf("bytes sent %d, want the overflow's %d", got, uint64(math.MaxUint64))
		}
		for _, f := range RunWindow(nil, []WindowDetector{fl}, w, nil) {
			for i := range f {
				keys = append(keys, f[i].Key)
			}
		}
	})
	if want := []string{"flood:a.example", "flood:b.example"}; !slices.Equal(keys, want) {
		t.Fatalf("findings %q, want %q", keys, want)
	}
}
