package models

import (
	"math"
	"sync"
)

// columns returns rows column-major: columns(rows)[j][i] is rows[i][j].
func columns(rows [][]float64) [][]float64 {
	return columnsIn(nil, rows)
}

// columnsIn is columns holding the values in *buf, which it grows when it
// is too small (buf nil: a new array).
func columnsIn(buf *[]float64, rows [][]float64) [][]float64 {
	width := len(rows[0])
	flat := floatsIn(buf, width*len(rows))
	cols := make([][]float64, width)
	for j := range cols {
		col := flat[j*len(rows) : (j+1)*len(rows) : (j+1)*len(rows)]
		for i, r := range rows {
			col[i] = r[j]
		}
		cols[j] = col
	}
	return cols
}

// maxAbsBits is math.Float64bits(MaxAbsValue) (TestColumnsChecked).
const maxAbsBits = 0x54b249ad2594c37d

// columnsChecked is columnsIn and checkTraining's test of the rows in one
// pass over them, row by row: it reports false, with the columns partly
// written, when a row is not width wide or holds a value checkTraining
// rejects (NaN, infinite, beyond MaxAbsValue), which checkTraining then
// names. negZero reports whether a value is -0 (baselinesSorted scans
// the columns for one only then). rows must not be empty.
func columnsChecked(buf *[]float64, rows [][]float64, width int) (cols [][]float64, negZero, ok bool) {
	n := len(rows)
	flat := floatsIn(buf, width*n)
	// A value's bits less the sign, shifted out, are above MaxAbsValue's
	// when it is beyond MaxAbsValue, infinite or NaN: their maximum,
	// tested once at the end, rather than a float comparison a value.
	// Its bits with the sign flipped are 0 for -0 alone: their minimum.
	most, least := uint64(0), uint64(math.MaxUint64)
	for i, r := range rows {
		if len(r) != width {
			return nil, false, false
		}
		// The row's values to the columns' i-th slots.
		k := i
		for _, v := range r {
			flat[k] = v
			b := math.Float64bits(v)
			most = max(most, b<<1)
			least = min(least, b^(1<<63))
			k += n
		}
	}
	if most > maxAbsBits<<1 {
		return nil, false, false
	}
	cols = make([][]float64, width)
	for j := range cols {
		cols[j] = flat[j*n : (j+1)*n : (j+1)*n]
	}
	return cols, least == 0, true
}

// scoreColumns scores the n rows held column-major in cols into dst, the
// same scores as scoreAll, bit for bit: each tree adds every row's leaf
// value in tree order, as scoreRange does. Instead of walking each row
// down each tree (a mispredicted branch at about every other node), it
// sends all rows down each tree together, partitioning them at every
// node without branches; where a child is a leaf, its value is added to
// the rows that reach it as they are split, and the rows of a node with
// two leaf children are not partitioned at all. Rows are split over the
// cores in chunks, and a chunk is routed in blocks of routeBlock rows.
func (m *compiled) scoreColumns(dst []float64, cols [][]float64, n int) {
	_ = inChunks(n, func(lo, hi int) error {
		m.scoreColumnsRange(dst, cols, lo, hi)
		return nil
	})
}

// routeBlock is how many rows route sends down a tree together. Its
// buffers are arrays of routeBlock values indexed by positions masked
// with routeMask, which the compiler knows are in range: the loops over
// the rows, a block's every row at every level of every tree, carry no
// bounds checks (a fifth of their time). A position is masked only where
// it is in [0, routeBlock) already; the tests compare the scores with
// scoreAll's on row counts around the block size.
const (
	routeBlock = 2048
	routeMask  = routeBlock - 1
)

// routeBuf is a goroutine's scratch for routing one block (half a
// megabyte for 22 features: pooled).
type routeBuf struct {
	idx, tmp [routeBlock]int32   // row positions in the block
	acc      [routeBlock]float64 // each row's sum of leaf values
	// cols holds the block's columns: cols[f][k] is the value of feature
	// f of the block's row k. Copying them costs about 1% of the routing.
	cols [][routeBlock]float64
}

