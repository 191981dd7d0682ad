package models

import "sync"

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
	ucols, nu, of := uniqueColumns(cols, n)
	return fitIsolationUnique(ucols, nu, of, n, nTrees, depth, sample, seed)
}

// fitIsolationUnique is fitIsolationColumns on the nu distinct rows ucols
// of n rows, row i being distinct row of[i] (of nil: the rows are
// distinct), as uniqueColumns returns them; they must be distinct (a node
// of equal rows under different indices would draw features forever).
// Rows are drawn from the n rows, as golearn draws them, and stand for
// their distinct row from then on:
// nothing golearn computes from a node's rows tells equal rows apart
// (minimum, maximum, counts; a split value drawn between a minimum and a
// maximum of -0 and +0 is the same either way), and rows are all equal
// exactly when their distinct rows are the same one.
func fitIsolationUnique(ucols [][]float64, nu int, of []int32, n, nTrees, depth, sample int, seed int64) []Tree {
	trees, _ := fitIsolationCompiled(ucols, nu, of, n, nTrees, depth, sample, seed, nil)
	return trees
}

// fitIsolationCompiled is fitIsolationUnique, and the trees compiled for
// scoring: what compile(KindIForest, len(ucols), trees, sample) returns
// (TestFitCompiledIsCompile), filled as the trees are copied out of the
// fit's arena rather than read back from them, with the leaves' depths
// the fit knew. varying, when not nil, tells which features' values are
// not all equal (uniqueBuf.varying), which it otherwise scans ucols for.
func fitIsolationCompiled(ucols [][]float64, nu int, of []int32, n, nTrees, depth, sample int, seed int64, varying []uint64) ([]Tree, *compiled) {
	width := len(ucols)
	words := (width + 63) / 64
	b := isoBuilder{
		cols:  ucols,
		width: width,
		depth: depth,
		rng:   newStream(seed),
		feats: newBound(width),
		data:  make([]int32, sample),
		tmp:   make([]int32, sample),
		vals:  make([]float64, sample),
		words: words,
		// level d (the root at 1) holds the node's at depth d; level 0
		// the features constant over all rows.
		constant: make([]uint64, (depth+2)*words),
	}
	// A feature constant over every row is constant on every node: its
	// minimum and maximum need no scan, and it never tells rows apart.
	for j, col := range ucols {
		if varying != nil {
			if varying[j/64]&(1<<(j%64)) == 0 {
				b.constant[j/64] |= 1 << (j % 64)
			}
			continue
		}
		c := true
		for _, v := range col[:nu] {
			if v != col[0] {
				c = false
				break
			}
		}
		if c {
			b.constant[j/64] |= 1 << (j % 64)
		}
	}
	out := make([]Tree, nTrees)
	// The trees are grown one after the other in an arena of node records
	// (one append a node, not five), recycled from one fit to the next,
	// then copied out into arrays of their total size: two allocations
	// for the trees rather than two per tree.
	arena := fitArenas.Get().(*[]isoNode)
	defer fitArenas.Put(arena)
	b.nodes = (*arena)[:0]
	ends := make([]int, nTrees)
	rows := newBound(n)
	for i := range out {
		b.rng.sample(b.data, &rows, of)
		b.base = len(b.nodes)
		if !b.splits(b.data, 1) {
			b.nodes = append(b.nodes,
				isoNode{feature: 0, size: int32(sample), left: 1, right: 2},
				isoNode{feature: -1, left: -1, right: -1, depth: 1},
				isoNode{feature: -1, left: -1, right: -1, depth: 1})
		} else {
			b.grow(b.data, b.tmp, 1)
		}
		ends[i] = len(b.nodes)
	}
	*arena = b.nodes
	total := len(b.nodes)
	ints := make([]int, 4*total)
	feature, left, right, size := ints[:total], ints[total:2*total], ints[2*total:3*total], ints[3*total:]
	split := make([]float64, total)
	// The compiled model, as compile lays it out (see there).
	m := &compiled{
		kind:  KindIForest,
		width: width,
		nodes: make([]node, total),
		roots: make([]int32, 0, nTrees),
		size:  size, // the trees' Size arrays, end to end
		norm:  cFactor(sample),
	}
	cf := make([]float64, min(sample, 4096)+1) // compile's memo of cFactor
	var maxDepth int32
	lo := 0
	for i, hi := range ends {
		base := int32(lo)
		m.roots = append(m.roots, base)
		for k := lo; k < hi; k++ {
			nd := &b.nodes[k]
			f := nd.feature
			feature[k], split[k], left[k], right[k], size[k] = int(f), nd.split, int(nd.left), int(nd.right), int(nd.size)
			leaf := f >> 31
			self := int32(k)
			v := nd.split
			if f < 0 {
				// An isolation leaf's path length, as compile.
				maxDepth = max(maxDepth, nd.depth)
				v = float64(nd.depth)
				if s := int(nd.size); s > 1 {
					if s < len(cf) {
						if cf[s] == 0 {
							cf[s] = cFactor(s)
						}
						v += cf[s]
					} else {
						v += cFactor(s)
					}
				}
			}
			m.nodes[k] = node{
				v:  v,
				f:  f,
				c:  [2]int32{(base+nd.left)&^leaf | self&leaf, (base+nd.right)&^leaf | self&leaf},
				wf: f &^ leaf,
			}
		}
		// Full slice expressions: no tree's array reaches into the next.
		out[i] = Tree{
			Feature: feature[lo:hi:hi],
			Split:   split[lo:hi:hi],
			Left:    left[lo:hi:hi],
			Right:   right[lo:hi:hi],
			Size:    size[lo:hi:hi],
		}
		lo = hi
	}
	if maxDepth <= maxWalkDepth {
		m.walk, m.depth = m.nodes, int(maxDepth)
	}
	return out, m
}

