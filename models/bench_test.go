package models

import (
	"runtime"
	"sync"
	"testing"

	"github.com/sjwhitworth/golearn/trees"
)

// The scoring benchmarks: an isolation forest of 100 trees, depth 8,
// ψ = 256, trained on 10k rows of 20 features, scoring 100k rows.
const (
	benchFeatures = 20
	benchRows     = 100_000
)

var benchFixture = sync.OnceValues(func() (*Artifact, [][]float64) {
	train, _, names := synth(11, 10_000, 50, benchFeatures, 3, 5, 6)
	a, err := TrainIsolationForest(train, names, IForestOptions{Seed: 1})
	if err != nil {
		panic(err)
	}
	rows, _, _ := synth(12, benchRows-1000, 1000, benchFeatures, 3, 5, 6)
	return a, rows
})

func reportVectors(b *testing.B, n int) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "vectors/s")
}

// BenchmarkScore scores 100k rows over runtime.GOMAXPROCS(0) goroutines.
func BenchmarkScore(b *testing.B) {
	a, rows := benchFixture()
	dst := make([]float64, len(rows))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := a.ScoreInto(dst, rows); err != nil {
			b.Fatal(err)
		}
	}
	reportVectors(b, len(rows))
}

// BenchmarkScoreOneCore is BenchmarkScore on one goroutine.
func BenchmarkScoreOneCore(b *testing.B) {
	a, rows := benchFixture()
	dst := make([]float64, len(rows))
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := a.ScoreInto(dst, rows); err != nil {
			b.Fatal(err)
		}
	}
	reportVectors(b, len(rows))
}

// BenchmarkGolearnPredict is the baseline: golearn's IsolationForest.Predict
// (one goroutine) on the same 100k rows, with a model of the same
// parameters trained on the same rows with the same seed. Building the
// grid is not timed.
func BenchmarkGolearnPredict(b *testing.B) {
	train, _, names := synth(11, 10_000, 50, benchFeatures, 3, 5, 6)
	_, rows := benchFixture()
	trainGrid, err := isolationGrid(train, names)
	if err != nil {
		b.Fatal(err)
	}
	grid, err := isolationGrid(rows, names)
	if err != nil {
		b.Fatal(err)
	}
	f := trees.NewIsolationForest(100, 8, 256)
	if err := withSeededGlobalRand(1, func(reseed func()) error {
		reseed()
		f.Fit(trainGrid)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var scores []float64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		scores = f.Predict(grid)
	}
	b.StopTimer()
	reportVectors(b, len(rows))
	// Same model, same scores.
	a, _ := benchFixture()
	ours, err := a.Score(rows[:1000])
	if err != nil {
		b.Fatal(err)
	}
	for i := range ours {
		if ours[i] != scores[i] {
			b.Fatalf("row %d: Score %v, golearn %v", i, ours[i], scores[i])
		}
	}
}

// BenchmarkTrain trains an isolation forest (100 trees, depth 8, ψ = 256)
// on 10k rows of 20 features; the baseline, golearn-fit-10k, is one
// golearn IsolationForest.Fit of the same trees (seeded global source,
// grid built outside the timer), which is what training cost before Halo
// fitted the trees itself.
func BenchmarkTrain(b *testing.B) {
	train, _, names := synth(11, 10_000, 50, benchFeatures, 3, 5, 6)
	b.Run("iforest-10k", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := TrainIsolationForest(train, names, IForestOptions{Seed: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("golearn-fit-10k", func(b *testing.B) {
		grid, err := isolationGrid(train, names)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := withSeededGlobalRand(1, func(reseed func()) error {
				reseed()
				_, err := fitIsolationForest(grid, 100, 8, 256)
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTrainIForest100k is issue 8's figure: an isolation forest on
// 100k feature windows.
func BenchmarkTrainIForest100k(b *testing.B) {
	train, _, names := synth(11, 100_000, 500, benchFeatures, 3, 5, 6)
	b.ReportAllocs()
	for range b.N {
		if _, err := TrainIsolationForest(train, names, IForestOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrainForest trains a 50-tree random forest on 10k labelled rows
// of 20 features (10 features per tree) using both cores.
func BenchmarkTrainForest(b *testing.B) {
	train, labels, names := synth(13, 9_000, 1_000, benchFeatures, 3, 3, 3)
	b.ReportAllocs()
	for range b.N {
		if _, err := TrainRandomForest(train, labels, names, ForestOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
