package models

import (
	"math/bits"
	"slices"
	"sync"
)

// Scoring a block of rows with bit sets (scoreBits), the calibration's
// scoring: the same sums as route, bit for bit, in about half its CPU
// time on a cohort's 2 000 rows (BenchmarkCalibrate2k).
//
// route sends a block's rows down each tree as lists of row positions,
// partitioning them at every node: two stores per row and node, at about
// a nanosecond a row, every row at every level of every tree (the
// isolation trees of a cohort's windows are mostly a long spine, each
// split cutting off a few rows). Here a node's rows are a bit set of the
// block's rows, and the rows going left at a node are its rows AND the
// set of the block's rows whose value of the node's feature is <= its
// split (its le set): one AND a word of 64 rows. The le sets are built
// once per block: with the block's rows sorted by each feature's values,
// a node's le set is the rows of a prefix of that order, so one sweep
// along the order, setting the rows' bits, copies the set at each node's
// prefix length. A set of few rows costs more in words than as a list:
// the nodes expected to hold few rows get no le set, and the rows of a
// node that has few or no le set are routed as a list (route). A leaf
// adds its value to the sum of each row of its set; the trees are walked
// in order, so each row's sum adds its leaves in tree order, as route
// adds them.

// bitBuf is a goroutine's scratch for scoreBits (pooled; a few hundred
// kilobytes for a cohort model).
type bitBuf struct {
	le    []uint64  // each internal node's le set, at slot[node]·words
	slot  []int32   // by node: its le set's slot, -1 for none
	byF   []int32   // internal nodes by feature
	start []int32   // byF[start[f]:start[f+1]] are feature f's nodes
	order []int32   // the block's rows sorted by a feature's values
	tmp   []int32   // radix sort scratch
	keys  []uint64  // radix sort keys, and scratch
	vals  []float64 // a feature's values in the order of order
	// at holds a feature's nodes, each as the rows going left at it
	// (its prefix) above its index: sorted, the order of their le sets.
	at   []uint64
	sets []uint64 // the DFS's node sets, one per depth
	// rb routes the rows of sets of at most listMax rows as lists, and
	// holds the sums.
	rb      *routeBuf
	listMax int
}

var bitBufs = sync.Pool{New: func() any { return new(bitBuf) }}

