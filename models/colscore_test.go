package models

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// dupRows returns n rows of width values drawn from few distinct values
// per feature (so rows repeat), some features constant, with -0 and +0
// both present.
func dupRows(seed uint64, n, width, distinct int) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 9))
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, width)
		for j := range rows[i] {
			switch {
			case j%5 == 4: // constant
				rows[i][j] = 3
			case j%7 == 6 && r.IntN(2) == 0:
				rows[i][j] = math.Copysign(0, -1)
			default:
				rows[i][j] = float64(r.IntN(distinct)) / 4
			}
		}
	}
	return rows
}

// TestUniqueColumns: every row maps to a distinct row with equal values
// (-0 equal to +0), the distinct rows are distinct, and they come in
// first-seen order.
func TestUniqueColumns(t *testing.T) {
	// Scratch recycled from case to case, as a training's: a larger case
	// leaves it dirty for a smaller one; the results must be those of
	// fresh scratch.
	var (
		ub uniqueBuf
		fb []float64
	)
	for _, tc := range []struct{ n, width, distinct int }{{1, 3, 2}, {2000, 22, 2}, {2000, 22, 3}, {500, 4, 2}, {1000, 8, 1000}, {300, 1, 5}, {50, 3, 1}, {2, 2, 1}, {2000, 22, 700}, {400, 5, 60}, {3, 4, 1}, {900, 6, 200}} {
		rows := dupRows(uint64(tc.n*tc.width), tc.n, tc.width, tc.distinct)
		cols := columns(rows)
		ucols, nu, of := uniqueColumnsIn(&fb, &ub, cols, len(rows))
		for j, col := range cols {
			vary := slices.ContainsFunc(col, func(v float64) bool { return v != col[0] })
			if got := ub.varying[j/64]&(1<<(j%64)) != 0; got != vary {
				t.Fatalf("%+v: column %d varying %v, want %v", tc, j, got, vary)
			}
		}
		fucols, fnu, fof := uniqueColumns(cols, len(rows))
		if nu != fnu || !slices.Equal(of, fof) || (of == nil) != (fof == nil) {
			t.Fatalf("%+v: recycled scratch gave %d distinct rows (map %v), fresh %d (%v)", tc, nu, of, fnu, fof)
		}
		for j := range ucols {
			if !slices.Equal(ucols[j][:nu], fucols[j][:fnu]) {
				t.Fatalf("%+v: recycled scratch gave column %d %v, fresh %v", tc, j, ucols[j][:nu], fucols[j][:fnu])
			}
		}
		if of == nil {
			if nu != len(rows) {
				t.Fatalf("%+v: no map but %d distinct of %d", tc, nu, len(rows))
			}
			of = make([]int32, len(rows))
			for i := range of {
				of[i] = int32(i)
			}
		}
		seen := map[[32]uint64]bool{}
		key := func(cs [][]float64, i int) (k [32]uint64) {
			for j := range cs {
				k[j] = math.Float64bits(cs[j][i] + 0) // -0 + 0 is +0
			}
			return k
		}
		for u := range nu {
			k := key(ucols, u)
			if seen[k] {
				t.Fatalf("%+v: distinct row %d repeats", tc, u)
			}
			seen[k] = true
		}
		next := int32(0)
		for i := range rows {
			if key(cols, i) != key(ucols, int(of[i])) {
				t.Fatalf("%+v: row %d mapped to a different row %d", tc, i, of[i])
			}
			if of[i] > next {
				t.Fatalf("%+v: row %d maps to %d before %d was seen", tc, i, of[i], next)
			}
			if of[i] == next {
				next++
			}
		}
		if int(next) != nu {
			t.Fatalf("%+v: %d distinct rows seen, %d returned", tc, next, nu)
		}
	}
}

// TestScoreColumnsUniqueMatchesScoreColumns: scoring each distinct row
// once gives every row's scoreColumns score, bit for bit.
func TestScoreColumnsUniqueMatchesScoreColumns(t *testing.T) {
	for _, distinct := range []int{1, 2, 3, 8, 1 << 20} {
		rows := dupRows(uint64(distinct), 2000, 12, distinct)
		names := make([]string, 12)
		for j := range names {
			names[j] = string(rune('a' + j))
		}
		a, err := TrainIsolationForest(rows, names, IForestOptions{Seed: int64(distinct)})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 7, 1500, 2000} {
			cols := columns(rows[:n])
			want := make([]float64, n)
			a.m.scoreColumns(want, cols, n)
			got := make([]float64, n)
			a.m.scoreColumnsUnique(got, cols, n)
			for i := range got {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("distinct %d, %d rows: row %d scores %v, scoreColumns %v", distinct, n, i, got[i], want[i])
				}
			}
		}
	}
}

// TestScoreColumnsRangeBlocks: scoring any range of rows on one goroutine,
// over one block or several (the last partly filled), gives scoreAll's
// scores bit for bit, for an isolation forest and a random forest (whose
// trees are deeper), and writes nothing outside the range.
func TestScoreColumnsRangeBlocks(t *testing.T) {
	n := 2*routeBlock + 777
	rows, labels, names := synth(31, n-100, 100, 12, 2, 4, 6)
	ifo, err := TrainIsolationForest(rows, names, IForestOptions{Seed: 3, Trees: 30})
	if err != nil {
		t.Fatal(err)
	}
	rf, err := TrainRandomForest(rows, labels, names, ForestOptions{Seed: 3, Trees: 5})
	if err != nil {
		t.Fatal(err)
	}
	cols := columns(rows)
	for _, a := range []*Artifact{ifo, rf} {
		want := make([]float64, n)
		a.m.scoreAll(want, rows)
		for _, r := range [][2]int{{0, n}, {0, 1}, {5, 6}, {0, routeBlock}, {1, routeBlock + 1}, {routeBlock - 3, routeBlock + 3}, {routeBlock, n}, {17, 2*routeBlock + 17}, {n - 1, n}, {9, 9}} {
			lo, hi := r[0], r[1]
			got := make([]float64, n)
			for i := range got {
				got[i] = -1
			}
			a.m.scoreColumnsRange(got, cols, lo, hi)
			for i := range got {
				w := want[i]
				if i < lo || i >= hi {
					w = -1
				}
				if math.Float64bits(got[i]) != math.Float64bits(w) {
					t.Fatalf("%s, rows [%d, %d): row %d scores %v, want %v", a.Kind, lo, hi, i, got[i], w)
				}
			}
		}
	}
}
