package replay

import (
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/cputime"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/pipeline/window"
)

// BenchmarkWindowDetectors runs the window detectors (beaconing,
// new-destination, scan, flood, auth-failures, blocked-attempts) over the
// windows of every labeled Zeek log — BenchmarkReplay's 4,288 windows,
// assembled once — one window after the other on one goroutine through
// detect.RunWindow, as the pipeline's window stage does: the per-window
// cost of the detectors alone, without the windows' assembly, the alerts
// or a second core.
//
//	go test ./replay -run '^$' -bench 'WindowDetectors$' -benchtime 20x -count 3
//
// HALO_BENCH_DETECTORS=beaconing (a comma-separated list) runs only those
// detectors: one detector's cost, with the window's shared tables
// (cols.dstIDs...) that the first detector to need them builds.
func BenchmarkWindowDetectors(b *testing.B) {
	store, n := benchLog(b)
	evs := readAll(b, store, n)
	events.SortByTime(evs)
	proc, err := pipeline.NewProcessor(pipeline.Config{})
	if err != nil {
		b.Fatal(err)
	}
	cfg := proc.Config() // the defaults
	proc.Close()
	asm, err := window.New(window.Config{Size: cfg.WindowSize, Lateness: cfg.Lateness}, cfg.Partitions, memory.DefaultAllocator)
	if err != nil {
		b.Fatal(err)
	}
	defer asm.Release()
	var ws []*window.Window
	for i := range evs {
		asm.Add(&evs[i])
		ws = append(ws, asm.Closed()...)
	}
	asm.Flush()
	ws = append(ws, asm.Closed()...)
	defer func() {
		for _, w := range ws {
			w.Release()
		}
	}()
	ctx := &detect.Context{Cohort: func(tenant, device string) string { return tenant + "//" }}
	findings := 0
	b.ReportAllocs()
	cpu := cputime.Process()
	for b.Loop() {
		b.StopTimer()
		ds, err := detect.New(benchDetectors(), nil)
		if err != nil {
			b.Fatal(err)
		}
		var wds []detect.WindowDetector
		for _, d := range ds {
			if wd, ok := d.(detect.WindowDetector); ok {
				wds = append(wds, wd)
			}
		}
		b.StartTimer()
		findings = 0
		var fs [][]detect.Finding
		for _, w := range ws {
			fs = detect.RunWindow(fs[:0], wds, w, ctx)
			for _, f := range fs {
				findings += len(f)
			}
		}
	}
	if findings == 0 {
		b.Fatal("no findings")
	}
	cpuMs(b, cpu)
	b.ReportMetric(float64(len(ws)), "windows")
	b.ReportMetric(float64(findings), "findings")
}

// benchDetectors returns the detectors HALO_BENCH_DETECTORS names, nil
// (all) when unset.
func benchDetectors() []string {
	if s := os.Getenv("HALO_BENCH_DETECTORS"); s != "" {
		return strings.Split(s, ",")
	}
	return nil
}
