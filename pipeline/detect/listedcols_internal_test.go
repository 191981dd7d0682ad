package detect

import "testing"

// TestListedCols checks that listedCols names every registered detector
// that reads a window through cols: one it missed would still run, but
// through the runtime's slower interface assertion.
func TestListedCols(t *testing.T) {
	ds, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, d := range ds {
		wd, ok := d.(WindowDetector)
		if !ok {
			continue
		}
		_, isCols := wd.(colsDetector)
		if got := listedCols(wd) != nil; got != isCols {
			t.Errorf("%s (%T): listed %v, a colsDetector %v", Names()[i], d, got, isCols)
		}
		if isCols {
			n++
		}
	}
	if n < 6 {
		t.Errorf("%d colsDetectors registered, want at least 6", n)
	}
}
