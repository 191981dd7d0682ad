package models

import (
	"fmt"
	"math"
	"slices"
)

// Tree is one tree of a model as an artifact stores it: parallel arrays
// indexed by node, node 0 the root. Every node but the root is the child
// of exactly one node, and a child's index is greater than its parent's.
type Tree struct {
	// Feature is the index into Artifact.Features that an internal node
	// tests, -1 for a leaf.
	Feature []int `json:"feature"`
	// Split is an internal node's split value: a row goes to the left
	// child when row[Feature] <= Split, else to the right one. 0 on leaves.
	Split []float64 `json:"split"`
	// Left and Right are an internal node's children; -1 on leaves.
	Left  []int `json:"left"`
	Right []int `json:"right"`
	// Size is how many training rows reached the node: for an isolation
	// tree, rows of the tree's sample (with repeats); for a forest tree,
	// rows of its bootstrap sample.
	Size []int `json:"size"`
	// Positive (forest trees only) is how many of those rows were labelled
	// positive.
	Positive []int `json:"positive,omitempty"`
}

func (t *Tree) len() int { return len(t.Feature) }

// add appends a node and returns its index.
func (t *Tree) add(feature int, split float64, size, positive int, forest bool) int {
	t.Feature = append(t.Feature, feature)
	t.Split = append(t.Split, split)
	t.Left = append(t.Left, -1)
	t.Right = append(t.Right, -1)
	t.Size = append(t.Size, size)
	if forest {
		t.Positive = append(t.Positive, positive)
	}
	return len(t.Feature) - 1
}

// Limits on what Load accepts, well above what the trainers produce.
const (
	maxTrees     = 10_000
	maxTreeNodes = 1 << 20
	maxNodes     = 1 << 24
)

// check validates a tree's structure for a model of width features.
func (t *Tree) check(width int, forest bool) error {
	_, err := t.checkWith(width, forest, nil)
	return err
}

// checkWith is check with scratch for its parent counts, which it returns
// for the next tree.
func (t *Tree) checkWith(width int, forest bool, scratch []int32) ([]int32, error) {
	n := t.len()
	if n == 0 {
		return scratch, fmt.Errorf("no nodes")
	}
	if n > maxTreeNodes {
		return scratch, fmt.Errorf("%d nodes, at most %d", n, maxTreeNodes)
	}
	if len(t.Split) != n || len(t.Left) != n || len(t.Right) != n || len(t.Size) != n {
		return scratch, fmt.Errorf("node arrays of different lengths")
	}
	if forest != (t.Positive != nil) {
		if forest {
			return scratch, fmt.Errorf("forest tree without positive counts")
		}
		return scratch, fmt.Errorf("isolation tree with positive counts")
	}
	if forest && len(t.Positive) != n {
		return scratch, fmt.Errorf("node arrays of different lengths")
	}
	parents := slices.Grow(scratch[:0], n)[:n]
	clear(parents)
	for i := 0; i < n; i++ {
		if t.Size[i] < 0 {
			return scratch, fmt.Errorf("node %d: negative size", i)
		}
		if forest && (t.Positive[i] < 0 || t.Positive[i] > t.Size[i]) {
			return scratch, fmt.Errorf("node %d: positive count %d outside [0, size %d]", i, t.Positive[i], t.Size[i])
		}
		f := t.Feature[i]
		if f == -1 {
			if t.Left[i] != -1 || t.Right[i] != -1 || t.Split[i] != 0 {
				return scratch, fmt.Errorf("node %d: leaf with children or a split", i)
			}
			if forest && t.Size[i] == 0 {
				return scratch, fmt.Errorf("node %d: empty forest leaf", i)
			}
			continue
		}
		if f < 0 || f >= width {
			return scratch, fmt.Errorf("node %d: feature %d out of range [0, %d)", i, f, width)
		}
		if math.IsNaN(t.Split[i]) || math.IsInf(t.Split[i], 0) {
			return scratch, fmt.Errorf("node %d: split is not finite", i)
		}
		for _, c := range [2]int{t.Left[i], t.Right[i]} {
			if c <= i || c >= n {
				return scratch, fmt.Errorf("node %d: child %d out of range (%d, %d)", i, c, i, n)
			}
			parents[c]++
		}
	}
	for i := 1; i < n; i++ {
		if parents[i] != 1 {
			return scratch, fmt.Errorf("node %d has %d parents, want 1", i, parents[i])
		}
	}
	return parents, nil
}

