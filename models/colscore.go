package models

import "math"

// columns returns rows column-major: columns(rows)[j][i] is rows[i][j].
func columns(rows [][]float64) [][]float64 {
	width := len(rows[0])
	flat := make([]float64, width*len(rows))
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

// scoreColumns scores the n rows held column-major in cols into dst, the
// same scores as scoreAll, bit for bit: each tree adds every row's leaf
// value in tree order, as scoreRange does. Instead of walking each row
// down each tree (a mispredicted branch at about every other node), it
// sends all rows down each tree together, partitioning them at every
// node without branches; where a child is a leaf, its value is added to
// the rows that reach it as they are split, and the rows of a node with
// two leaf children are not partitioned at all. Rows are split over the
// cores in chunks.
func (m *compiled) scoreColumns(dst []float64, cols [][]float64, n int) {
	_ = inChunks(n, func(lo, hi int) error {
		acc := make([]float64, hi-lo)
		idx := make([]int32, hi-lo)
		tmp := make([]int32, hi-lo)
		for _, root := range m.roots {
			for k := range idx {
				idx[k] = int32(lo + k)
			}
			m.route(root, idx, tmp, acc, cols, lo)
		}
		for k, s := range acc {
			dst[lo+k] = m.finish(s)
		}
		return nil
	})
}

// route sends the rows idx (indices into cols; acc is indexed from lo)
// down from node i, adding the leaf each reaches to its sum; tmp is
// scratch as long as idx.
func (m *compiled) route(i int32, idx, tmp []int32, acc []float64, cols [][]float64, lo int) {
	for {
		nd := &m.nodes[i]
		if nd.f < 0 {
			for _, r := range idx {
				acc[int(r)-lo] += nd.v
			}
			return
		}
		if len(idx) == 0 {
			return
		}
		col, split := cols[nd.f], nd.v
		switch ln, rn := &m.nodes[nd.l], &m.nodes[nd.r]; {
		case ln.f < 0 && rn.f < 0:
			// Both children are leaves: add each row's leaf at once,
			// without partitioning the rows first.
			leaf := [2]float64{ln.v, rn.v}
			for _, r := range idx {
				acc[int(r)-lo] += leaf[b2i(col[r] > split)]
			}
			return
		case ln.f < 0:
			// The left child is a leaf: add it to the rows going left
			// (and +0, which changes no sum, to the others: sums are
			// never -0) while gathering the others for the right.
			leaf := [2]float64{ln.v, 0}
			k := 0
			for _, r := range idx {
				right := b2i(col[r] > split)
				tmp[k] = r
				k += right
				acc[int(r)-lo] += leaf[right]
			}
			i, idx, tmp = nd.r, tmp[:k], idx[:k]
			continue
		case rn.f < 0:
			leaf := [2]float64{rn.v, 0}
			k := 0
			for _, r := range idx {
				left := b2i(col[r] <= split)
				tmp[k] = r
				k += left
				acc[int(r)-lo] += leaf[left]
			}
			i, idx, tmp = nd.l, tmp[:k], idx[:k]
			continue
		}
		l := partition(tmp, idx, col, split)
		m.route(nd.l, tmp[:l], idx[:l], acc, cols, lo)
		// The right side continues here (no recursion for it).
		i, idx, tmp = nd.r, tmp[l:], idx[l:]
	}
}

// partition writes rows into dst (as long as rows), those whose value in
// col is <= split from the front, the others from the back, and returns
// how many went to the front. Without branches: every row is written to
// both ends and the end it belongs to advances (a stray write is
// overwritten before it is read).
func partition(dst, rows []int32, col []float64, split float64) int {
	l, r := 0, len(rows)
	for _, row := range rows {
		dst[l] = row
		dst[r-1] = row
		left := b2i(col[row] <= split)
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
	if n == 0 {
		return cols, 0, nil
	}
	varying := make([][]float64, 0, len(cols))
	for _, col := range cols {
		c := col[:n]
		for _, v := range c[1:] {
			if v != c[0] {
				varying = append(varying, c)
				break
			}
		}
	}
	if len(varying) == 0 {
		if n == 1 {
			return cols, n, nil
		}
		return cols, 1, make([]int32, n)
	}
	// Open addressing over row hashes; a slot holds a distinct row's index + 1.
	size := 1
	for size < 2*n {
		size <<= 1
	}
	slots := make([]int32, size)
	hashes := make([]uint64, n)
	for _, col := range varying {
		for i, v := range col {
			h := hashes[i] ^ valueBits(v)
			hashes[i] = (h ^ h>>29) * 0xbf58476d1ce4e5b9
		}
	}
	of = make([]int32, n)
	first := make([]int32, 0, n) // the row each distinct row was first seen as
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
	flat := make([]float64, len(varying)*nu)
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
	m.scoreDistinct(dst, cols, n, ucols, nu, of)
}

// scoreDistinct is scoreColumnsUnique given uniqueColumns(cols, n).
func (m *compiled) scoreDistinct(dst []float64, cols [][]float64, n int, ucols [][]float64, nu int, of []int32) {
	if of == nil {
		m.scoreColumns(dst, cols, n)
		return
	}
	us := make([]float64, nu)
	m.scoreColumns(us, ucols, nu)
	for i, u := range of {
		dst[i] = us[u]
	}
}
