package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestGatherMinMaxIsGo: gatherMinMax (assembly on amd64) writes the values
// gatherMinMaxGo writes and returns the same extremes, the sign of a zero
// one aside (see gatherMinMax), on nodes of every length up to 300 (each
// remainder of the four-row steps) drawn from columns of many shapes;
// and an index outside the column panics, as the Go version does.
func TestGatherMinMaxIsGo(t *testing.T) { eachAsmChunk(t, testGatherMinMaxIsGo) }

// eachAsmChunk runs test with the assembly loops' chunk as it is (0) and
// at 1, 3 and 64 rows a call (see asmChunk).
func eachAsmChunk(t *testing.T, test func(*testing.T)) {
	for _, chunk := range []int{0, 1, 3, 64} {
		t.Run(fmt.Sprintf("chunk%d", chunk), func(t *testing.T) {
			withAsmChunk(t, chunk)
			test(t)
		})
	}
}

func testGatherMinMaxIsGo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	gens := map[string]func() float64{
		"normal":  func() float64 { return r.NormFloat64() * 1e3 },
		"counts":  func() float64 { return float64(r.IntN(5)) },
		"negzero": func() float64 { return []float64{0, math.Copysign(0, -1), 1, -1}[r.IntN(4)] },
		"zeros":   func() float64 { return []float64{0, math.Copysign(0, -1)}[r.IntN(2)] },
		"wide":    func() float64 { return math.Ldexp(r.Float64()-0.5, r.IntN(2000)-1000) },
	}
	for name, gen := range gens {
		col := make([]float64, 500)
		for i := range col {
			col[i] = gen()
		}
		for n := 1; n <= 300; n++ {
			data := make([]int32, n)
			for k := range data {
				data[k] = int32(r.IntN(len(col)))
			}
			vals, want := make([]float64, n+3), make([]float64, n+3)
			for k := range vals {
				vals[k], want[k] = -7, -7 // beyond n: not written
			}
			lo, hi := gatherMinMax(col, data, vals)
			wlo, whi := gatherMinMaxGo(col, data, want)
			if lo != wlo || hi != whi || (lo != 0 && math.Signbit(lo) != math.Signbit(wlo)) || (hi != 0 && math.Signbit(hi) != math.Signbit(whi)) {
				t.Fatalf("%s, %d rows: extremes %v %v, want %v %v", name, n, lo, hi, wlo, whi)
			}
			for k := range vals {
				if math.Float64bits(vals[k]) != math.Float64bits(want[k]) {
					t.Fatalf("%s, %d rows: vals[%d] = %v, want %v", name, n, k, vals[k], want[k])
				}
			}
		}
	}
	for _, bad := range []int32{500, -1} {
		for n := 1; n <= 9; n++ {
			data := make([]int32, n)
			data[n-1] = bad
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("index %d at %d of %d rows: no panic", bad, n-1, n)
					}
				}()
				gatherMinMax(make([]float64, 500), data, make([]float64, n))
			}()
		}
	}
}

// TestPartitionIsGo: partition (assembly on amd64) orders rows as
// partitionGo does, on nodes of every length up to 300, with values equal
// to the split, ±0 and NaN (which goes right), and writes nothing beyond
// the rows' length.
func TestPartitionIsGo(t *testing.T) { eachAsmChunk(t, testPartitionIsGo) }

func testPartitionIsGo(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	choices := []float64{-1, 0, math.Copysign(0, -1), 0.5, 1, 2, math.NaN()}
	for _, split := range []float64{0, 0.5, 1, math.Copysign(0, -1), -3} {
		for n := 0; n <= 300; n++ {
			rows := make([]int32, n)
			vals := make([]float64, n)
			for k := range rows {
				rows[k] = int32(r.IntN(1000))
				vals[k] = choices[r.IntN(len(choices))]
			}
			dst, want := slices.Repeat([]int32{-9}, n+2), slices.Repeat([]int32{-9}, n+2)
			l := partition(dst[:n], rows, vals, split)
			wl := partitionGo(want[:n], rows, vals, split)
			if l != wl || !slices.Equal(dst, want) {
				t.Fatalf("split %v, %d rows: %d %v, want %d %v", split, n, l, dst, wl, want)
			}
		}
	}
}

// TestAddDenseIsGo: addDense (assembly on amd64) leaves the sums
// addDenseGo leaves, bit for bit, for sets of every length up to a block
// (set AND mask, and AND NOT mask), sparse and dense, and touches no sum
// beyond the set's words.
func TestAddDenseIsGo(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var acc, want [routeBlock]float64
	for words := 0; words <= routeBlock/64; words++ {
		for _, density := range []int{0, 1, 8, 32, 63, 64} {
			set, mask := make([]uint64, words), make([]uint64, words)
			for w := range set {
				for b := range 64 {
					if r.IntN(64) < density {
						set[w] |= 1 << b
					}
					if r.IntN(2) == 0 {
						mask[w] |= 1 << b
					}
				}
			}
			for i := range acc {
				acc[i] = r.Float64() * 20
			}
			want = acc
			for _, not := range []bool{false, true} {
				v := 1 + r.Float64()*10
				addDense(&acc, set, mask, flipOf(not), v)
				addDenseGo(&want, set, mask, flipOf(not), v)
			}
			for i := range acc {
				if math.Float64bits(acc[i]) != math.Float64bits(want[i]) {
					t.Fatalf("%d words, density %d/64: sum %d = %v, want %v", words, density, i, acc[i], want[i])
				}
			}
		}
	}
}