// node is one node of a compiled model, laid out for every scorer:
// scoreWalk's branch-free steps read wf and c alone, the others tell
// leaves by f. One layout, rather than a second copy of every node for
// scoreWalk, halves what a compile allocates for them.
type node struct {
	v float64  // internal: split value; leaf: the leaf's value
	f int32    // split feature, -1 on a leaf
	c [2]int32 // children, as indices into compiled.nodes: c[0] when x[f] <= v, else c[1]; a leaf's are itself
	// wf is f on a split and 0 on a leaf (any valid index: both of the
	// leaf's children are the leaf), so that scoreWalk reads x[wf] at
	// every step without a branch. It fills what would be padding.
	wf int32
}

// compiled is a model laid out for scoring: every tree's nodes in one
// slice, leaves holding their final contribution.
type compiled struct {
	kind  Kind
	width int
	nodes []node
	roots []int32
	// norm is c(ψ), the average path length normalising isolation scores.
	norm float64
	// size is each node's training size (a trained model's is its trees'
	// Size arrays, which the fit lays out end to end, not a copy); value
	// each forest node's share of positives. Explain uses them.
	size  []int
	value []float64
	// walk is nodes when scoreWalk serves the model, nil for a model too
	// deep for it; depth is the deepest leaf's.
	walk  []node
	depth int
}

// eulerGamma is the constant golearn uses in cFactor, to the digits it uses
// (scores must match golearn's bit for bit).
const eulerGamma = 0.5772156649

// cFactor is the average path length of an unsuccessful search in a binary
// search tree of n points, c(n) = 2(ln(n−1) + γ) − 2(n−1)/n, computed
// exactly as golearn computes it.
func cFactor(n int) float64 {
	return 2.0*(math.Log(float64(n-1))+eulerGamma) - (float64(2.0*(n-1)) / float64(n))
}

// compile lays trees out for scoring. The trees must have passed check.
func compile(kind Kind, width int, trees []Tree, sample int) *compiled {
	total := 0
	for i := range trees {
		total += trees[i].len()
	}
	// The node arrays are filled by index in local slices (appending to
	// the fields of m stored their headers back at every node).
	m := &compiled{
		kind:  kind,
		width: width,
		nodes: make([]node, total),
		roots: make([]int32, 0, len(trees)),
		size:  make([]int, total),
	}
	if kind == KindForest {
		m.value = make([]float64, total)
	} else {
		m.norm = cFactor(sample)
	}
	var (
		depth    []int32
		maxDepth int32
		// cf memoises cFactor by leaf size (sizes are at most the
		// sample, usually 256; larger ones are computed each time).
		cf []float64
	)
	if kind == KindIForest {
		cf = make([]float64, min(sample, 4096)+1)
	}
	base := int32(0)
	for ti := range trees {
		t := &trees[ti]
		m.roots = append(m.roots, base)
		n := t.len()
		nodes, size := m.nodes[base:int(base)+n], m.size[base:int(base)+n]
		feature, split, left, right, tsize := t.Feature[:n], t.Split[:n], t.Left[:n], t.Right[:n], t.Size[:n]
		// Nodes keep their order (depth first, as the trainers write
		// them: a left child follows its parent).
		for i := range nodes {
			// A leaf's children are itself and its wf 0: leaf is -1 on
			// a leaf (feature -1), 0 on a split, to select them without
			// a branch (leaves and splits alternate unpredictably).
			f := int32(feature[i])
			leaf := f >> 31
			self := base + int32(i)
			nodes[i] = node{
				v:  split[i],
				f:  f,
				c:  [2]int32{(base+int32(left[i]))&^leaf | self&leaf, (base+int32(right[i]))&^leaf | self&leaf},
				wf: f &^ leaf,
			}
			size[i] = tsize[i]
		}
		if kind == KindForest {
			value := m.value[base : int(base)+n]
			for i := range nodes {
				// check guarantees Size > 0 on leaves; guard the
				// division on internal nodes all the same.
				share := 0.0
				if t.Size[i] > 0 {
					share = float64(t.Positive[i]) / float64(t.Size[i])
				}
				value[i] = share
				if nodes[i].f < 0 {
					nodes[i].v = share
				}
			}
		}
		// A child follows its parent (check), so one pass in order finds
		// every node's depth, then an isolation leaf's value and the
		// node's walk layout.
		depth = slices.Grow(depth[:0], len(nodes))[:len(nodes)]
		depth[0] = 0 // the others are set by their parent first
		for i := range nodes {
			nd := &nodes[i]
			if nd.f >= 0 {
				depth[nd.c[0]-base], depth[nd.c[1]-base] = depth[i]+1, depth[i]+1
				continue
			}
			maxDepth = max(maxDepth, depth[i])
			if kind == KindIForest {
				// An isolation leaf's path length: the split nodes above
				// it (golearn counts one per node visited) plus c(size)
				// for the points the depth limit left unseparated.
				path := float64(depth[i])
				if s := t.Size[i]; s > 1 {
					if s < len(cf) {
						if cf[s] == 0 { // c(s) > 0 for s > 1
							cf[s] = cFactor(s)
						}
						path += cf[s]
					} else {
						path += cFactor(s)
					}
				}
				nd.v = path
			}
		}
		base += int32(n)
	}
	// The walk layout (walk.go) serves models no deeper than
	// maxWalkDepth.
	if maxDepth <= maxWalkDepth {
		m.walk, m.depth = m.nodes, int(maxDepth)
	}
	return m
}

