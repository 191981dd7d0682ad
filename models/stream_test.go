package models

import (
	"math"
	"math/rand"
	"testing"
)

// TestStreamMatchesMathRand: stream draws what rand.New(rand.NewSource)
// draws, call for call, well past the first 607 outputs it takes from the
// standard source, for bounds of every kind (1, powers of two, bounds
// whose rejection loop runs often, bounds beyond 31 bits).
func TestStreamMatchesMathRand(t *testing.T) {
	bounds := []int{1, 2, 3, 7, 22, 256, 1000, 2000, 1<<30 + 1, 1<<31 - 1, 1 << 31, 1<<31 + 3, 1 << 40, 3<<61 + 5, math.MaxInt64}
	for _, seed := range []int64{0, 1, -7, 42, 1 << 40, math.MinInt64, math.MaxInt64} {
		want := rand.New(rand.NewSource(seed))
		got := newStream(seed)
		pick := rand.New(rand.NewSource(seed ^ 99)) // which call to make
		for i := range 20_000 {
			if pick.Intn(3) == 0 {
				if g, w := got.float64(), want.Float64(); math.Float64bits(g) != math.Float64bits(w) {
					t.Fatalf("seed %d, call %d: Float64 %v, math/rand %v", seed, i, g, w)
				}
				continue
			}
			n := bounds[pick.Intn(len(bounds))]
			if g, w := got.intn(n), want.Intn(n); g != w {
				t.Fatalf("seed %d, call %d: Intn(%d) %d, math/rand %d", seed, i, n, g, w)
			}
		}
	}
}
