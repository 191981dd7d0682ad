package window_test

import (
	"testing"
	"time"

	"github.com/halo-sec/halo/internal/cputime"
	"github.com/halo-sec/halo/pipeline/window"
)

// BenchmarkSmallWindows assembles windows of 16 rows of one device (the
// shape of imported Zeek history: 4 288 windows of about 16 rows) and
// releases them on another goroutine, as the pipeline does: what a
// window's build and release cost, reference counts included, per CPU.
func BenchmarkSmallWindows(b *testing.B) {
	const windows = 4000
	evs := fleet(1, 16*windows, 62500*time.Microsecond)
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for b.Loop() {
		a, err := window.New(window.Config{Size: time.Second, Lateness: time.Millisecond, Recycle: true}, 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		ch := make(chan []*window.Window, 64)
		done := make(chan int)
		go func() {
			n := 0
			for ws := range ch {
				for _, w := range ws {
					n++
					w.Release()
				}
			}
			done <- n
		}()
		for lo := 0; lo < len(evs); lo += 256 {
			a.AddBatch(evs[lo:min(lo+256, len(evs))], nil)
			ch <- a.Closed()
		}
		a.Flush()
		ch <- a.Closed()
		close(ch)
		if n := <-done; n < windows-1 {
			b.Fatalf("%d windows", n)
		}
		a.Release()
	}
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
}
