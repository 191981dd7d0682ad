package features_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/cputime"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/pipeline/window"
	"github.com/halo-sec/halo/pipeline/window/windowtest"
	"github.com/halo-sec/halo/replay/zeek/zeektest"
)

// The benchmarks share one synthetic log: 1M traffic events of 5000 devices
// over 5 minutes (five 60 s windows), 16 partitions. Compare them in one run:
//
//	go test ./pipeline/features -run '^$' -bench . -cpu 1 -benchtime 5x
const (
	benchEvents  = 1_000_000
	benchDevices = 5000
	benchParts   = 16
)

// benchLog is in log order: the store writes each append's events of one
// (tenant, partition) lane as one message, so a reader sees runs of one
// partition (appends of 1024 events here: runs of about 64).
var benchLog = sync.OnceValue(func() []events.Event {
	return windowtest.LogOrder(windowtest.Synthetic(benchEvents, benchDevices, 5*time.Minute, 1), benchParts, 1024)
})

// benchSparse is a sparse log, as imported history often is: 100k events
// of 500 devices over 2 hours, about 50 events per (partition, window),
// where the cost of each window counts more than the cost of each event.
var benchSparse = sync.OnceValue(func() []events.Event {
	return windowtest.LogOrder(windowtest.Synthetic(100_000, 500, 2*time.Hour, 1), benchParts, 1024)
})

// benchZeek is every labeled Zeek log of ../shared/data/zeek imported
// and sorted by time, as a replay gives them to the pipeline: 68.6 k
// events in 4 288 windows of about 16 rows, where the cost of a window is
// most of the cost.
var benchZeek = sync.OnceValues(func() ([]events.Event, error) {
	all, err := zeektest.Import("lab", zeektest.Labeled...)
	if err != nil {
		return nil, err
	}
	events.SortByTime(all)
	return all, nil
})

// benchInterleaved has the same events one partition after another at
// random, the worst case for the assembler's memory locality.
var benchInterleaved = sync.OnceValue(func() []events.Event {
	return windowtest.Synthetic(benchEvents, benchDevices, 5*time.Minute, 1)
})

// perSecond reports events per second of wall time and per second of CPU
// time of the process (user + system, all threads: the GC too). On a
// shared machine the second is the steadier figure: other processes take
// wall time, not CPU time.
func perSecond(b *testing.B, n int, cpu0 time.Duration) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(n)*float64(b.N)/(cputime.Process()-cpu0).Seconds(), "events/cpu-s")
}

func assemble(b *testing.B, evs []events.Event, batch bool) []*window.Window {
	a, err := window.New(window.Config{}, benchParts, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Release()
	if batch {
		a.AddBatch(evs, nil)
	} else {
		for i := range evs {
			a.Add(&evs[i])
		}
	}
	a.Flush()
	return a.Closed()
}

// BenchmarkAssemble: Add every event and close every window; the -batch
// runs give the events to AddBatch instead. zeek-batch gives the Zeek
// logs to AddBatch 256 at a time and releases the windows closed after
// each call, as the processor does (zeek-batch-recycled: the same with
// window.Config.Recycle).
func BenchmarkAssemble(b *testing.B) {
	b.Run("zeek-batch", func(b *testing.B) { assembleZeek(b, window.Config{}) })
	b.Run("zeek-batch-recycled", func(b *testing.B) { assembleZeek(b, window.Config{Recycle: true}) })
	for _, c := range []struct {
		name  string
		evs   func() []events.Event
		batch bool
	}{
		{"log-order", benchLog, false}, {"log-order-batch", benchLog, true},
		{"interleaved", benchInterleaved, false},
		{"sparse", benchSparse, false}, {"sparse-batch", benchSparse, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			evs := c.evs()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Process()
			for b.Loop() {
				for _, w := range assemble(b, evs, c.batch) {
					w.Release()
				}
			}
			perSecond(b, len(evs), cpu0)
		})
	}
}

// assembleZeek: the Zeek logs through AddBatch, 256 events at a time, the
// windows closed after each call released.
func assembleZeek(b *testing.B, cfg window.Config) {
	evs, err := benchZeek()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	windows := 0
	for b.Loop() {
		a, err := window.New(cfg, benchParts, nil)
		if err != nil {
			b.Fatal(err)
		}
		windows = 0
		release := func() {
			for _, w := range a.Closed() {
				w.Release()
				windows++
			}
		}
		for lo := 0; lo < len(evs); lo += 256 {
			a.AddBatch(evs[lo:min(lo+256, len(evs))], nil)
			release()
		}
		a.Flush()
		release()
		a.Release()
	}
	perSecond(b, len(evs), cpu0)
	b.ReportMetric(float64(windows), "windows")
	b.ReportMetric((cputime.Process()-cpu0).Seconds()*1e9/float64(windows*b.N), "cpu-ns/window")
}

