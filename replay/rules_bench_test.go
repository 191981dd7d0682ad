package replay

import (
	"slices"
	"testing"

	"github.com/halo-sec/halo/internal/cputime"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/pipeline/detect"
)

// BenchmarkReplayRules is BenchmarkReplay's full replay without the anomaly
// detector (no features, no models) over events already decoded: what is
// left is the event detectors, the windows, the window detectors and the
// alerts — the per-window and per-finding costs of a replay, measured
// apart from the model's training and scoring and from the read.
//
//	go test ./replay -run '^$' -bench 'ReplayRules$' -benchtime 10x -count 3
func BenchmarkReplayRules(b *testing.B) {
	store, n := benchLog(b)
	evs := readAll(b, store, n)
	var names []string
	for _, d := range detect.Names() {
		if d != "anomaly" {
			names = append(names, d)
		}
	}
	findings := uint64(0)
	cpu := cputime.Process()
	for b.Loop() {
		b.StopTimer()
		in := slices.Clone(evs) // Run sorts its input
		b.StartTimer()
		_, st, err := Run(in, pipeline.Config{Detectors: names})
		if err != nil {
			b.Fatal(err)
		}
		findings = st.Findings
	}
	if findings == 0 {
		b.Fatal("no findings: the detectors did not run")
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	cpuMs(b, cpu)
}
