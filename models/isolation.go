package models

import "math/rand"

// fitIsolation fits an isolation forest on rows exactly as golearn's
// IsolationForest.Fit does after rand.Seed(seed) — the same algorithm
// drawing the same values in the same order from a math/rand source seeded
// with seed — and returns its trees laid out as the golearn reference of
// the tests reads golearn's (golearn_ref_test.go;
// TestFitIsolationMatchesGolearn compares the two on many shapes). It
// draws from its own source: no lock, no GODEBUG setting, nothing another
// goroutine can disturb, and no allocation per node beyond the tree's.
//
// golearn's algorithm: each tree draws sample rows with replacement
// (rand.Intn(len(rows)) each), then grows from the root: a node at depth d
// (the root at 1) splits when d <= depth, it holds more than one row and
// its rows are not all equal; it draws a feature (rand.Intn(width)) and a
// value between the feature's minimum and maximum over its rows (min +
// rand.Float64()·(max − min), nudged by 1e-6 off either end), drawing both
// again until the feature is not constant on its rows; rows with value <=
// split go left. The left subtree is grown before the right one. A root
// that does not split is kept as Feature 0, Threshold 0 with two empty
// leaves.
func fitIsolation(rows [][]float64, nTrees, depth, sample int, seed int64) []Tree {
	return fitIsolationColumns(columns(rows), len(rows), nTrees, depth, sample, seed)
}

// fitIsolationColumns is fitIsolation on the n rows held column-major in
// cols (columns).
func fitIsolationColumns(cols [][]float64, n, nTrees, depth, sample int, seed int64) []Tree {
	width := len(cols)
	b := isoBuilder{
		cols:  cols,
		width: width,
		depth: depth,
		rng:   rand.New(rand.NewSource(seed)),
		data:  make([]int32, sample),
		tmp:   make([]int32, sample),
		// node numbers start at 1: 0 in scanned is no node.
		scanned: make([]uint64, width),
		lo:      make([]float64, width),
		hi:      make([]float64, width),
	}
	// A feature constant over every row is constant on every node: its
	// minimum and maximum need no scan, and it never tells rows apart.
	b.constant = make([]bool, width)
	for j, col := range cols {
		c := true
		for _, v := range col[:n] {
			if v != col[0] {
				c = false
				break
			}
		}
		b.constant[j] = c
		if !c {
			b.varying = append(b.varying, j)
		}
	}
	out := make([]Tree, nTrees)
	var scratch Tree // grown once, copied out at each tree's size
	for i := range out {
		for k := range b.data {
			b.data[k] = int32(b.rng.Intn(n))
		}
		t := &scratch
		t.Feature, t.Split, t.Left, t.Right, t.Size = t.Feature[:0], t.Split[:0], t.Left[:0], t.Right[:0], t.Size[:0]
		if !b.splits(b.data, 1) {
			root := t.add(0, 0, sample, 0, false)
			t.Left[root] = t.add(-1, 0, 0, 0, false)
			t.Right[root] = t.add(-1, 0, 0, 0, false)
		} else {
			b.grow(t, b.data, b.tmp, 1)
		}
		out[i] = t.clone()
	}
	return out
}

// clone copies an isolation tree into arrays of its size, one allocation
// for the four int arrays.
func (t *Tree) clone() Tree {
	n := t.len()
	ints := make([]int, 4*n)
	c := Tree{
		Feature: ints[0*n : 1*n : 1*n],
		Left:    ints[1*n : 2*n : 2*n],
		Right:   ints[2*n : 3*n : 3*n],
		Size:    ints[3*n : 4*n : 4*n],
		Split:   make([]float64, n),
	}
	copy(c.Feature, t.Feature)
	copy(c.Left, t.Left)
	copy(c.Right, t.Right)
	copy(c.Size, t.Size)
	copy(c.Split, t.Split)
	return c
}

type isoBuilder struct {
	cols  [][]float64 // by feature, then row
	width int
	depth int
	rng   *rand.Rand
	data  []int32 // the current tree's sample, as indices into rows
	tmp   []int32 // scratch for partitions
	// lo and hi hold the minimum and maximum of each feature over the
	// rows of node number scanned[feature].
	node    uint64
	scanned []uint64
	lo, hi  []float64
	// constant marks the features constant over all rows; varying lists
	// the others.
	constant []bool
	varying  []int
}

// splits reports whether golearn splits a node at depth d holding data:
// within the depth limit, more than one row, and not all rows equal.
func (b *isoBuilder) splits(data []int32, d int) bool {
	if d > b.depth || len(data) <= 1 {
		return false
	}
	for _, j := range b.varying {
		col := b.cols[j]
		first := col[data[0]]
		for _, i := range data[1:] {
			if col[i] != first {
				return true
			}
		}
	}
	return false
}

// grow adds the node for data at depth d, which splits, and its subtrees;
// it returns the node's index. tmp is scratch as long as data; both are
// reordered.
func (b *isoBuilder) grow(t *Tree, data, tmp []int32, d int) int {
	var (
		feature int
		split   float64
		lo, hi  float64
	)
	// A feature drawn again at this node (golearn draws until one is not
	// constant on the node's rows) is not scanned again.
	b.node++
	for lo == hi {
		feature = b.rng.Intn(b.width)
		if b.constant[feature] {
			lo = b.cols[feature][data[0]]
			hi = lo
		} else if b.scanned[feature] == b.node {
			lo, hi = b.lo[feature], b.hi[feature]
		} else {
			lo, hi = b.minMax(feature, data)
			b.scanned[feature], b.lo[feature], b.hi[feature] = b.node, lo, hi
		}
		split = selectValue(b.rng, lo, hi)
	}
	// Partition into tmp, rows going left from the front, the others
	// from the back (partition, as compiled.route). golearn keeps both
	// sides in order; nothing it computes from a node's rows depends on
	// their order (minimum, maximum, all equal, counts), so the trees are
	// the same.
	l := partition(tmp, data, b.cols[feature], split)
	idx := t.add(feature, split, len(data), 0, false)
	var c int
	if left := tmp[:l]; b.splits(left, d+1) {
		c = b.grow(t, left, data[:l], d+1)
	} else {
		c = t.add(-1, 0, len(left), 0, false)
	}
	t.Left[idx] = c
	if right := tmp[l:]; b.splits(right, d+1) {
		c = b.grow(t, right, data[l:], d+1)
	} else {
		c = t.add(-1, 0, len(right), 0, false)
	}
	t.Right[idx] = c
	return idx
}

// minMax is golearn's minMax over the rows of data.
func (b *isoBuilder) minMax(feature int, data []int32) (float64, float64) {
	col := b.cols[feature]
	lo, hi := col[data[0]], col[data[0]]
	for _, i := range data[1:] {
		v := col[i]
		if v > hi {
			hi = v
		}
		if v < lo {
			lo = v
		}
	}
	return lo, hi
}

// selectValue is golearn's selectValue, drawing from rng.
func selectValue(rng *rand.Rand, lo, hi float64) float64 {
	val := lo + (rng.Float64() * (hi - lo))
	if val == lo {
		val += 0.000001
	} else if val == hi {
		val -= 0.000001
	}
	return val
}
