package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/halo-sec/halo/internal/cputime"
)

// TestWalkMatchesScoreRange: the branch-free walk gives the scores of the
// walk by blocks bit for bit, for isolation forests (depth-limited) and
// random forests, on rows in and far outside the training range.
func TestWalkMatchesScoreRange(t *testing.T) {
	rows, labels, names := synth(7, 600, 60, 9, 2, 3, 5)
	ifo, err := TrainIsolationForest(rows, names, IForestOptions{Seed: 5, Trees: 37})
	if err != nil {
		t.Fatal(err)
	}
	rf, err := TrainRandomForest(rows, labels, names, ForestOptions{Seed: 5, Trees: 9})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	probe := make([][]float64, 500)
	for i := range probe {
		probe[i] = append([]float64(nil), rows[r.IntN(len(rows))]...)
		for j := range probe[i] {
			switch r.IntN(4) {
			case 0:
				probe[i][j] *= 100 * r.Float64()
			case 1:
				probe[i][j] = -probe[i][j]
			}
		}
	}
	probe = append(probe, rows...)
	for _, a := range []*Artifact{ifo, rf} {
		m := a.m
		if m.walk == nil || m.depth == 0 {
			t.Fatalf("%s: no walk layout (depth %d)", a.Kind, m.depth)
		}
		want := make([]float64, len(probe))
		m.scoreBlocks(want, probe)
		got := make([]float64, len(probe))
		for i := range probe {
			m.scoreWalk(got[i:i+1], probe[i:i+1])
		}
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("%s row %d: walk %v, blocks %v", a.Kind, i, got[i], want[i])
			}
		}
	}
}

// TestWalkDepthLimit: a tree deeper than maxWalkDepth is scored by blocks.
func TestWalkDepthLimit(t *testing.T) {
	// A chain: every internal node's right child is a leaf.
	n := 2*(maxWalkDepth+1) + 1
	tr := Tree{Feature: make([]int, n), Split: make([]float64, n), Left: make([]int, n), Right: make([]int, n), Size: make([]int, n)}
	for i := 0; i < n; i++ {
		tr.Feature[i], tr.Left[i], tr.Right[i], tr.Size[i] = -1, -1, -1, 1
	}
	for i, d := 0, 0; i+2 < n; i, d = i+2, d+1 {
		tr.Feature[i], tr.Split[i], tr.Left[i], tr.Right[i] = 0, float64(d), i+2, i+1
	}
	m := compile(KindIForest, 1, []Tree{tr}, 256)
	if m.walk != nil {
		t.Fatalf("a tree of depth %d got a walk layout (limit %d)", maxWalkDepth+1, maxWalkDepth)
	}
	dst := make([]float64, 1)
	m.scoreRange(dst, [][]float64{{-1}})
	if dst[0] <= 0 || dst[0] > 1 {
		t.Fatalf("score %v", dst[0])
	}
}

// BenchmarkScoreOneRow scores 10k rows one call each, as the pipeline
// scores a window's few vectors: the branch-free walk (what ScoreInto
// does for a few rows) against the walk by blocks (for many rows).
func BenchmarkScoreOneRow(b *testing.B) {
	a, rows := benchFixture()
	rows = rows[:10_000]
	dst := make([]float64, 1)
	for _, c := range []struct {
		name  string
		score func(dst []float64, rows [][]float64)
	}{{"walk", a.m.scoreWalk}, {"blocks", a.m.scoreBlocks}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				for i := range rows {
					c.score(dst, rows[i:i+1])
				}
			}
			reportVectors(b, len(rows))
		})
	}
}

// BenchmarkCalibrate2k scores 2 000 training rows as a cohort model's
// calibration does: column-major routing against the walk; then the
// column-major scoring of each fitFixtures shape by a model trained on it
// (the sparse shape has few distinct rows and shallow leaves, like the
// pipeline's cohorts), on all cores, on one by route and by bit sets, and
// of the distinct rows.
func BenchmarkCalibrate2k(b *testing.B) {
	a, rows := benchFixture()
	rows = rows[:2000]
	cols := columns(rows)
	dst := make([]float64, len(rows))
	b.Run("columns", func(b *testing.B) {
		for b.Loop() {
			a.m.scoreColumns(dst, cols, len(rows))
		}
		reportVectors(b, len(rows))
	})
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			a.m.scoreAll(dst, rows)
		}
		reportVectors(b, len(rows))
	})
	for _, c := range fitFixtures() {
		names := make([]string, len(c.rows[0]))
		for j := range names {
			names[j] = fmt.Sprintf("f%02d", j)
		}
		fa, err := TrainIsolationForest(c.rows, names, IForestOptions{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		cols := columns(c.rows)
		dst := make([]float64, len(c.rows))
		b.Run("columns-"+c.name, func(b *testing.B) {
			for b.Loop() {
				fa.m.scoreColumns(dst, cols, len(c.rows))
			}
			reportVectors(b, len(c.rows))
		})
		// One goroutine, as a pipeline's training calibrates: the rows
		// routed as lists, then split as bit sets (scoreBits).
		b.Run("route-"+c.name, func(b *testing.B) {
			start := cputime.Process()
			for b.Loop() {
				fa.m.routeRange(dst, cols, 0, len(c.rows))
			}
			cpuUs(b, start)
		})
		b.Run("bits-"+c.name, func(b *testing.B) {
			start := cputime.Process()
			for b.Loop() {
				fa.m.scoreBits(dst, cols, 0, len(c.rows), bitListMax, nil)
			}
			cpuUs(b, start)
		})
		b.Run("distinct-"+c.name, func(b *testing.B) {
			start := cputime.Process()
			for b.Loop() {
				fa.m.scoreColumnsUnique(dst, cols, len(c.rows))
			}
			reportVectors(b, len(c.rows))
			cpuUs(b, start)
		})
	}
}

// TestNodeLayout: compile lays out every node for both kinds of scorer: a
// split's wf is its feature and its children lie after it in its tree; a
// leaf's feature is -1, its wf 0 and both its children itself (the walk
// stays there).
func TestNodeLayout(t *testing.T) {
	rows, labels, names := synth(11, 400, 40, 7, 2, 3, 4)
	ifo, err := TrainIsolationForest(rows, names, IForestOptions{Seed: 2, Trees: 23})
	if err != nil {
		t.Fatal(err)
	}
	rf, err := TrainRandomForest(rows, labels, names, ForestOptions{Seed: 2, Trees: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*Artifact{ifo, rf} {
		m := a.m
		if len(m.walk) != len(m.nodes) || &m.walk[0] != &m.nodes[0] {
			t.Fatalf("%s: the walk layout is not the nodes", a.Kind)
		}
		leaves := 0
		for ti, root := range m.roots {
			end := int32(len(m.nodes))
			if ti+1 < len(m.roots) {
				end = m.roots[ti+1]
			}
			for i := root; i < end; i++ {
				nd := m.nodes[i]
				if nd.f < 0 {
					leaves++
					if nd.f != -1 || nd.wf != 0 || nd.c != [2]int32{i, i} {
						t.Fatalf("%s: leaf %d laid out as %+v", a.Kind, i, nd)
					}
					continue
				}
				if nd.wf != nd.f || int(nd.f) >= m.width {
					t.Fatalf("%s: split %d laid out as %+v", a.Kind, i, nd)
				}
				for _, c := range nd.c {
					if c <= i || c >= end {
						t.Fatalf("%s: split %d's child %d outside its tree [%d, %d)", a.Kind, i, c, i+1, end)
					}
				}
			}
		}
		if leaves == 0 {
			t.Fatalf("%s: no leaves", a.Kind)
		}
	}
}
