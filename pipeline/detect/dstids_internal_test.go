package detect

import (
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

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
