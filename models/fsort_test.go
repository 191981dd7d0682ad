package models

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortFloatsIsSlicesSort: sortFloats gives slices.Sort's bits on
// values of many shapes and sizes (ties, negatives, ±0, NaN, infinities,
// subnormals, already sorted, reversed).
func TestSortFloatsIsSlicesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	gens := map[string]func(i, n int) float64{
		"normal":   func(int, int) float64 { return r.NormFloat64() * 1e3 },
		"counts":   func(int, int) float64 { return float64(r.IntN(5)) },
		"sparse":   func(int, int) float64 { return float64(r.IntN(40)/37) * float64(r.IntN(1e6)) },
		"wide":     func(int, int) float64 { return math.Ldexp(r.Float64()-0.5, r.IntN(2000)-1000) },
		"sorted":   func(i, _ int) float64 { return float64(i) / 3 },
		"reversed": func(i, n int) float64 { return float64(n - i) },
		"constant": func(int, int) float64 { return 7 },
		"negzero":  func(int, int) float64 { return []float64{0, math.Copysign(0, -1), 1, -1}[r.IntN(4)] },
		"nan":      func(int, int) float64 { return []float64{math.NaN(), 2, -3, math.Inf(1)}[r.IntN(4)] },
		"special": func(int, int) float64 {
			return []float64{math.Inf(-1), math.Inf(1), 5e-324, -5e-324, math.MaxFloat64, -math.MaxFloat64}[r.IntN(6)]
		},
		"scores":    func(int, int) float64 { return math.Pow(2, -r.Float64()*2) },
		"fewdigits": func(int, int) float64 { return float64(r.IntN(1000)) / 8 },
		"bytes":     func(int, int) float64 { return float64(r.IntN(1e7)) },
		"bigwhole":  func(int, int) float64 { return float64(r.Int64N(1<<53) >> r.IntN(53)) },
		"edgewhole": func(int, int) float64 { return []float64{0, 1<<53 - 1, 1 << 53, 1<<53 + 2, 1 << 60, 3}[r.IntN(6)] },
		"halfwhole": func(int, int) float64 { return float64(r.IntN(50)) + float64(r.IntN(2))/2 },
	}
	var scratch []uint64
	for name, gen := range gens {
		for _, n := range []int{0, 1, 2, 63, 64, 65, 100, 2000, 5000} {
			a := make([]float64, n)
			for i := range a {
				a[i] = gen(i, n)
			}
			want := slices.Clone(a)
			slices.Sort(want)
			got := slices.Clone(a)
			scratch = sortFloats(got, scratch)
			for i := range want {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("%s, %d values: at %d got %v, slices.Sort %v", name, n, i, got[i], want[i])
				}
			}
		}
	}
}

// FuzzSortFloats: any float64 values (8 bytes each) sort to slices.Sort's
// bits.
func FuzzSortFloats(f *testing.F) {
	seed := func(vs ...float64) []byte {
		b := make([]byte, 0, 8*len(vs))
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	f.Add(seed(3, 1, 2))
	f.Add(seed(0, math.Copysign(0, -1), -1, 1))
	many := make([]float64, 100)
	for i := range many {
		many[i] = float64((i * 37) % 11)
	}
	f.Add(seed(many...))
	f.Add(seed(append(many, -2.5, 1e300, -1e-300)...))
	whole := make([]float64, 80)
	for i := range whole {
		whole[i] = float64((i * 7919) % 100003)
	}
	f.Add(seed(whole...))
	f.Add(seed(append(whole, 1<<53, 0.5)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		a := make([]float64, len(b)/8)
		for i := range a {
			a[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		want := slices.Clone(a)
		slices.Sort(want)
		sortFloats(a, nil)
		for i := range want {
			if math.Float64bits(a[i]) != math.Float64bits(want[i]) && !(a[i] != a[i] && want[i] != want[i]) {
				t.Fatalf("at %d got %v, slices.Sort %v", i, a[i], want[i])
			}
		}
	})
}

// BenchmarkBaselines computes the training baselines of the fitFixtures
// shapes (2 000 rows): a sort of every feature's values.
func BenchmarkBaselines(b *testing.B) {
	for _, c := range fitFixtures() {
		b.Run(c.name, func(b *testing.B) {
			cols := columns(c.rows)
			for b.Loop() {
				baselinesColumns(cols, len(c.rows))
			}
		})
	}
}

// TestIsWhole: isWhole, converting through int64, is the test of its
// definition (v >= 0, v < 2⁵³, and v converts to a uint64 and back) on
// the values at its edges and outside int64's range, and on values of
// every exponent.
func TestIsWhole(t *testing.T) {
	want := func(v float64) bool { return v >= 0 && v < 1<<53 && v == float64(uint64(v)) }
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 1<<53 - 1, 1 << 53, 1<<53 + 2, 1<<53 - 0.5,
		1 << 62, 1 << 63, 1 << 64, -(1 << 63), -(1 << 64), 1e300, -1e300, math.MaxFloat64, -math.MaxFloat64,
		5e-324, -5e-324, math.Inf(1), math.Inf(-1), math.NaN(), 12345, 12345.25}
	r := rand.New(rand.NewPCG(7, 8))
	for range 100000 {
		v := math.Ldexp(r.Float64(), r.IntN(140)-10)
		if r.IntN(2) == 0 {
			v = math.Trunc(v)
		}
		if r.IntN(4) == 0 {
			v = -v
		}
		vals = append(vals, v)
	}
	wholes := 0
	for _, v := range vals {
		if g, w := isWhole(v), want(v); g != w {
			t.Fatalf("isWhole(%v) = %v, want %v", v, g, w)
		} else if g {
			wholes++
			if k := uint64(int64(v)); k != uint64(v) {
				t.Fatalf("%v: key %d through int64, %d", v, k, uint64(v))
			}
		}
	}
	if wholes < 1000 {
		t.Fatalf("only %d whole values tested", wholes)
	}
}