// block is how many rows the scorer walks through one tree before moving
// to the next, so that a tree's nodes stay in cache.
const block = 512

// scoreRange scores rows into dst (same length); rows must be valid. Each
// row's leaves are summed in tree order, so a row's score does not depend
// on which rows it is scored with.
func (m *compiled) scoreRange(dst []float64, rows [][]float64) {
	if m.walk != nil {
		m.scoreWalk(dst, rows)
		return
	}
	m.scoreBlocks(dst, rows)
}

// scoreBlocks is scoreRange by blocks of rows, tree by tree.
func (m *compiled) scoreBlocks(dst []float64, rows [][]float64) {
	var acc [block]float64
	nodes := m.nodes
	for lo := 0; lo < len(rows); lo += block {
		b := rows[lo:min(lo+block, len(rows))]
		a := acc[:len(b)]
		clear(a)
		for _, root := range m.roots {
			for k, x := range b {
				i := root
				for {
					nd := &nodes[i]
					if nd.f < 0 {
						a[k] += nd.v
						break
					}
					if x[nd.f] <= nd.v {
						i = nd.c[0]
					} else {
						i = nd.c[1]
					}
				}
			}
		}
		for k, s := range a {
			dst[lo+k] = m.finish(s)
		}
	}
}

// finish turns the sum of a row's leaf values into its score.
func (m *compiled) finish(sum float64) float64 {
	e := sum / float64(len(m.roots))
	if m.kind == KindIForest {
		// golearn: math.Pow(2, (-1 * E / c)).
		return pow2(-1 * e / m.norm)
	}
	return e
}

// powLn2 is the logarithm math.Pow(2, y) computes for its x: math.Log(2),
// as this build's math.Log computes it.
var powLn2 = math.Log(2)

// pow2 is math.Pow(2, y), bit for bit (TestPow2MatchesMathPow): pow's
// own steps for x = 2, without its special cases (left to math.Pow), its
// logarithm of x (powLn2) and its Ldexp (a result in the normal range
// scaled by a power of two is exact). Every score is one: it was a tenth
// of a calibration's CPU.
func pow2(y float64) float64 {
	if !(y > -1000 && y < 1000) || y == 0 || y == 1 || y == 0.5 || y == -0.5 {
		return math.Pow(2, y)
	}
	yi, yf := math.Modf(math.Abs(y))
	a1 := 1.0
	ae := 0
	if yf != 0 {
		if yf > 0.5 {
			yf--
			yi++
		}
		a1 = math.Exp(yf * powLn2)
	}
	// math.Frexp(2) is 0.5, 2; |yi| <= 1000 keeps xe far from pow's
	// overflow check (1<<12), and the result normal.
	x1, xe := 0.5, 2
	for i := int64(yi); i != 0; i >>= 1 {
		if i&1 == 1 {
			a1 *= x1
			ae += xe
		}
		x1 *= x1
		xe <<= 1
		if x1 < .5 {
			x1 += x1
			xe--
		}
	}
	if y < 0 {
		a1 = 1 / a1
		ae = -ae
	}
	return a1 * math.Float64frombits(uint64(1023+ae)<<52)
}
