package detect

import (
	"testing"

	"github.com/halo-sec/halo/pipeline/window"
)

// plainWindow is a window detector of another package's kind: it reads
// the window itself (not a colsDetector).
type plainWindow struct{}

func (plainWindow) Name() string                              { return "plain" }
func (plainWindow) Window(*window.Window, *Context) []Finding { return nil }

// TestAsColsFollowsTheDetectors checks Context.asCols, which keeps each
// detector's assertion to colsDetector: it matches a fresh assertion for
// every registered window detector, and follows a list whose detectors
// change (another order, another length, one replaced in place).
func TestAsColsFollowsTheDetectors(t *testing.T) {
	ds, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wds []WindowDetector
	n := 0
	for _, d := range ds {
		if wd, ok := d.(WindowDetector); ok {
			wds = append(wds, wd)
			if _, ok := wd.(colsDetector); ok {
				n++
			}
		}
	}
	if n < 6 {
		t.Fatalf("%d window detectors, %d of them colsDetectors: want at least 6", len(wds), n)
	}
	wds = append([]WindowDetector{plainWindow{}}, wds...)
	check := func(ctx *Context, dets []WindowDetector) {
		t.Helper()
		for round := 0; round < 2; round++ { // asserted, then kept
			for i, d := range dets {
				want, _ := d.(colsDetector)
				if got := ctx.asCols(dets, i); got != want {
					t.Fatalf("round %d, detector %d (%T): asCols gave %v, want %v", round, i, d, got, want)
				}
			}
		}
	}
	ctx := &Context{}
	check(ctx, wds)
	rev := make([]WindowDetector, len(wds))
	for i, d := range wds {
		rev[len(wds)-1-i] = d
	}
	check(ctx, rev)
	check(ctx, wds[:3])
	same := wds[:3]
	same[0], same[1] = same[1], same[0] // in place
	check(ctx, same)
}
