package models

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// poisonBitBufs puts into the pool of bit set scratch one whose buffers
// hold garbage (a scoring reusing it must set everything it reads).
func poisonBitBufs() {
	bb := &bitBuf{
		le: make([]uint64, 1<<16), slot: make([]int32, 1<<12), byF: make([]int32, 1<<12), start: make([]int32, 64),
		order: make([]int32, 4096), tmp: make([]int32, 4096), keys: make([]uint64, 8192), vals: make([]float64, 4096),
		at: make([]uint64, 1<<12), sets: make([]uint64, 1<<12),
	}
	for i := range bb.le {
		bb.le[i] = 0xA5A5A5A5A5A5A5A5
	}
	for i := range bb.sets {
		bb.sets[i] = ^uint64(0)
	}
	for i := range bb.at {
		bb.at[i] = ^uint64(0)
	}
	for _, s := range [][]int32{bb.slot, bb.byF, bb.start, bb.order, bb.tmp} {
		for i := range s {
			s[i] = int32(i*7919) % 1000
		}
	}
	for i := range bb.vals {
		bb.vals[i] = math.NaN()
	}
	bitBufs.Put(bb)
	rb := new(routeBuf)
	for i := range rb.acc {
		rb.acc[i] = math.NaN()
		rb.idx[i], rb.tmp[i] = int32(i*31)&routeMask, int32(i*17)&routeMask
	}
	routeBufs.Put(rb)
}

