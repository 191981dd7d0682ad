package replay

import (
	"math"
	"os"
	"runtime/debug"
)

// BatchGCPercent is the garbage collector's target that the batch commands
// replay, import and incident run with: a replay allocates a little per
// event and per window and keeps little of it, so at Go's default of 100
// the collector runs often and takes a good part of the CPU. At 200, on
// the labeled Zeek logs (68.6k events), halo replay took 0.61 → 0.45 s
// of user CPU for 165 → 203 MB peak RSS; on 45 tenants' copies of them
// (3.1M events, 294k alerts held for alerts.jsonl) 35.0 → 26.9 s for
// 2.1 → 3.6 GB. Not halo export: it holds more (open Parquet files),
// and at 200 it took no less CPU for a third more memory.
const BatchGCPercent = 200

// BatchGC sets the collector's target to BatchGCPercent for a batch
// command, unless the GOGC environment variable chose one, with a soft
// memory limit of half the machine's memory (unless GOMEMLIMIT chose one):
// past it the collector works harder instead of letting the larger target
// take the machine. It returns the function that restores both.
func BatchGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	prev := debug.SetGCPercent(BatchGCPercent)
	prevLimit := int64(-1)
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		if ram := totalMemory(); ram > 0 {
			prevLimit = debug.SetMemoryLimit(int64(min(ram/2, math.MaxInt64)))
		}
	}
	return func() {
		debug.SetGCPercent(prev)
		if prevLimit >= 0 {
			debug.SetMemoryLimit(prevLimit)
		}
	}
}
