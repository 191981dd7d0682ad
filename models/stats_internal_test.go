package models

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// medianDev is the median of the deviations sorted, bit for bit: odd and
// even counts, ties, a median between two values, negative values, long
// constant stretches.
func TestMedianDevMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 2000 {
		n := 1 + rng.IntN(60)
		col := make([]float64, n)
		for i := range col {
			switch trial % 4 {
			case 0:
				col[i] = rng.NormFloat64() * 1e3
			case 1:
				col[i] = float64(rng.IntN(4)) // many ties
			case 2:
				col[i] = float64(rng.IntN(3)-1) * 0.1 // ties around a zero median
			default:
				col[i] = math.Ldexp(rng.Float64(), rng.IntN(80)-40)
			}
		}
		slices.Sort(col)
		med := median(col)
		dev := make([]float64, n)
		for i, v := range col {
			dev[i] = math.Abs(v - med)
		}
		got := medianDev(col, dev, med)
		sorted := slices.Clone(dev)
		slices.Sort(sorted)
		if want := median(sorted); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("trial %d: %v: medianDev %v, want %v", trial, col, got, want)
		}
	}
}

// rankSelect gives the values at the ranks of the values sorted, and how
// many are greater, bit for bit: scores-like values, ties, one value,
// negative values, values crowded into a bucket among far ones, several
// ranks in one bucket; it declines -0 and NaN, leaving vals alone.
func TestRankSelectMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var scratch []uint64
	for trial := range 3000 {
		n := 1 + rng.IntN(3000)
		if trial%5 == 0 {
			n = 1 + rng.IntN(20)
		}
		a := make([]float64, n)
		for i := range a {
			switch trial % 6 {
			case 0:
				a[i] = 0.3 + 0.4*rng.Float64() // scores
			case 1:
				a[i] = float64(rng.IntN(5)) // many ties
			case 2:
				a[i] = rng.NormFloat64() * 1e3
			case 3:
				a[i] = 0.5 // all equal
			case 4:
				a[i] = 1 + rng.Float64()*1e-12 // crowded
				if rng.IntN(50) == 0 {
					a[i] = 1e300
				}
			default:
				a[i] = math.Ldexp(rng.Float64(), rng.IntN(80)-40)
			}
		}
		ranks := []int{0, n - 1}
		for range rng.IntN(8) {
			ranks = append(ranks, rng.IntN(n))
		}
		ranks = append(ranks, quantileRank(n, 0.99), quantileRank(n, 0.995))
		orig := slices.Clone(a)
		vals, above := make([]float64, len(ranks)), make([]int, len(ranks))
		var ok bool
		if scratch, ok = rankSelect(a, ranks, vals, above, scratch); !ok {
			t.Fatalf("trial %d: declined", trial)
		}
		if !slices.Equal(a, orig) {
			t.Fatalf("trial %d: values changed", trial)
		}
		sorted := slices.Clone(a)
		slices.Sort(sorted)
		for i, r := range ranks {
			want := sorted[r]
			if math.Float64bits(vals[i]) != math.Float64bits(want) {
				t.Fatalf("trial %d (n %d): rank %d: %v, want %v", trial, n, r, vals[i], want)
			}
			if wantAbove := n - upperBound(sorted, want); above[i] != wantAbove {
				t.Fatalf("trial %d (n %d): rank %d: %d above, want %d", trial, n, r, above[i], wantAbove)
			}
		}
	}
	for _, bad := range []float64{math.Copysign(0, -1), math.NaN()} {
		a := []float64{1, 2, bad, 3}
		vals, above := []float64{-1}, []int{-1}
		if _, ok := rankSelect(a, []int{1}, vals, above, nil); ok || vals[0] != -1 || above[0] != -1 {
			t.Fatalf("%v: not declined (%v, %v)", a, vals, above)
		}
	}
}

// valueRuns' runs, written out, are the rows' values sorted, and each
// run's value differs from the one before: few values over many distinct
// rows, all distinct, one row, and a single value.
func TestValueRunsAreSortedRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	buf := new(trainBuf)
	for trial := range 400 {
		n := MinRows + rng.IntN(500)
		if trial%7 == 0 {
			n = 1
		}
		rows := make([][]float64, n)
		for i := range rows {
			x := float64(rng.IntN(1 + trial%9))
			if trial%3 == 0 {
				x = rng.NormFloat64()
			}
			rows[i] = []float64{x, float64(rng.IntN(4)), 7}
		}
		cols := columns(rows)
		ucols, nu, of := uniqueColumns(cols, n)
		orders := distinctOrders(buf, ucols, nu, nil)
		times := make([]int32, nu)
		for i := range n {
			u := i
			if of != nil {
				u = int(of[i])
			}
			times[u]++
		}
		for j, order := range orders {
			if order == nil {
				continue
			}
			vals, cnt := make([]float64, nu), make([]int32, nu)
			k := valueRuns(ucols[j][:nu], order, times, vals, cnt)
			var got []float64
			for r := range k {
				if r > 0 && !(vals[r] > vals[r-1]) {
					t.Fatalf("trial %d column %d: run %d of %v after %v", trial, j, r, vals[r], vals[r-1])
				}
				for range cnt[r] {
					got = append(got, vals[r])
				}
			}
			want := slices.Clone(cols[j])
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("trial %d column %d: runs %v, want %v", trial, j, got, want)
			}
		}
	}
}