// grown returns s resliced to n values when it has room for them, else a
// new slice of n; the values are not cleared.
func grown[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// scoreBits scores rows [lo, hi) of cols into dst[lo:hi] on the calling
// goroutine, as scoreColumnsRange, routing the rows of nodes with at most
// listMax of them as lists. The model must have a walk layout (m.depth
// bounds the depth of its leaves). orders, when not nil, holds for
// each feature nil or the rows [0, hi) sorted by their values of it
// (radixOrder), which a single block from row 0 uses rather than sort
// them again.
func (m *compiled) scoreBits(dst []float64, cols [][]float64, lo, hi, listMax int, orders [][]int32) {
	bb := bitBufs.Get().(*bitBuf)
	defer bitBufs.Put(bb)
	bb.listMax = listMax
	bb.rb = routeBufs.Get().(*routeBuf)
	defer func() {
		routeBufs.Put(bb.rb)
		bb.rb = nil
	}()
	if len(bb.rb.cols) < len(cols) {
		bb.rb.cols = make([][routeBlock]float64, len(cols))
	}
	for base := lo; base < hi; base += routeBlock {
		n := min(hi-base, routeBlock)
		if base != 0 || n != hi {
			orders = nil
		}
		bb.block(m, cols, base, n, orders)
		for k, s := range bb.rb.acc[:n] {
			dst[base+k] = m.finish(s)
		}
	}
}

// block sums the leaf values of rows [base, base+n) of cols into
// bb.acc[:n].
func (bb *bitBuf) block(m *compiled, cols [][]float64, base, n int, orders [][]int32) {
	words := (n + 63) / 64
	nodes := m.nodes
	width := len(cols)

	// Internal nodes by feature, and each one's slot for its le set.
	bb.start = grown(bb.start, width+2)
	clear(bb.start)
	// Only the nodes expected to hold more than twice listMax rows, by
	// their share of their tree's training rows, get an le set: walk
	// routes the others' rows as lists (and those of any node without an
	// le set, however many reach it).
	bb.slot = grown(bb.slot, len(nodes))
	internal := 0
	for t, root := range m.roots {
		end := int32(len(nodes))
		if t+1 < len(m.roots) {
			end = m.roots[t+1]
		}
		least := float64(2*bb.listMax) * float64(m.size[root]) / float64(n)
		for i := root; i < end; i++ {
			bb.slot[i] = -1 // no le set
			if f := nodes[i].f; f >= 0 && float64(m.size[i]) > least {
				bb.slot[i] = 0 // an le set, its slot assigned below
				bb.start[f+2]++
				internal++
			}
		}
	}
	for f := 2; f < len(bb.start); f++ {
		bb.start[f] += bb.start[f-1]
	}
	bb.byF = grown(bb.byF, internal)
	for i := range nodes {
		if bb.slot[i] == 0 {
			f := nodes[i].f
			s := bb.start[f+1]
			bb.byF[s] = int32(i)
			bb.slot[i] = s
			bb.start[f+1]++
		}
	}
	// bb.start[f] is now where feature f's nodes begin.
	bb.le = grown(bb.le, internal*words)
	bb.order = grown(bb.order, n)
	bb.tmp = grown(bb.tmp, n)
	bb.keys = grown(bb.keys, 2*n)
	bb.vals = grown(bb.vals, n)
	bb.at = grown(bb.at, internal)
	bb.sets = grown(bb.sets, (m.depth+1)*words)
	for f := range width {
		fn := bb.byF[bb.start[f]:bb.start[f+1]]
		if len(fn) == 0 {
			continue
		}
		col := cols[f][base : base+n]
		order := bb.order[:n]
		if f < len(orders) && len(orders[f]) == n {
			order = orders[f]
		} else {
			bb.sortRows(col)
		}
		vals := bb.vals[:n]
		for k, r := range order {
			vals[k] = col[r]
		}
		// The rows going left at a node: the prefix of vals <= its
		// split, eight searches side by side.
		at := bb.at[:0]
		j := 0
		for ; j+searchLanes <= len(fn); j += searchLanes {
			var v [searchLanes]float64
			for l := range v {
				v[l] = nodes[fn[j+l]].v
			}
			for l, a := range prefixLEs(vals, &v) {
				at = append(at, uint64(a)<<32|uint64(fn[j+l]))
			}
		}
		for _, i := range fn[j:] {
			at = append(at, uint64(prefixLE(vals, nodes[i].v))<<32|uint64(i))
		}
		// Each node's le set, the rows in order up to its prefix: the
		// nodes sorted by prefix (a few hundred, fewer than the n+1
		// prefixes a sweep looking for nodes at each would visit), the
		// rows set once each, up to the longest prefix.
		slices.Sort(at)
		set := bb.sets[:words] // scratch until the walk below
		clear(set)
		k := 0
		for _, x := range at {
			for a := int(x >> 32); k < a; k++ {
				r := order[k]
				set[r>>6] |= 1 << (r & 63)
			}
			s := int(bb.slot[uint32(x)]) * words
			copy(bb.le[s:s+words], set)
		}
	}

	// Walk each tree from the root's set, all the block's rows.
	for j, col := range cols {
		copy(bb.rb.cols[j][:n], col[base:base+n])
	}
	clear(bb.rb.acc[:n])
	root := bb.sets[:words]
	for _, r := range m.roots {
		// Every row; walk leaves the set changed.
		for w := range root {
			root[w] = ^uint64(0)
		}
		if n%64 != 0 {
			root[words-1] = 1<<(n%64) - 1
		}
		bb.walk(nodes, r, 0, n, words)
	}
}

// bitListMax is the most rows of a node that walk routes as a list
// (route) rather than splits as bit sets: for so few rows, a word of the
// set costs more than a row of the list.
const bitListMax = 64

// walk adds the leaf values of node i's subtree to the sums of the cnt
// rows of the set at depth d that reach it.
func (bb *bitBuf) walk(nodes []node, i int32, d, cnt, words int) {
	set := bb.sets[d*words : (d+1)*words]
	for {
		nd := &nodes[i]
		if nd.f < 0 {
			bb.addMasked(set, set, nd.v, false, cnt)
			return
		}
		if cnt <= bb.listMax || bb.slot[i] < 0 {
			k := flatten(bb.rb.idx[:], set, set, false)
			bb.rb.route(nodes, i, &bb.rb.idx, &bb.rb.tmp, 0, k)
			return
		}
		s := int(bb.slot[i]) * words
		le := bb.le[s : s+words]
		ln, rn := &nodes[nd.c[0]], &nodes[nd.c[1]]
		if ln.f < 0 && rn.f >= 0 {
			// A leaf on the left (a spine cutting off a few rows): the
			// right child's set first, into the next depth's, where the
			// walk continues, its count giving the leaf's: one pass
			// over the words fewer than counting the leaf's rows.
			child := bb.sets[(d+1)*words : (d+2)*words]
			right := andSet(child, set, le, true)
			bb.addMasked(set, le, ln.v, false, cnt-right)
			if right == 0 {
				return
			}
			set, d, cnt, i = child, d+1, right, nd.c[1]
			continue
		}
		left := 0
		if ln.f < 0 {
			left = bb.addMasked(set, le, ln.v, false, -1)
		} else {
			child := bb.sets[(d+1)*words : (d+2)*words]
			if left = andSet(child, set, le, false); left > 0 {
				bb.walk(nodes, nd.c[0], d+1, left, words)
			}
		}
		if rn.f < 0 {
			bb.addMasked(set, le, rn.v, true, cnt-left)
			return
		}
		// The right child's set is this node's rows not in le: in
		// place, as the walk continues there.
		andSet(set, set, le, true)
		if cnt -= left; cnt == 0 {
			return
		}
		i = nd.c[1]
	}
}

// andSet sets dst to a AND b (AND NOT b when not) and returns how many
// rows it has.
func andSet(dst, a, b []uint64, not bool) int {
	b = b[:len(a)]
	dst = dst[:len(a)]
	flip := flipOf(not)
	cnt := 0
	for w, x := range a {
		x &= b[w] ^ flip
		dst[w] = x
		cnt += bits.OnesCount64(x)
	}
	return cnt
}

// setWords writes the non-zero words of set AND mask^flip to xs, and
// their indices to ws, in order, and returns how many: each word is
// written, and kept by counting it, without a branch.
func setWords(xs *[routeBlock / 64]uint64, ws *[routeBlock / 64]int32, set, mask []uint64, flip uint64) int {
	mask = mask[:len(set)]
	nw := 0
	for w, x := range set {
		x &= mask[w] ^ flip
		xs[nw&(len(xs)-1)] = x
		ws[nw&(len(ws)-1)] = int32(w)
		nw += b2i(x != 0)
	}
	return nw
}

// flatten writes the rows of set AND mask (AND NOT mask when not) into
// dst, which must have room for 64 more, and returns how many there are.
// It has no branch that depends on the rows, which would mispredict at
// about every word: it first gathers the non-empty words (an empty one is
// written and overwritten), then writes four bits of a word at a time
// whatever the word's count (the slots past the count are overwritten or
// not read).
func flatten(dst []int32, set, mask []uint64, not bool) int {
	var xs [routeBlock / 64]uint64
	var ws [routeBlock / 64]int32
	nw := setWords(&xs, &ws, set, mask, flipOf(not))
	k := 0
	for j, x := range xs[:nw] {
		base := ws[j] << 6
		cnt := bits.OnesCount64(x)
		l := dst[k : k+64 : k+64]
		for i := 0; ; i += 4 {
			l[i] = base + int32(bits.TrailingZeros64(x))
			x &= x - 1
			l[i+1] = base + int32(bits.TrailingZeros64(x))
			x &= x - 1
			l[i+2] = base + int32(bits.TrailingZeros64(x))
			x &= x - 1
			l[i+3] = base + int32(bits.TrailingZeros64(x))
			x &= x - 1
			if i+4 >= cnt {
				break
			}
		}
		k += cnt
	}
	return k
}

// addMasked adds v to the sums of the rows of set AND mask (AND NOT mask
// when not) and returns how many there are: cnt, when the caller knows
// it (else -1).
func (bb *bitBuf) addMasked(set, mask []uint64, v float64, not bool, cnt int) int {
	mask = mask[:len(set)]
	flip := flipOf(not)
	if cnt < 0 {
		cnt = 0
		for w, x := range set {
			cnt += bits.OnesCount64(x & (mask[w] ^ flip))
		}
	}
	if cnt*denseDiv >= len(set)*64 {
		addDense(&bb.rb.acc, set, mask, flip, v)
		return cnt
	}
	addSparse(&bb.rb.acc, set, mask, flip, v)
	return cnt
}

// addSparse adds v to the sums of the rows of set AND (mask XOR flip), a
// few of the block's rows: flatten's steps, each adding v to its row's
// sum rather than writing the row to a list for addLeaf (the list was
// written and read back, some 0.3 ns a row). As in flatten, the
// non-empty words are gathered first, then their rows taken four at a
// time whatever a word's count: a step past a word's last row adds +0
// (which changes no sum: sums are never -0) to the word's first row
// (TrailingZeros64 of 0 is 64, masked to 0).
//
//go:noinline
func addSparse(acc *[routeBlock]float64, set, mask []uint64, flip uint64, v float64) {
	leaf := [2]float64{0, v}
	var xs [routeBlock / 64]uint64
	var ws [routeBlock / 64]int32
	nw := setWords(&xs, &ws, set, mask, flip)
	for j, x := range xs[:nw] {
		a := (*[64]float64)(acc[(ws[j]<<6)&routeMask:])
		cnt := bits.OnesCount64(x)
		for i := 0; ; i += 4 {
			a[bits.TrailingZeros64(x)&63] += v // x holds a row: i < cnt
			x &= x - 1
			a[bits.TrailingZeros64(x)&63] += leaf[b2i(x != 0)]
			x &= x - 1
			a[bits.TrailingZeros64(x)&63] += leaf[b2i(x != 0)]
			x &= x - 1
			a[bits.TrailingZeros64(x)&63] += leaf[b2i(x != 0)]
			x &= x - 1
			if i+4 >= cnt {
				break
			}
		}
	}
}

// denseDiv: a leaf holding at least 1/denseDiv of its block's rows adds
// its value by addDense rather than by its rows alone (flatten and
// addLeaf cost about four times as much a row of the set as addDense a
// row of the block; with addSparse, denseDiv 2, 3 and 6 measured within
// noise of 4). A tree's largest leaf usually holds about half of
// them (the end of the spine).
const denseDiv = 4

// addDenseGo adds v to the sums of the rows of set AND (mask XOR flip),
// and +0 to those of the block's other rows (every row of the set's
// words): a sum is never -0 (it starts at +0 and adds leaf values >= +0),
// so x + +0 is x, bit for bit. It reads no list of rows and has no branch
// on them. addDense where it has no assembly, and its reference.
//
//go:noinline
func addDenseGo(acc *[routeBlock]float64, set, mask []uint64, flip uint64, v float64) {
	leaf := [2]float64{0, v}
	mask = mask[:len(set)]
	for w, x := range set {
		x &= mask[w] ^ flip
		a := acc[w*64 : w*64+64 : w*64+64]
		for b := range a {
			a[b] += leaf[x&1]
			x >>= 1
		}
	}
}

// sortRows sorts the block's row positions by their values in col into
// bb.order (radixOrder).
func (bb *bitBuf) sortRows(col []float64) {
	radixOrder(col, bb.order[:len(col)], bb.tmp[:len(col)], bb.keys[:2*len(col)])
}

// radixOrder writes into order the positions 0..len(col)-1 sorted by their
// values in col: a radix sort of the values' bits in order-preserving form
// (as sortFloats; whole values in [0, 2⁵³) as integers), passing only over
// the bytes where the keys differ. -0 sorts before +0: equal values are
// adjacent, all that the le sets and baselinesSorted need. Each pass is
// stable, so equal values keep their positions' order: the order is the
// stable sort by key (TestRadixOrderIsStableSort). tmp is as long as col,
// keys twice as long.
//
// The passes' histograms are counted in one read of the keys, each
// byte's counters in their own array (a float column differs in all
// eight bytes), and the last pass moves the positions alone: no pass
// reads the keys it writes.
func radixOrder(col []float64, order, tmp []int32, keys []uint64) {
	n := len(col)
	keys, ktmp := keys[:n], keys[n:2*n]
	out := order
	otmp := tmp[:n]
	whole, differ := wholeSortKeys(col, keys, ktmp)
	if !whole {
		keys, ktmp = ktmp, keys // the float keys
	}
	for i := range order {
		order[i] = int32(i)
	}
	var shifts [8]uint
	passes := 0
	for b := range 8 {
		if byte(differ>>(8*uint(b))) != 0 {
			shifts[passes] = 8 * uint(b)
			passes++
		}
	}
	if passes == 0 {
		return
	}
	if !whole && passes >= bucketPasses && n >= bucketMin {
		if bucketOrder(keys, ktmp, order, otmp, differ) {
			return
		}
		// Crowded buckets: the radix passes, from the start.
		sortKeys(col, keys, whole)
		for i := range order {
			order[i] = int32(i)
		}
	}
	var counts [8][256]int32 // by byte
	switch passes {
	case 1:
		s, c := shifts[0], &counts[shifts[0]/8]
		for _, k := range keys {
			c[byte(k>>s)]++
		}
	default:
		// Every byte counted, whether or not a pass needs it: unrolled,
		// eight counters a key run side by side, where a loop over the
		// passes' shifts ran ~1.5x slower.
		for _, k := range keys {
			counts[0][byte(k)]++
			counts[1][byte(k>>8)]++
			counts[2][byte(k>>16)]++
			counts[3][byte(k>>24)]++
			counts[4][byte(k>>32)]++
			counts[5][byte(k>>40)]++
			counts[6][byte(k>>48)]++
			counts[7][byte(k>>56)]++
		}
	}
	for _, shift := range shifts[:passes] {
		c := &counts[shift/8]
		sum := int32(0)
		for d := range c {
			sum, c[d] = sum+c[d], sum
		}
	}
	for p, shift := range shifts[:passes] {
		c := &counts[shift/8]
		if p == passes-1 {
			for i, k := range keys {
				d := byte(k >> shift)
				otmp[c[d]] = order[i]
				c[d]++
			}
			order = otmp
			break
		}
		for i, k := range keys {
			d := byte(k >> shift)
			ktmp[c[d]] = k
			otmp[c[d]] = order[i]
			c[d]++
		}
		keys, ktmp = ktmp, keys
		order, otmp = otmp, order
	}
	if n > 0 && &order[0] != &out[0] {
		copy(out, order)
	}
}

// bucketOrder is radixOrder for keys that differ in many bytes (a float
// column's bits differ in all eight): two counting passes rather than up
// to eight, then an insertion sort. keys hold the sort keys of n values,
// differ the bits where they differ, order the positions 0..n-1; ktmp and
// otmp are scratch as long. The first pass buckets the values by the top
// bucketBits bits where keys differ (a float's exponent), the second each
// bucket of more than a few by about twice its size of the bits where its
// own keys first differ; both passes are stable, so a pass of insertion
// sort (stable too) leaves order the stable sort by key, each value moving
// only past the others of its bucket. It gives up, returning false with
// keys and order reordered, when that sort would move more than twice as
// many values as there are: values crowded into buckets (many close
// values among far ones), which the radix passes sort in their time.
func bucketOrder(keys, ktmp []uint64, order, otmp []int32, differ uint64) bool {
	n := len(keys)
	ktmp, order, otmp = ktmp[:n], order[:n], otmp[:n]
	top := bits.Len64(differ)
	w1 := min(bucketBits, top)
	s1 := uint(top - w1)
	m1 := uint64(1)<<w1 - 1
	var ends [1<<bucketBits + 1]int32
	for _, k := range keys {
		ends[(k>>s1)&m1+1]++
	}
	for d := 1; d < len(ends); d++ {
		ends[d] += ends[d-1]
	}
	// ends[d] is where bucket d starts, then, once its values are in,
	// where it ends; ends[d-1] is then where it starts.
	next := ends[:1<<w1]
	for i, k := range keys {
		d := (k >> s1) & m1
		ktmp[next[d]] = k
		otmp[next[d]] = order[i]
		next[d]++
	}
	// The buckets as they are, where the second pass leaves them (few
	// values, all equal): one copy, not one a bucket (most of a column's
	// 2 048 buckets hold none or one).
	copy(keys, ktmp)
	copy(order, otmp)
	var counts [1<<(bucketBits+1) + 1]int32
	start := int32(0)
	for _, end := range next {
		if end-start <= bucketFew {
			start = end
			continue
		}
		b := ktmp[start:end]
		and, or := ^uint64(0), uint64(0)
		for _, k := range b {
			and &= k
			or |= k
		}
		if and == or { // all equal, in position order
			start = end
			continue
		}
		hb := bits.Len64(and ^ or)
		w2 := min(bits.Len(uint(len(b)))+1, hb, bucketBits+1)
		s2 := uint(hb - w2)
		m2 := uint64(1)<<w2 - 1
		c := counts[:1<<w2+1]
		clear(c)
		for _, k := range b {
			c[(k>>s2)&m2+1]++
		}
		c[0] = start
		for d := 1; d < len(c); d++ {
			c[d] += c[d-1]
		}
		bt := otmp[start:end]
		for i, k := range b {
			d := (k >> s2) & m2
			keys[c[d]] = k
			order[c[d]] = bt[i]
			c[d]++
		}
		start = end
	}
	budget := 2 * n
	for i := 1; i < n; i++ {
		k, o := keys[i], order[i]
		j := i
		for ; j > 0 && keys[j-1] > k; j-- {
			keys[j], order[j] = keys[j-1], order[j-1]
		}
		if j == i {
			continue
		}
		keys[j], order[j] = k, o
		if budget -= i - j; budget < 0 {
			return false
		}
	}
	return true
}

// bucketOrder's parameters: radixOrder hands it columns of at least
// bucketMin values, not all whole (whole ones' keys are integers, which
// differ in fewer bytes and sorted slower), whose keys differ in at least
// bucketPasses bytes; its
// first pass buckets by bucketBits bits; buckets of up to bucketFew values
// are left to the insertion sort.
const (
	bucketPasses = 5
	bucketMin    = 256
	bucketBits   = 11
	bucketFew    = 8
)

// prefixLE returns how many values of sorted (at least one) are <= v, by
// a binary search without branches, where a branch mispredicts at every
// other step.
//
//go:noinline
func prefixLE(sorted []float64, v float64) int {
	base, n := 0, len(sorted)
	for n > 1 {
		half := n >> 1
		base += half & -b2i(sorted[base+half-1] <= v)
		n -= half
	}
	return base + b2i(sorted[base] <= v)
}

// searchLanes is how many searches prefixLEs runs side by side: each of
// its steps waits on the one before (a load, a comparison), and the
// processor overlaps the lanes' steps.
const searchLanes = 8

// prefixLEs is prefixLE of each value of v.
//
//go:noinline
func prefixLEs(sorted []float64, v *[searchLanes]float64) [searchLanes]int {
	var base [searchLanes]int
	n := len(sorted)
	for n > 1 {
		half := n >> 1
		for l := range base {
			base[l] += half & -b2i(sorted[base[l]+half-1] <= v[l])
		}
		n -= half
	}
	for l := range base {
		base[l] += b2i(sorted[base[l]] <= v[l])
	}
	return base
}

// flipOf is what a mask's words are XORed with for AND (false) or AND NOT
// (true).
func flipOf(not bool) uint64 {
	if not {
		return ^uint64(0)
	}
	return 0
}
