package models

import (
	"cmp"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// stableKeyOrder is radixOrder's order the plain way: the positions
// stably sorted by their sort keys (sortKey: -0 before +0).
func stableKeyOrder(col []float64) []int32 {
	whole := true
	for _, v := range col {
		whole = whole && isWhole(v)
	}
	keys := make([]uint64, len(col))
	sortKeys(col, keys, whole)
	order := make([]int32, len(col))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(keys[a], keys[b]) })
	return order
}

// radixColumns are columns of the shapes radixOrder meets: random,
// constant, duplicate-heavy, -0 and +0, subnormal, mostly zero with a
// spread of binades (durations), whole with few or many bytes, and the
// Zeek fixture's distinct rows' columns.
func radixColumns(t testing.TB) map[string][]float64 {
	r := rand.New(rand.NewPCG(9, 10))
	gen := func(n int, f func(i int) float64) []float64 {
		c := make([]float64, n)
		for i := range c {
			c[i] = f(i)
		}
		return c
	}
	sub := math.SmallestNonzeroFloat64
	negz := math.Copysign(0, -1)
	cs := map[string][]float64{
		"empty":      {},
		"one":        {4},
		"random":     gen(1774, func(int) float64 { return r.NormFloat64() * 1e3 }),
		"fraction":   gen(2000, func(int) float64 { return r.Float64() }),
		"constant":   gen(500, func(int) float64 { return 7.25 }),
		"duplicates": gen(2000, func(int) float64 { return []float64{0.5, 3, -2.25, 1e9}[r.IntN(4)] }),
		"zeros":      gen(1000, func(int) float64 { return []float64{0, negz, 1, -1, negz, 0}[r.IntN(6)] }),
		"subnormal": gen(1500, func(int) float64 {
			return []float64{0, sub, 2 * sub, -sub, math.SmallestNonzeroFloat64 * float64(r.IntN(1<<20)), negz}[r.IntN(6)]
		}),
		"durations":   gen(1774, func(int) float64 { return float64(r.IntN(2)) * math.Ldexp(r.Float64(), -r.IntN(20)) }),
		"small-whole": gen(1774, func(int) float64 { return float64(r.IntN(40)) }),
		"bytes":       gen(1774, func(int) float64 { return float64(r.Int64N(1 << 29)) }),
		"big-whole":   gen(3000, func(int) float64 { return float64(r.Int64N(1 << 53)) }),
		"signed":      gen(1774, func(int) float64 { return (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(40)-20)) }),
		"crowded":     gen(1500, func(i int) float64 { return 1 + r.Float64()*[]float64{1, 1e-6, 1e-13}[i%3] }),
		"extremes": gen(800, func(int) float64 {
			return []float64{math.MaxFloat64, -math.MaxFloat64, math.Inf(1), math.Inf(-1), 0, 1}[r.IntN(6)]
		}),
	}
	rows := zeekCohortRows()
	buf := new(trainBuf)
	cols, _, ok := columnsChecked(&buf.cols, rows, len(rows[0]))
	if !ok {
		t.Fatal("Zeek fixture rejected")
	}
	ucols, nu, _ := uniqueColumnsIn(&buf.ucols, &buf.unique, cols, len(rows))
	for j, c := range ucols {
		cs["zeek-"+string(rune('a'+j))] = slices.Clone(c[:nu])
	}
	return cs
}

// TestRadixOrderIsStableSort: radixOrder gives the stable sort by key,
// ties in position order, on every column shape and on prefixes of odd
// lengths of them.
func TestRadixOrderIsStableSort(t *testing.T) {
	for name, col := range radixColumns(t) {
		for _, n := range []int{len(col), len(col) / 3, min(len(col), 65)} {
			c := col[:n]
			order := make([]int32, n)
			for i := range order {
				order[i] = -1
			}
			radixOrder(c, order, make([]int32, n), make([]uint64, 2*n))
			if want := stableKeyOrder(c); !slices.Equal(order, want) {
				t.Fatalf("%s, %d values: order differs from the stable sort", name, n)
			}
		}
	}
}

// TestBucketOrder: bucketOrder, where it does not give up, gives the
// stable sort by key; it gives up on crowded buckets (many close values
// in a wide range) and not on the Zeek fixture's float columns, so that
// radixOrder's tests pass through both its ways.
func TestBucketOrder(t *testing.T) {
	sorted, gaveUp := map[string]bool{}, map[string]bool{}
	for name, col := range radixColumns(t) {
		n := len(col)
		if n < 2 {
			continue
		}
		keys := make([]uint64, 2*n)
		differ := sortKeys(col, keys[:n], false)
		if differ == 0 {
			continue
		}
		order := make([]int32, n)
		for i := range order {
			order[i] = int32(i)
		}
		if !bucketOrder(keys[:n], keys[n:], order, make([]int32, n), differ) {
			gaveUp[name] = true
			continue
		}
		sorted[name] = true
		plain := make([]int32, n)
		for i := range plain {
			plain[i] = int32(i)
		}
		k := make([]uint64, n)
		sortKeys(col, k, false)
		slices.SortStableFunc(plain, func(a, b int32) int { return cmp.Compare(k[a], k[b]) })
		if !slices.Equal(order, plain) {
			t.Fatalf("%s: bucketOrder differs from the stable sort by key", name)
		}
	}
	for _, name := range []string{"zeek-i", "zeek-j", "zeek-k", "durations", "fraction", "random"} {
		if !sorted[name] {
			t.Errorf("%s: bucketOrder gave up", name)
		}
	}
	if !gaveUp["crowded"] {
		t.Error("bucketOrder did not give up on crowded buckets")
	}
	t.Logf("sorted %v; gave up %v", slices.Sorted(maps.Keys(sorted)), slices.Sorted(maps.Keys(gaveUp)))
}