var routeBufs = sync.Pool{New: func() any { return new(routeBuf) }}

// scoreColumnsRange scores rows [lo, hi) of cols into dst[lo:hi] on the
// calling goroutine.
func (m *compiled) scoreColumnsRange(dst []float64, cols [][]float64, lo, hi int) {
	if m.walk != nil {
		m.scoreBits(dst, cols, lo, hi, bitListMax, nil)
		return
	}
	m.routeRange(dst, cols, lo, hi)
}

// routeRange is scoreColumnsRange by route alone.
func (m *compiled) routeRange(dst []float64, cols [][]float64, lo, hi int) {
	rb := routeBufs.Get().(*routeBuf)
	defer routeBufs.Put(rb)
	if len(rb.cols) < len(cols) {
		rb.cols = make([][routeBlock]float64, len(cols))
	}
	for base := lo; base < hi; base += routeBlock {
		rows := min(hi-base, routeBlock)
		for j, col := range cols {
			copy(rb.cols[j][:rows], col[base:base+rows])
		}
		acc := rb.acc[:rows]
		clear(acc)
		for _, root := range m.roots {
			for k := range rb.idx[:rows] {
				rb.idx[k] = int32(k)
			}
			rb.route(m.nodes, root, &rb.idx, &rb.tmp, 0, rows)
		}
		for k, s := range acc {
			dst[base+k] = m.finish(s)
		}
	}
}

// route sends the block's rows idx[lo:hi] down from node i, adding the
// leaf each reaches to its sum in rb.acc; tmp[lo:hi] is scratch.
func (rb *routeBuf) route(nodes []node, i int32, idx, tmp *[routeBlock]int32, lo, hi int) {
	for {
		nd := &nodes[i]
		if nd.f < 0 {
			addLeaf(&rb.acc, idx, lo, hi, nd.v)
			return
		}
		if lo == hi {
			return
		}
		col, split := &rb.cols[nd.f], nd.v
		switch ln, rn := &nodes[nd.c[0]], &nodes[nd.c[1]]; {
		case ln.f < 0 && rn.f < 0:
			// Both children are leaves: add each row's leaf at once,
			// without partitioning the rows first.
			addLeaves(&rb.acc, idx, lo, hi, col, split, ln.v, rn.v)
			return
		case ln.f < 0:
			// The left child is a leaf: add it to the rows going left
			// while gathering the others for the right.
			hi = leafOrGather(&rb.acc, tmp, idx, lo, hi, col, split, ln.v, true)
			i, idx, tmp = nd.c[1], tmp, idx
			continue
		case rn.f < 0:
			hi = leafOrGather(&rb.acc, tmp, idx, lo, hi, col, split, rn.v, false)
			i, idx, tmp = nd.c[0], tmp, idx
			continue
		}
		l := partitionBlock(tmp, idx, lo, hi, col, split)
		rb.route(nodes, nd.c[0], tmp, idx, lo, l)
		// The right side continues here (no recursion for it).
		i, idx, tmp, lo = nd.c[1], tmp, idx, l
	}
}

// The loops over a block's rows are functions of their own, not inlined:
// inlined into route, whose recursion keeps many values live, their
// counters were kept on the stack.

// addLeaf adds v to the sums of the rows rows[lo:hi].
//
//go:noinline
func addLeaf(acc *[routeBlock]float64, rows *[routeBlock]int32, lo, hi int, v float64) {
	_ = acc[0] // nil check, once rather than in the loop
	for _, r := range rows[lo:hi] {
		acc[r&routeMask] += v
	}
}

// addLeaves adds to the sums of the rows rows[lo:hi] the leaf each goes
// to at a split of col at split whose children are leaves of values l
// and r.
//
//go:noinline
func addLeaves(acc *[routeBlock]float64, rows *[routeBlock]int32, lo, hi int, col *[routeBlock]float64, split, l, r float64) {
	_, _ = acc[0], col[0]
	leaf := [2]float64{l, r}
	for _, row := range rows[lo:hi] {
		acc[row&routeMask] += leaf[b2i(col[row&routeMask] > split)]
	}
}