// TestScoreBitsMatchesRoute: scoring with bit sets gives route's scores
// bit for bit, whatever the share of the rows routed as lists (none,
// some, all), for models of every fixture's shape, a random forest, row
// counts around a word and a block, ranges not starting at a block, and
// rows holding the models' own split values (which go left), -0 and +0.
func TestScoreBitsMatchesRoute(t *testing.T) {
	type model struct {
		name string
		a    *Artifact
		rows [][]float64
	}
	var ms []model
	for _, f := range fitFixtures() {
		names := make([]string, len(f.rows[0]))
		for j := range names {
			names[j] = fmt.Sprintf("f%02d", j)
		}
		a, err := TrainIsolationForest(f.rows, names, IForestOptions{Seed: 9, Trees: 40})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, model{f.name, a, f.rows})
	}
	dup := dupRows(5, 3000, 12, 4)
	names := make([]string, 12)
	for j := range names {
		names[j] = string(rune('a' + j))
	}
	a, err := TrainIsolationForest(dup, names, IForestOptions{Seed: 2, Trees: 30, Depth: 12})
	if err != nil {
		t.Fatal(err)
	}
	ms = append(ms, model{"dup-depth12", a, dup})
	rows, labels, rnames := synth(41, 2500, 200, 10, 2, 4, 6)
	rf, err := TrainRandomForest(rows, labels, rnames, ForestOptions{Seed: 4, Trees: 6})
	if err != nil {
		t.Fatal(err)
	}
	if rf.m.walk != nil {
		ms = append(ms, model{"forest", rf, rows})
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, mc := range ms {
		m := mc.a.m
		if m.walk == nil {
			t.Fatalf("%s: no walk layout", mc.name)
		}
		// The training rows, then rows whose values are split values of
		// the model (or their negated zero) mixed with training values.
		var splits [][]float64
		for i := range m.nodes {
			if nd := m.nodes[i]; nd.f >= 0 {
				for len(splits) <= int(nd.f) {
					splits = append(splits, nil)
				}
				splits[nd.f] = append(splits[nd.f], nd.v)
			}
		}
		rs := slices.Clone(mc.rows)
		for range 2*routeBlock + 300 {
			row := slices.Clone(mc.rows[r.IntN(len(mc.rows))])
			for j := range row {
				switch {
				case j < len(splits) && len(splits[j]) > 0 && r.IntN(2) == 0:
					row[j] = splits[j][r.IntN(len(splits[j]))]
				case row[j] == 0 && r.IntN(2) == 0:
					row[j] = math.Copysign(0, -1)
				}
			}
			rs = append(rs, row)
		}
		cols := columns(rs)
		n := len(rs)
		for _, rg := range [][2]int{{0, 1}, {0, 2}, {3, 66}, {0, 64}, {0, 65}, {0, 1000}, {0, len(mc.rows)}, {len(mc.rows), n}, {0, routeBlock}, {1, routeBlock + 2}, {7, n}} {
			lo, hi := rg[0], min(rg[1], n)
			want := make([]float64, n)
			m.routeRange(want, cols, lo, hi)
			// The rows' orders by feature, which a block from row 0
			// uses (distinctOrders, as the trainer gives them).
			var orders [][]int32
			if lo == 0 {
				orders = distinctOrders(new(trainBuf), cols, hi, nil)
			}
			for _, listMax := range []int{0, 1, bitListMax, 300, 1 << 30} {
				for _, ord := range [][][]int32{nil, orders} {
					poisonBitBufs()
					got := make([]float64, n)
					m.scoreBits(got, cols, lo, hi, listMax, ord)
					for i := range got {
						if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
							t.Fatalf("%s, rows [%d, %d), lists up to %d rows, orders given %v: row %d scores %v, route %v", mc.name, lo, hi, listMax, ord != nil, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestFlatten: flatten lists the rows of a set AND (NOT) a mask in order,
// for sets from empty to full.
func TestFlatten(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, words := range []int{1, 2, 5, 32} {
		for _, density := range []float64{0, 0.02, 0.3, 0.9, 1} {
			set, mask := randomSetMask(r, words, density)
			for _, not := range []bool{false, true} {
				var want []int32
				for w := range set {
					x := set[w] & mask[w]
					if not {
						x = set[w] &^ mask[w]
					}
					for x != 0 {
						want = append(want, int32(w*64+bits.TrailingZeros64(x)))
						x &= x - 1
					}
				}
				dst := make([]int32, words*64+64)
				k := flatten(dst, set, mask, not)
				if !slices.Equal(dst[:k], want) {
					t.Fatalf("%d words, density %v, not %v: %v, want %v", words, density, not, dst[:k], want)
				}
			}
		}
	}
}

// TestAddSparse: addSparse adds a value to the sums of the rows of a set
// AND (NOT) a mask, as flatten and addLeaf do, bit for bit, and leaves the
// other sums as they were, for sets from empty to full (the rows of a
// word past its last one get +0).
func TestAddSparse(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, words := range []int{1, 2, 5, 32} {
		for _, density := range []float64{0, 0.02, 0.3, 0.9, 1} {
			set, mask := randomSetMask(r, words, density)
			for _, not := range []bool{false, true} {
				var got, want [routeBlock]float64
				for i := range got {
					got[i] = float64(r.IntN(1000)) * r.Float64() // sums >= +0
					want[i] = got[i]
				}
				v := r.Float64() * 10
				var idx [routeBlock]int32
				addLeaf(&want, &idx, 0, flatten(idx[:], set, mask, not), v)
				addSparse(&got, set, mask, flipOf(not), v)
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Fatalf("%d words, density %v, not %v: sum %d is %v, want %v", words, density, not, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestPrefixLE: prefixLE and prefixLEs count the sorted values <= v, with
// repeated values, v between, on and beyond them.
func TestPrefixLE(t *testing.T) {
	for n := 1; n < 70; n++ {
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(i / 3)
		}
		for v := -1.0; v < float64(n/3+2); v += 0.25 {
			var vs [searchLanes]float64
			for l := range vs {
				vs[l] = v + float64(l)*0.5
			}
			got := prefixLEs(s, &vs)
			for l, x := range vs {
				want := 0
				for _, y := range s {
					if y <= x {
						want++
					}
				}
				if p := prefixLE(s, x); p != want {
					t.Fatalf("n %d, v %v: prefixLE %d, want %d", n, x, p, want)
				}
				if got[l] != want {
					t.Fatalf("n %d, v %v: prefixLEs %d, want %d", n, x, got[l], want)
				}
			}
		}
	}
}

// TestBaselinesSorted: the baselines from the distinct rows' orders are
// baselinesColumns', bit for bit: rows repeating or not, constant columns,
// -0 beside +0 (in a column and between a row and its distinct row), and
// fewer rows than the orders' pool buffer holds.
func TestBaselinesSorted(t *testing.T) {
	var sets [][][]float64
	for _, f := range fitFixtures() {
		sets = append(sets, f.rows, f.rows[:77])
	}
	for _, c := range pinCases() {
		sets = append(sets, c.rows)
	}
	sets = append(sets, dupRows(8, 2000, 12, 3), dupRows(9, 500, 6, 1<<20), dupRows(10, 40, 3, 1))
	// -0 only in rows whose distinct row holds +0: baselinesColumns'
	// median is -0.
	zeros := make([][]float64, 20)
	for i := range zeros {
		zeros[i] = []float64{float64(i % 2), float64(i % 4 / 3), 5, 0}
		if i >= 4 && zeros[i][1] == 0 {
			zeros[i][1] = math.Copysign(0, -1)
		}
		if i >= 3 {
			zeros[i][3] = math.Copysign(0, -1) // a constant column, -0 and +0
		}
	}
	if b := baselinesColumns(columns(zeros), len(zeros)); !math.Signbit(b[1].Median) || !math.Signbit(b[3].Median) {
		t.Fatalf("the -0 case's medians are %v and %v, want -0", b[1].Median, b[3].Median)
	}
	sets = append(sets, zeros)
	// Constant columns (baselinesOf's shortcut) of odd and even length,
	// among them a subnormal value, whose halves do not add up to it.
	for _, n := range []int{20, 21} {
		cs := make([][]float64, n)
		for i := range cs {
			cs[i] = []float64{5e-324, 1e100, -3, 0, float64(i), math.SmallestNonzeroFloat64 * 3}
		}
		sets = append(sets, cs)
	}
	// Columns of runs (baselineRuns): skewed counts mostly 0 (MAD 0, the
	// mean deviation), few values repeated (medians between runs and
	// within them), negative and fractional values, rows repeated whole,
	// odd and even row counts.
	r := rand.New(rand.NewPCG(7, 8))
	for k := range 200 {
		n := MinRows + r.IntN(300)
		rows := make([][]float64, n)
		for i := range rows {
			if i > 0 && r.IntN(4) == 0 {
				rows[i] = rows[r.IntN(i)] // a repeated row
				continue
			}
			rows[i] = []float64{
				float64(r.IntN(2+k%5) * r.IntN(2) * r.IntN(2)),
				float64(r.IntN(3+k%4)) - 1.5,
				float64(r.IntN(1+k%50)) / 3,
				(r.Float64() - 0.5) * 1e3,
				float64(b2i(r.IntN(20) == 0) * (1 + r.IntN(1000))),
			}
		}
		sets = append(sets, rows)
	}
	buf := new(trainBuf)
	for s, rows := range sets {
		cols := columns(rows)
		n := len(rows)
		ucols, nu, of := uniqueColumns(cols, n)
		want := baselinesColumns(cols, n)
		// negZero as columnsChecked reports it, and true (scan every
		// column) whatever the values.
		_, negZero, _ := columnsChecked(nil, rows, len(rows[0]))
		for _, nz := range []bool{negZero, true} {
			orders := distinctOrders(buf, ucols, nu, nil)
			var ub uniqueBuf
			uniqueColumnsIn(nil, &ub, cols, n)
			if told := distinctOrders(new(trainBuf), ucols, nu, ub.varying); !reflect.DeepEqual(told, orders) {
				t.Fatalf("set %d: the orders differ with the varying columns told", s)
			}
			got := baselinesSorted(buf, cols, n, ucols, nu, of, orders, nz)
			for j := range want {
				w, g := want[j], got[j]
				if math.Float64bits(w.Median) != math.Float64bits(g.Median) || math.Float64bits(w.MAD) != math.Float64bits(g.MAD) || math.Float64bits(w.Scale) != math.Float64bits(g.Scale) {
					t.Fatalf("set %d (%d rows, %d distinct), feature %d, negZero %v: %+v, want %+v", s, n, nu, j, nz, g, w)
				}
			}
		}
	}
}

// TestSortRows: sortRows orders the rows by value (-0 and +0 together)
// for whole, fractional, negative and mixed columns, each row once.
func TestSortRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	gens := map[string]func() float64{
		"small-whole": func() float64 { return float64(r.IntN(40)) },
		"big-whole":   func() float64 { return float64(r.Int64N(1 << 40)) },
		"fraction":    func() float64 { return r.Float64() },
		"signed":      func() float64 { return (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(20)-10)) },
		"zeros":       func() float64 { return []float64{0, math.Copysign(0, -1), 1, -1}[r.IntN(4)] },
		"constant":    func() float64 { return 3 },
	}
	for name, gen := range gens {
		for _, n := range []int{1, 2, 63, 300, routeBlock} {
			col := make([]float64, n)
			for i := range col {
				col[i] = gen()
			}
			bb := &bitBuf{order: make([]int32, n), tmp: make([]int32, n), keys: make([]uint64, 2*n)}
			bb.sortRows(col)
			seen := make([]bool, n)
			for k, i := range bb.order {
				if seen[i] {
					t.Fatalf("%s, %d rows: row %d twice", name, n, i)
				}
				seen[i] = true
				if k > 0 && col[i] < col[bb.order[k-1]] {
					t.Fatalf("%s, %d rows: %v after %v", name, n, col[i], col[bb.order[k-1]])
				}
			}
		}
	}
}

// randomSetMask returns a set of words*64 rows, each in it with the
// given probability, and a mask holding half of them at random.
func randomSetMask(r *rand.Rand, words int, density float64) (set, mask []uint64) {
	set, mask = make([]uint64, words), make([]uint64, words)
	for w := range set {
		for b := range 64 {
			if r.Float64() < density {
				set[w] |= 1 << b
			}
			if r.IntN(2) == 0 {
				mask[w] |= 1 << b
			}
		}
	}
	return set, mask
}