// FuzzRadixOrder: radixOrder is the stable sort by key on any bits.
func FuzzRadixOrder(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0x80, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24})
	f.Fuzz(func(t *testing.T, data []byte) {
		col := make([]float64, 0, len(data)/8)
		for len(data) >= 8 {
			bits := uint64(data[0]) | uint64(data[1])<<8 | uint64(data[2])<<16 | uint64(data[3])<<24 |
				uint64(data[4])<<32 | uint64(data[5])<<40 | uint64(data[6])<<48 | uint64(data[7])<<56
			data = data[8:]
			if v := math.Float64frombits(bits); v == v { // training rejects NaN
				col = append(col, v)
			}
		}
		n := len(col)
		order := make([]int32, n)
		radixOrder(col, order, make([]int32, n), make([]uint64, 2*n))
		want := stableKeyOrder(col)
		if !slices.Equal(order, want) {
			t.Fatalf("%v: order %v, want %v", col, order, want)
		}
		// bucketOrder itself, which radixOrder uses from bucketMin values
		// on: on keys of floats (whole values too, as their float bits).
		keys := make([]uint64, 2*n)
		differ := sortKeys(col, keys[:n], false)
		for i := range order {
			order[i] = int32(i)
		}
		if differ != 0 && bucketOrder(keys[:n], keys[n:], order, make([]int32, n), differ) {
			k := make([]uint64, n)
			sortKeys(col, k, false)
			for i := range want {
				want[i] = int32(i)
			}
			slices.SortStableFunc(want, func(a, b int32) int { return cmp.Compare(k[a], k[b]) })
			if !slices.Equal(order, want) {
				t.Fatalf("%v: bucketOrder %v, want %v", col, order, want)
			}
		}
	})
}

func BenchmarkRadixOrder(b *testing.B) {
	cs := radixColumns(b)
	for _, name := range []string{"zeek-i", "zeek-j", "zeek-h", "zeek-a", "durations", "fraction"} {
		col := cs[name]
		n := len(col)
		order, tmp, keys := make([]int32, n), make([]int32, n), make([]uint64, 2*n)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				radixOrder(col, order, tmp, keys)
			}
		})
	}
}

// TestWholeSortKeys: wholeSortKeys returns isWhole of every value, writes
// what sortKeys writes with it (in a when whole, else in b) and returns
// its differ, for radixOrder's
// columns, each also with a value that is not whole (NaN, ±Inf, 2⁵³,
// -1, ±0.5, 2⁶⁴), or -0 (whole), put in it.
func TestWholeSortKeys(t *testing.T) {
	for name, col := range radixColumns(t) {
		cols := [][]float64{col}
		for _, odd := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1 << 53, -1, 0.5, -0.5, math.Copysign(0, -1), 1 << 64} {
			if len(col) > 0 {
				c := slices.Clone(col)
				c[len(c)/2] = odd
				cols = append(cols, c)
			}
		}
		for _, c := range cols {
			whole := true
			for _, v := range c {
				whole = whole && isWhole(v)
			}
			want := make([]uint64, len(c))
			wdiffer := sortKeys(c, want, whole)
			a, b := make([]uint64, len(c)), make([]uint64, len(c))
			gwhole, differ := wholeSortKeys(c, a, b)
			keys := a
			if !gwhole {
				keys = b
			}
			if gwhole != whole || differ != wdiffer || !slices.Equal(keys, want) {
				t.Fatalf("%s: whole %v, differ %x, keys equal %v; want whole %v, differ %x",
					name, gwhole, differ, slices.Equal(keys, want), whole, wdiffer)
			}
		}
	}
}

// TestFloatKeys: keyFloat gives back every float floatKey keyed, bit for
// bit (signed zeros, infinities, NaNs, subnormals), and the keys order
// the non-NaN floats as < does, -0 before +0.
func TestFloatKeys(t *testing.T) {
	vals := []float64{math.Inf(-1), -math.MaxFloat64, -1.5, -math.SmallestNonzeroFloat64, math.Copysign(0, -1), 0,
		math.SmallestNonzeroFloat64, 1, 1.5, math.MaxFloat64, math.Inf(1)}
	for i, v := range vals {
		if i > 0 && floatKey(math.Float64bits(vals[i-1])) >= floatKey(math.Float64bits(v)) {
			t.Errorf("key of %v not below key of %v", vals[i-1], v)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 100000 {
		b := rng.Uint64()
		if i < len(vals) {
			b = math.Float64bits(vals[i])
		}
		if got := math.Float64bits(keyFloat(floatKey(b))); got != b {
			t.Fatalf("bits %#x come back as %#x", b, got)
		}
	}
}