// leafOrGather splits the rows rows[lo:hi] at a split of col at split
// one of whose children is a leaf of value v: it gathers the rows going
// right (or left, when right is false), the other child, into dst from lo,
// and adds v to the sums of the others (and +0, which changes no sum, to
// the gathered ones: sums are never -0). It returns the end of the
// gathered rows.
//
//go:noinline
func leafOrGather(acc *[routeBlock]float64, dst, rows *[routeBlock]int32, lo, hi int, col *[routeBlock]float64, split, v float64, right bool) int {
	_, _, _ = acc[0], dst[0], col[0]
	leaf := [2]float64{v, 0}
	k := lo
	for _, row := range rows[lo:hi] {
		g := b2i((col[row&routeMask] > split) == right) // 1: gathered
		dst[k&routeMask] = row
		k += g
		acc[row&routeMask] += leaf[g]
	}
	return k
}

// partitionBlock is partition of a block's rows rows[lo:hi] into
// dst[lo:hi]; it returns lo + how many went to the front.
//
//go:noinline
func partitionBlock(dst, rows *[routeBlock]int32, lo, hi int, col *[routeBlock]float64, split float64) int {
	l, r := lo, hi
	_, _ = dst[0], col[0]
	for _, row := range rows[lo:hi] {
		dst[l&routeMask] = row
		dst[(r-1)&routeMask] = row
		left := b2i(col[row&routeMask] <= split)
		l += left
		r -= 1 - left
	}
	return l
}

