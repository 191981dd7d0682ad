package window_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/halo-sec/halo/pipeline/window"
	"github.com/halo-sec/halo/pipeline/window/windowtest"
)

// BenchmarkAssemble adds 1M synthetic traffic events of 5000 devices over 5
// minutes (16 partitions) and closes every window.
func BenchmarkAssemble(b *testing.B) {
	evs := windowtest.Synthetic(1_000_000, 5000, 5*time.Minute, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		a, err := window.New(window.Config{}, 16, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := range evs {
			a.Add(&evs[i])
		}
		a.Flush()
		for _, w := range a.Closed() {
			w.Release()
		}
		a.Release()
	}
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkBaselineBuilders appends the same values to one set of Arrow
// builders of Schema, with no windows, join or sort, building a record batch
// every 100k rows.
func BenchmarkBaselineBuilders(b *testing.B) {
	evs := windowtest.Synthetic(1_000_000, 5000, 5*time.Minute, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		windowtest.BuildPlain(evs, 100_000)
	}
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkBaselineMapGroupBy counts events and sums bytes up per device
// with a Go map.
func BenchmarkBaselineMapGroupBy(b *testing.B) {
	evs := windowtest.Synthetic(1_000_000, 5000, 5*time.Minute, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		windowtest.MapGroupBy(evs)
	}
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkAssemblePartitions(b *testing.B) {
	evs := windowtest.Synthetic(1_000_000, 5000, 5*time.Minute, 1)
	for _, parts := range []int{1, 4, 16} {
		b.Run(fmt.Sprint(parts), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a, _ := window.New(window.Config{}, parts, nil)
				for i := range evs {
					a.Add(&evs[i])
				}
				a.Flush()
				for _, w := range a.Closed() {
					w.Release()
				}
				a.Release()
			}
			b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
