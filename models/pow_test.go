package models

import (
	"math"
	"math/rand"
	"testing"
)

// TestPow2MatchesMathPow compares pow2 with math.Pow(2, y) bit for bit:
// the scores' exponents (-E/c(ψ), mostly in (-2, 0)), a wide range, and
// pow's special and boundary cases.
func TestPow2MatchesMathPow(t *testing.T) {
	check := func(y float64) bool {
		got, want := pow2(y), math.Pow(2, y)
		if math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("pow2(%v) = %v, math.Pow %v", y, got, want)
			return false
		}
		return true
	}
	edge := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 1.5, -1.5, 2, -2, 999, -999, 1000, -1000, 1023, -1022, -1074, -1075, 1024,
		math.Nextafter(1000, 0), math.Nextafter(-1000, 0), math.Nextafter(0.5, 1), math.Nextafter(0.5, 0), math.Nextafter(-0.5, 0),
		math.Inf(1), math.Inf(-1), math.NaN(), 1e-300, -1e-300, 5e-324, 0.1, -0.1}
	for i := -1100; i <= 1100; i++ {
		y := float64(i)
		edge = append(edge, y, math.Nextafter(y, math.Inf(1)), math.Nextafter(y, math.Inf(-1)), y+0.5, y-0.5)
	}
	for _, y := range edge {
		check(y)
	}
	rng := rand.New(rand.NewSource(5))
	n := 4_000_000
	if testing.Short() {
		n = 400_000
	}
	bad := 0
	for i := 0; i < n && bad < 10; i++ {
		if !check(-2 * rng.Float64()) {
			bad++
		}
		if !check((rng.Float64() - 0.5) * 2200) {
			bad++
		}
	}
	// The scores of a model: its sums over the fixtures' rows.
	for _, c := range fitFixtures()[:2] {
		names := make([]string, len(c.rows[0]))
		for j := range names {
			names[j] = string(rune('a' + j))
		}
		a, err := TrainIsolationForest(c.rows, names, IForestOptions{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		sums := make([]float64, len(c.rows))
		for k, x := range c.rows {
			for _, r := range a.m.roots {
				i := r
				for a.m.nodes[i].f >= 0 {
					i = a.m.nodes[i].c[b2i(x[a.m.nodes[i].f] > a.m.nodes[i].v)]
				}
				sums[k] += a.m.nodes[i].v
			}
			check(-1 * (sums[k] / float64(len(a.m.roots))) / a.m.norm)
		}
	}
}
