package models

// Rows are scored by walking several trees side by side without branches:
// each node holds its two children, a leaf points at itself, and every
// walk takes the model's depth in steps. The trees' walks are independent
// chains of loads that the processor overlaps, where a walk of one tree at
// a time (scoreBlocks) waits for each load and mispredicts about every
// other branch: one row at a time (the pipeline scores a window's few
// vectors) 2-4× faster, and 1.4-1.9× for 100k rows (BenchmarkScoreOneRow,
// BenchmarkScoreOneCore). Leaf values are summed in tree order, as
// scoreBlocks sums them, so the scores are the same bit for bit
// (TestWalkMatchesScoreRange).

// walkLanes is how many trees are walked side by side.
const walkLanes = 8

// maxWalkDepth bounds the depth of the models scored this way; deeper ones
// (a random forest's trees can be) use scoreBlocks.
const maxWalkDepth = 24

// scoreWalk scores each row by walking the trees, walkLanes at a time.
func (m *compiled) scoreWalk(dst []float64, rows [][]float64) {
	w, roots, depth := m.walk, m.roots, m.depth
	for k, x := range rows {
		sum := 0.0
		t := 0
		for ; t+walkLanes <= len(roots); t += walkLanes {
			var at [walkLanes]int32
			copy(at[:], roots[t:t+walkLanes])
			for range depth {
				for j := range at {
					nd := &w[at[j]]
					at[j] = nd.c[b2i(x[nd.wf] > nd.v)]
				}
			}
			for j := range at {
				sum += w[at[j]].v
			}
		}
		for ; t < len(roots); t++ {
			i := roots[t]
			for range depth {
				nd := &w[i]
				i = nd.c[b2i(x[nd.wf] > nd.v)]
			}
			sum += w[i].v
		}
		dst[k] = m.finish(sum)
	}
}
