package models

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
)

var errNotTrained = errors.New("models: Score on an artifact that was not trained or loaded")

// parallelMin is the fewest rows worth splitting over several goroutines.
const parallelMin = 1024

// Score scores rows (each as wide as Features, finite, in the order of
// Features) and returns one score per row; see ScoreInto.
func (a *Artifact) Score(rows [][]float64) ([]float64, error) {
	dst := make([]float64, len(rows))
	if err := a.ScoreInto(dst, rows); err != nil {
		return nil, err
	}
	return dst, nil
}

// ScoreInto scores rows into dst, which must be as long as rows.
//
// An isolation forest's score is golearn's anomaly score
// s(x) = 2^(−E[h(x)] / c(ψ)), in (0, 1], higher is more anomalous: h(x) is
// the number of splits from a tree's root to the leaf x reaches, plus
// c(size) when more than one sample point reached that leaf; E is the
// mean over the trees; c(n) = 2(ln(n−1) + 0.5772156649) − 2(n−1)/n is the
// average path length of n points, ψ the per-tree sample size. Scores equal
// golearn's IsolationForest.Predict bit for bit.
//
// A forest's score is the mean over its trees of the share of positive
// bootstrap rows in the leaf a row reaches: in [0, 1], higher is more
// likely positive.
//
// Rows are scored in parallel in runtime.GOMAXPROCS(0) chunks; each score
// depends only on its row, so the output does not depend on parallelism.
// A row of the wrong width or with a NaN, infinite or out-of-range value
// gives an ErrInput error naming the first such row, and dst is then
// partly written.
func (a *Artifact) ScoreInto(dst []float64, rows [][]float64) error {
	if a == nil || a.m == nil {
		return errNotTrained
	}
	if len(dst) != len(rows) {
		return fmt.Errorf("%w: %d rows but room for %d scores", ErrInput, len(rows), len(dst))
	}
	return inChunks(len(rows), func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			if err := checkRow(rows[i], i, a.Features); err != nil {
				return err
			}
		}
		a.m.scoreRange(dst[lo:hi], rows[lo:hi])
		return nil
	})
}

// CheckRow returns the error ScoreInto returns for row alone (an ErrInput
// error naming row 0 for a row it cannot score), without scoring it: a
// caller that decides without the score when a row's score would not
// matter still reports the rows scoring would reject.
func (a *Artifact) CheckRow(row []float64) error {
	if a == nil || a.m == nil {
		return errNotTrained
	}
	return checkRow(row, 0, a.Features)
}

// scoreAll scores valid rows into dst on all cores.
func (m *compiled) scoreAll(dst []float64, rows [][]float64) {
	_ = inChunks(len(rows), func(lo, hi int) error {
		m.scoreRange(dst[lo:hi], rows[lo:hi])
		return nil
	})
}

// inChunks calls fn on [lo, hi) chunks covering [0, n): one chunk per
// runtime.GOMAXPROCS(0), in parallel, or a single call for fewer than
// parallelMin items. It returns the error of the first failing chunk (the
// one with the lowest lo), so errors do not depend on scheduling.
func inChunks(n int, fn func(lo, hi int) error) error {
	workers := runtime.GOMAXPROCS(0)
	if n < parallelMin || workers < 2 {
		return fn(0, n)
	}
	chunk := (n + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo := w * chunk
		if lo >= n {
			break
		}
		hi := min(lo+chunk, n)
		wg.Go(func() { errs[w] = fn(lo, hi) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
