package window_test

import (
	"testing"
	"time"

	"github.com/halo-sec/halo/internal/cputime"
	"github.com/halo-sec/halo/pipeline/window"
)

// BenchmarkReleaseCold releases 4 000 windows of 16 rows of one device
// (imported Zeek history's shape), built before the clock and then pushed
// out of the caches, as a replay's windows are by the time the last stage
// releases them: what a window's release costs when its structs' counts
// are cache misses (in CPU time: other processes' time on a shared
// machine does not count).
func BenchmarkReleaseCold(b *testing.B) {
	const windows = 4000
	evs := fleet(1, 16*windows, 62500*time.Microsecond)
	evict := make([]byte, 64<<20)
	b.ReportAllocs()
	var d time.Duration
	for b.Loop() {
		b.StopTimer()
		a, err := window.New(window.Config{Size: time.Second, Lateness: time.Millisecond}, 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		a.AddBatch(evs, nil)
		a.Flush()
		ws := a.Closed()
		for i := range evict {
			evict[i]++
		}
		b.StartTimer()
		cpu := cputime.Process()
		for _, w := range ws {
			w.Release()
		}
		d += cputime.Process() - cpu
		b.StopTimer()
		a.Release()
		b.StartTimer()
	}
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N*windows), "cpu-ns/window")
}
