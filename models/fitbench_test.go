package models

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/halo-sec/halo/internal/cputime"
)

// BenchmarkFitIsolation2k fits the trees alone (100, depth 8, ψ 256) on
// 2 000 rows like the pipeline's cohort models: continuous values, and
// values with many ties and constant stretches like most feature windows.
func BenchmarkFitIsolation2k(b *testing.B) {
	for _, c := range fitFixtures() {
		b.Run(c.name, func(b *testing.B) {
			cols := columns(c.rows)
			start := cputime.Process()
			for b.Loop() {
				fitIsolationColumns(cols, len(c.rows), 100, 8, 256, 1)
			}
			cpuUs(b, start)
		})
	}
}

// fitFixtures are 2 000 rows of benchFeatures features of three shapes,
// and a cohort's 2 000 training rows from a replay of the labeled Zeek
// logs (features.Names wide).
func fitFixtures() []struct {
	name string
	rows [][]float64
} {
	train, _, _ := synth(11, 2000, 20, benchFeatures, 3, 5, 6)
	ties := make([][]float64, 2000)
	for i := range ties {
		ties[i] = make([]float64, benchFeatures)
		for j := range ties[i] {
			ties[i][j] = float64((i * (j + 3) / 7) % (j + 2))
		}
	}
	// Like imported history's feature windows: a third of the features
	// never set (no transactions, no authentication), most of the others
	// usually 0.
	sparse := make([][]float64, 2000)
	for i := range sparse {
		sparse[i] = make([]float64, benchFeatures)
		for j := range sparse[i] {
			if j%3 != 0 && (i*(j+5))%11 < 3 {
				sparse[i][j] = float64((i * (j + 3) / 7) % (j + 4))
			}
		}
	}
	return []struct {
		name string
		rows [][]float64
	}{{"continuous", train}, {"ties", ties}, {"sparse", sparse}, {"zeek", zeekCohortRows()}}
}

// zeekCohortRows reads testdata/zeek-cohort-rows.json.gz: the 2 000 rows
// the anomaly detector's cohort model was trained on at its 12th training
// in BenchmarkReplay's replay of the labeled Zeek logs (22 features, nine
// of them constant; the others counts with a few dozen values, bytes and
// durations with about a thousand).
var zeekCohortRows = sync.OnceValue(func() [][]float64 {
	f, err := os.Open(filepath.Join("testdata", "zeek-cohort-rows.json.gz"))
	if err != nil {
		panic(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		panic(err)
	}
	var rows [][]float64
	if err := json.NewDecoder(zr).Decode(&rows); err != nil {
		panic(err)
	}
	return rows
})

// BenchmarkTrainCohort2k is one cohort model's whole training (fit,
// baselines, calibration, artifact and id) on the Zeek fixture's 2 000
// rows, calibrating on both cores.
func BenchmarkTrainCohort2k(b *testing.B) { benchTrainCohort2k(b, false) }

// BenchmarkTrainCohort2kSerial is BenchmarkTrainCohort2k on the calling
// goroutine alone (IForestOptions.Serial), as the pipeline trains.
func BenchmarkTrainCohort2kSerial(b *testing.B) { benchTrainCohort2k(b, true) }

func benchTrainCohort2k(b *testing.B, serial bool) {
	rows := zeekCohortRows()
	names := make([]string, len(rows[0]))
	for j := range names {
		names[j] = fmt.Sprintf("f%02d", j)
	}
	b.ReportAllocs()
	start := cputime.Process()
	for b.Loop() {
		if _, err := TrainIsolationForest(rows, names, IForestOptions{Seed: 42, FPR: 0.005, Serial: serial}); err != nil {
			b.Fatal(err)
		}
	}
	cpuUs(b, start)
}

// cpuUs reports cpu-µs/op: the process's CPU time since start (all
// threads, the garbage collector included) per operation. On a shared
// machine, wall time also counts the time other processes held the cores.
func cpuUs(b *testing.B, start time.Duration) {
	if cpu := cputime.Process() - start; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	}
}