// isoNode is a node of a tree being grown: Tree's fields, its children
// as indices from the tree's first node (-1 on a leaf).
type isoNode struct {
	split                      float64
	feature, size, left, right int32
	// depth is a leaf's: the splits above it.
	depth int32
}

// fitArenas recycles the arenas fitIsolationUnique grows its trees in.
var fitArenas = sync.Pool{New: func() any { return new([]isoNode) }}

type isoBuilder struct {
	cols  [][]float64 // by feature, then distinct row
	width int
	depth int
	rng   *stream // rand.New(rand.NewSource(seed))
	feats bound   // rng.intn(width)
	data  []int32 // the current tree's sample, as indices into cols
	tmp   []int32 // scratch for partitions
	// vals holds the values of the feature minMax scanned last, in the
	// order of the rows it scanned: the node's partition reads them in
	// order rather than gathering them from the column again.
	vals []float64
	// constant holds a bit set of features by depth, words uint64 each:
	// at depth d, the features known to be constant on the node being
	// grown there. A feature constant on a node is constant on its
	// subtree, so a node starts from its parent's set, and a feature
	// drawn again (golearn draws until one is not constant on the node)
	// or in the subtree is not scanned again.
	words    int
	constant []uint64
	// nodes is the arena the trees are grown in, one after the other;
	// base is where the tree being grown starts: its nodes' children are
	// indices from there.
	nodes []isoNode
	base  int
}

// splits reports whether golearn splits a node at depth d holding data:
// within the depth limit, more than one row, and not all rows equal
// (rows are equal when they are the same distinct row).
func (b *isoBuilder) splits(data []int32, d int) bool {
	if d > b.depth || len(data) <= 1 {
		return false
	}
	first := data[0]
	for _, i := range data[1:] {
		if i != first {
			return true
		}
	}
	return false
}

// grow adds the node for data at depth d, which splits, and its subtrees
// to b.nodes; it returns the node's index in its tree. tmp is scratch as
// long as data; both are reordered.
func (b *isoBuilder) grow(data, tmp []int32, d int) int32 {
	var (
		feature int
		split   float64
		lo, hi  float64
	)
	known := b.constant[d*b.words : (d+1)*b.words]
	copy(known, b.constant[(d-1)*b.words:d*b.words])
	for lo == hi {
		// Features known constant on the node are drawn and passed over
		// in feature, with selectValue's draw each (lo = hi: its value
		// does not matter).
		feature = b.rng.feature(&b.feats, known)
		if lo, hi = b.minMax(feature, data); lo == hi {
			known[feature/64] |= 1 << (feature % 64)
		}
		split = selectValue(b.rng, lo, hi)
	}
	// Partition into tmp, rows going left from the front, the others
	// from the back (partition, as compiled.route). golearn keeps both
	// sides in order; nothing it computes from a node's rows depends on
	// their order (minimum, maximum, all equal, counts), so the trees are
	// the same. The loop above ended on minMax of feature (a feature
	// known constant never ends it), so b.vals holds its values.
	l := partition(tmp, data, b.vals[:len(data)], split)
	idx := len(b.nodes)
	b.nodes = append(b.nodes, isoNode{feature: int32(feature), split: split, size: int32(len(data))})
	var c int32
	if left := tmp[:l]; b.splits(left, d+1) {
		c = b.grow(left, data[:l], d+1)
	} else {
		c = b.leaf(len(left), d)
	}
	b.nodes[idx].left = c
	if right := tmp[l:]; b.splits(right, d+1) {
		c = b.grow(right, data[l:], d+1)
	} else {
		c = b.leaf(len(right), d)
	}
	b.nodes[idx].right = c
	return int32(idx - b.base)
}

// leaf adds a leaf of size rows below depth splits and returns its index
// in its tree.
func (b *isoBuilder) leaf(size, depth int) int32 {
	b.nodes = append(b.nodes, isoNode{feature: -1, size: int32(size), left: -1, right: -1, depth: int32(depth)})
	return int32(len(b.nodes) - 1 - b.base)
}

// minMax is golearn's minMax over the rows of data; it keeps their values
// in b.vals.
func (b *isoBuilder) minMax(feature int, data []int32) (float64, float64) {
	return gatherMinMax(b.cols[feature], data, b.vals[:len(data)])
}

// gatherMinMaxGo writes col[data[k]] into vals[k] and returns their
// minimum and maximum: gatherMinMax where it has no assembly, and its
// reference. Not inlined: in grow, its loop's registers would be grow's,
// shuffled and reloaded from the stack every row.
//
//go:noinline
func gatherMinMaxGo(col []float64, data []int32, vals []float64) (float64, float64) {
	vals = vals[:len(data)]
	lo, hi := col[data[0]], col[data[0]]
	for k, i := range data {
		v := col[i]
		vals[k] = v
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
func selectValue(rng *stream, lo, hi float64) float64 {
	val := lo + (rng.float64() * (hi - lo))
	if val == lo {
		val += 0.000001
	} else if val == hi {
		val -= 0.000001
	}
	return val
}
