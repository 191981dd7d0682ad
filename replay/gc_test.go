package replay

import (
	"os"
	"runtime/debug"
	"testing"
)

// gcPercent reads the collector's current target.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestBatchGC(t *testing.T) {
	before := gcPercent()
	if v, ok := os.LookupEnv("GOGC"); ok {
		t.Setenv("GOGC", v) // restored after the test
	}
	os.Unsetenv("GOGC")
	restore := BatchGC()
	if got := gcPercent(); got != BatchGCPercent {
		t.Fatalf("during a batch command the GC target is %d, want %d", got, BatchGCPercent)
	}
	restore()
	if got := gcPercent(); got != before {
		t.Fatalf("after it the GC target is %d, want the %d from before", got, before)
	}

	// A GOGC the user set wins.
	t.Setenv("GOGC", "50")
	restore = BatchGC()
	if got := gcPercent(); got != before {
		t.Fatalf("with GOGC set the GC target became %d, want it left at %d", got, before)
	}
	restore()
}
