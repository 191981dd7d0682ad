//go:build unix

package cputime

import (
	"testing"
	"time"
)

// TestProcessCountsWork: spinning for a while shows up as CPU time, and
// the count never goes back.
func TestProcessCountsWork(t *testing.T) {
	before := Process()
	x := uint64(1)
	for d := time.Now().Add(50 * time.Millisecond); time.Now().Before(d); {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	after := Process()
	if x == 0 {
		t.Log(x) // keep the loop
	}
	if after <= before {
		t.Fatalf("CPU time went from %v to %v over 50 ms of work", before, after)
	}
	if got := after - before; got < 10*time.Millisecond {
		t.Fatalf("50 ms of work counted as %v of CPU", got)
	}
}
