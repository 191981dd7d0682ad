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
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		t.Setenv("GOMEMLIMIT", v)
	}
	os.Unsetenv("GOMEMLIMIT")
	limit := debug.SetMemoryLimit(-1)
	restore := BatchGC()
	if got := gcPercent(); got != BatchGCPercent {
		t.Fatalf("during a batch command the GC target is %d, want %d", got, BatchGCPercent)
	}
	if ram := totalMemory(); ram > 0 {
		if got := debug.SetMemoryLimit(-1); got != int64(ram/2) {
			t.Fatalf("during a batch command the memory limit is %d, want half of %d", got, ram)
		}
	}
	restore()
	if got := gcPercent(); got != before {
		t.Fatalf("after it the GC target is %d, want the %d from before", got, before)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Fatalf("after it the memory limit is %d, want the %d from before", got, limit)
	}

	// A GOGC the user set wins.
	t.Setenv("GOGC", "50")
	restore = BatchGC()
	if got := gcPercent(); got != before {
		t.Fatalf("with GOGC set the GC target became %d, want it left at %d", got, before)
	}
	restore()
}