// partitionGo writes rows into dst (as long as rows), those whose value
// (vals[k] row k's) is <= split from the front, the others from the back,
// and returns how many went to the front: partition where it has no
// assembly, and its reference. Without branches: every row is
// written to both ends and the end it belongs to advances (a stray write
// is overwritten before it is read).
func partitionGo(dst, rows []int32, vals []float64, split float64) int {
	l, r := 0, len(rows)
	vals = vals[:len(rows)]
	for k, row := range rows {
		dst[l] = row
		dst[r-1] = row
		left := b2i(vals[k] <= split)
		l += left
		r -= 1 - left
	}
	return l
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// uniqueColumns finds the distinct rows among the n rows held column-major
// in cols (equal when every value is equal: -0 equals +0). It returns
// them column-major in first-seen order, how many there are, and of, row
// i's index among them (nil when the rows are distinct). A row's score
// depends only on its values, and a split sends -0 where it sends +0, so
// scoring the distinct rows and spreading the scores gives every row's
// score, bit for bit: a cohort's training windows repeat (quiet windows
// look alike). The trees are grown on the distinct rows too
// (fitIsolationUnique). Columns with one value tell no rows apart: they
// are left out of the comparison, and their distinct-row column is a
// prefix of their own.
func uniqueColumns(cols [][]float64, n int) (ucols [][]float64, nu int, of []int32) {
	return uniqueColumnsIn(nil, nil, cols, n)
}

// uniqueBuf is uniqueColumnsIn's scratch, and the array of the of it
// returns: recycled by a caller done with of.
type uniqueBuf struct {
	slots, first, of []int32
	hashes           []uint64
	// varying has bit j set when column j's values are not all equal
	// (as of the distinct rows'): what distinctOrders and the fit would
	// otherwise each scan the columns for.
	varying []uint64
}

// uniqueColumnsIn is uniqueColumns holding the distinct rows' values of
// the columns with more than one value in *buf, as columnsIn, and its
// scratch and of in ub (nil: new arrays).
func uniqueColumnsIn(buf *[]float64, ub *uniqueBuf, cols [][]float64, n int) (ucols [][]float64, nu int, of []int32) {
	if ub == nil {
		ub = new(uniqueBuf)
	}
	ub.varying = grown(ub.varying, (len(cols)+63)/64)
	clear(ub.varying)
	if n == 0 {
		return cols, 0, nil
	}
	varying := make([][]float64, 0, len(cols))
	for j, col := range cols {
		c := col[:n]
		for _, v := range c[1:] {
			if v != c[0] {
				varying = append(varying, c)
				ub.varying[j/64] |= 1 << (j % 64)
				break
			}
		}
	}
	if len(varying) == 0 {
		if n == 1 {
			return cols, n, nil
		}
		ub.of = grown(ub.of, n)
		of = ub.of[:n]
		clear(of)
		return cols, 1, of
	}
	// Open addressing over row hashes; a slot holds a distinct row's index + 1.
	size := 1
	for size < 2*n {
		size <<= 1
	}
	ub.slots, ub.hashes = grown(ub.slots, size), grown(ub.hashes, n)
	slots, hashes := ub.slots[:size], ub.hashes[:n]
	clear(slots)
	clear(hashes)
	for _, col := range varying {
		for i, v := range col {
			h := hashes[i] ^ valueBits(v)
			hashes[i] = (h ^ h>>29) * 0xbf58476d1ce4e5b9
		}
	}
	ub.of, ub.first = grown(ub.of, n), grown(ub.first, n)
	of = ub.of[:n]
	first := ub.first[:0] // the row each distinct row was first seen as
	for i, h := range hashes {
		s := int(h>>32) & (size - 1)
		for {
			u := slots[s]
			if u == 0 {
				slots[s] = int32(len(first)) + 1
				of[i] = int32(len(first))
				first = append(first, int32(i))
				break
			}
			if r := first[u-1]; hashes[r] == h && sameRow(varying, int(r), i) {
				of[i] = u - 1
				break
			}
			s = (s + 1) & (size - 1)
		}
	}
	nu = len(first)
	if nu == n {
		return cols, n, nil
	}
	flat := floatsIn(buf, len(varying)*nu)
	ucols = make([][]float64, len(cols))
	k := 0
	for j, col := range cols {
		if k < len(varying) && &col[0] == &varying[k][0] {
			u := flat[k*nu : (k+1)*nu : (k+1)*nu]
			for x, r := range first {
				u[x] = col[r]
			}
			ucols[j] = u
			k++
		} else {
			ucols[j] = col[:nu:nu]
		}
	}
	return ucols, nu, of
}

// floatsIn returns n float64s, those of *buf when it holds enough (their
// values left as they are: the caller sets them all), else a new array
// that it stores in *buf (buf nil: just the new array).
func floatsIn(buf *[]float64, n int) []float64 {
	if buf == nil {
		return make([]float64, n)
	}
	if cap(*buf) < n {
		*buf = make([]float64, n)
	}
	return (*buf)[:n]
}

// valueBits is v's bits, +0's for -0: equal values, equal bits (the values
// are finite).
func valueBits(v float64) uint64 {
	if v == 0 {
		return 0
	}
	return math.Float64bits(v)
}

// sameRow reports whether rows i and k of cols have equal values.
func sameRow(cols [][]float64, i, k int) bool {
	for _, col := range cols {
		if col[i] != col[k] {
			return false
		}
	}
	return true
}

// scoreColumnsUnique is scoreColumns scoring each distinct row once.
func (m *compiled) scoreColumnsUnique(dst []float64, cols [][]float64, n int) {
	ucols, nu, of := uniqueColumns(cols, n)
	m.scoreDistinct(dst, cols, n, ucols, nu, of, false, nil)
}

// scoreDistinct is scoreColumnsUnique given uniqueColumns(cols, n), on
// the calling goroutine alone when serial, where orders (distinctOrders of
// the distinct rows, or nil) spares scoreBits its sorts.
func (m *compiled) scoreDistinct(dst []float64, cols [][]float64, n int, ucols [][]float64, nu int, of []int32, serial bool, orders [][]int32) {
	score := m.scoreColumns
	if serial {
		score = func(dst []float64, cols [][]float64, n int) {
			if m.walk != nil {
				m.scoreBits(dst, cols, 0, n, bitListMax, orders)
				return
			}
			m.routeRange(dst, cols, 0, n)
		}
	}
	if of == nil {
		score(dst, cols, n)
		return
	}
	us := make([]float64, nu)
	score(us, ucols, nu)
	for i, u := range of {
		dst[i] = us[u]
	}
}