// BenchmarkCompute: features of the closed windows (assembled once), with a
// fresh State per run.
func BenchmarkCompute(b *testing.B) {
	evs := benchLog()
	ws := assemble(b, evs, false)
	defer func() {
		for _, w := range ws {
			w.Release()
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	vectors := 0
	for b.Loop() {
		st, _ := features.NewState(features.StateConfig{})
		vectors = 0
		for _, w := range ws {
			vectors += len(features.Compute(w, nil, st))
		}
	}
	perSecond(b, len(evs), cpu0)
	b.ReportMetric(float64(vectors), "vectors")
}

// BenchmarkComputeZeek: features of the Zeek logs' 4 288 windows of about
// 16 rows (assembled once, 256 events at a time as the processor does),
// with a fresh State per run: the per-window cost of Compute, as a replay
// of imported history pays it.
func BenchmarkComputeZeek(b *testing.B) {
	evs, err := benchZeek()
	if err != nil {
		b.Fatal(err)
	}
	a, err := window.New(window.Config{}, benchParts, nil)
	if err != nil {
		b.Fatal(err)
	}
	var ws []*window.Window
	for lo := 0; lo < len(evs); lo += 256 {
		a.AddBatch(evs[lo:min(lo+256, len(evs))], nil)
		ws = append(ws, a.Closed()...)
	}
	a.Flush()
	ws = append(ws, a.Closed()...)
	defer func() {
		for _, w := range ws {
			w.Release()
		}
		a.Release()
	}()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		st, _ := features.NewState(features.StateConfig{})
		for _, w := range ws {
			features.Compute(w, nil, st)
		}
	}
	b.ReportMetric((cputime.Process()-cpu0).Seconds()*1e9/float64(len(ws)*b.N), "cpu-ns/window")
}

// BenchmarkWindowAndFeatures: both (Add, the closed windows' features
// every 4096 events), and the same with the events given to AddBatch 4096
// at a time.
func BenchmarkWindowAndFeatures(b *testing.B) {
	b.Run("add", func(b *testing.B) { windowAndFeatures(b, window.Config{}, false) })
	b.Run("batch", func(b *testing.B) { windowAndFeatures(b, window.Config{}, true) })
}

// BenchmarkWindowAndFeaturesRecycled: the same with window.Config.Recycle;
// "batch" is the pipeline's path (the processor recycles and hands the
// assembler runs of events).
func BenchmarkWindowAndFeaturesRecycled(b *testing.B) {
	b.Run("add", func(b *testing.B) { windowAndFeatures(b, window.Config{Recycle: true}, false) })
	b.Run("batch", func(b *testing.B) { windowAndFeatures(b, window.Config{Recycle: true}, true) })
}

func windowAndFeatures(b *testing.B, cfg window.Config, batch bool) {
	evs := benchLog()
	// The log's making leaves garbage, and the log itself (~450 MB) is
	// live: a collection that the first iteration's allocations started
	// marked them on the timed clock (~136 ms of CPU against ~263 for an
	// iteration), which made a binary's first run read 0.8x its second.
	// Collected here, before the clock, as the setup's.
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		a, err := window.New(cfg, benchParts, nil)
		if err != nil {
			b.Fatal(err)
		}
		st, _ := features.NewState(features.StateConfig{})
		compute := func() {
			for _, w := range a.Closed() {
				features.Compute(w, nil, st)
				w.Release()
			}
		}
		if batch {
			for lo := 0; lo < len(evs); lo += 4096 {
				a.AddBatch(evs[lo:min(lo+4096, len(evs))], nil)
				compute()
			}
		} else {
			for i := range evs {
				a.Add(&evs[i])
				if i%4096 == 0 {
					compute()
				}
			}
		}
		a.Flush()
		compute()
		a.Release()
	}
	perSecond(b, len(evs), cpu0)
}

// BenchmarkBaselineBuilders: the same values appended to one set of Arrow
// builders with plain Append calls (no windows, join or sort), a record
// batch every 100k rows.
func BenchmarkBaselineBuilders(b *testing.B) {
	evs := benchLog()
	runtime.GC() // as windowAndFeatures: the setup's collection off the clock
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		windowtest.BuildPlain(evs, 100_000)
	}
	perSecond(b, len(evs), cpu0)
}

// BenchmarkBaselineMapGroupBy: count and sum bytes per device with a Go map.
func BenchmarkBaselineMapGroupBy(b *testing.B) {
	evs := benchLog()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		windowtest.MapGroupBy(evs)
	}
	perSecond(b, len(evs), cpu0)
}

// benchBatches is benchLog encoded as the log stores it: batch messages of
// 1024 events.
var benchBatches = sync.OnceValue(func() [][]byte {
	evs := benchLog()
	var out [][]byte
	for lo := 0; lo < len(evs); lo += 1024 {
		var b []byte
		for i := lo; i < min(lo+1024, len(evs)); i++ {
			var err error
			if b, err = events.AppendBatch(b, &evs[i]); err != nil {
				panic(err)
			}
		}
		out = append(out, b)
	}
	return out
})

// BenchmarkDecodeAndAssemble: the pipeline's path from the log: decode
// each batch message of 1024 events (fresh payloads, in cache) and add its
// events to the windows, one by one (add) or with AddBatch (batch);
// decode alone is the baseline. Where the events come from matters for
// AddBatch, whose gain is in hiding the cache misses of events decoded long
// before (BenchmarkAssemble's log-order-batch).
func BenchmarkDecodeAndAssemble(b *testing.B) {
	batches := benchBatches()
	for _, mode := range []string{"decode", "add", "batch"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Process()
			for b.Loop() {
				a, err := window.New(window.Config{}, benchParts, nil)
				if err != nil {
					b.Fatal(err)
				}
				var evs []events.Event
				for _, m := range batches {
					evs, _, err = events.DecodeBatch(evs[:0], m)
					if err != nil {
						b.Fatal(err)
					}
					switch mode {
					case "add":
						for i := range evs {
							a.Add(&evs[i])
						}
					case "batch":
						a.AddBatch(evs, nil)
					}
					for _, w := range a.Closed() {
						w.Release()
					}
				}
				a.Flush()
				for _, w := range a.Closed() {
					w.Release()
				}
				a.Release()
			}
			perSecond(b, benchEvents, cpu0)
		})
	}
}
