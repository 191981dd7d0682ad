package models

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
// node without branches. Rows are split over the cores in chunks.
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
		l := partition(tmp, idx, cols[nd.f], nd.v)
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
