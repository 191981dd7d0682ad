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
