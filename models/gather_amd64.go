//go:build amd64

package models

// The fit's two loops over a node's rows, gatherMinMax and partition, in
// assembly: the compiler's code for them shuffles registers between
// branches and checks bounds every row, about 16 instructions a row each,
// which the assembly does in about 8 and 10 (a fifth of a cohort
// training's instructions were these two loops); and the calibration's
// addDense, about 9 instructions a row in Go, 4 in SSE2, two rows an
// instruction. TestGatherMinMaxIsGo, TestPartitionIsGo and
// TestAddDenseIsGo compare them with the Go versions.

// gatherMinMaxAsm is gatherMinMaxGo for len(data) >= 1 and len(vals) >=
// len(data); ok is false, with lo, hi and vals unspecified, when an
// index of data is outside col.
//
//go:noescape
func gatherMinMaxAsm(col []float64, data []int32, vals []float64) (lo, hi float64, ok bool)

// partitionAsm is partitionGo for len(rows) >= 1, len(vals) >= len(rows)
// and len(dst) >= len(rows), but for the end the rows going right are
// written back from: the end of dst, not dst[len(rows)].
//
//go:noescape
func partitionAsm(dst, rows []int32, vals []float64, split float64) int

// asmChunk bounds the rows an assembly loop is given in one call: the
// goroutine cannot be preempted inside it (a fit of the largest sample,
// 2²⁴ rows, would hold off a stop of the world for tens of milliseconds
// a node), so larger nodes are taken a chunk at a time. A variable for
// the tests.
var asmChunk = 1 << 16

// gatherMinMax writes col[data[k]] into vals[k] and returns their minimum
// and maximum: golearn's, but for the sign of a zero extreme (the
// assembly's MINSD and MAXSD keep either of -0 and +0, golearn the first),
// which changes no split (selectValue gives lo+r·(hi−lo), or its nudge
// off an end, the same value for either sign, and -0 == +0 for the test
// of a constant feature).
func gatherMinMax(col []float64, data []int32, vals []float64) (float64, float64) {
	vals = vals[:len(data)]
	if n := len(data); n > 0 && n <= asmChunk {
		if lo, hi, ok := gatherMinMaxAsm(col, data, vals); ok {
			return lo, hi
		}
	} else if n > 0 {
		if lo, hi, ok := gatherMinMaxChunks(col, data, vals); ok {
			return lo, hi
		}
	}
	return gatherMinMaxGo(col, data, vals) // its panic
}

// gatherMinMaxChunks is gatherMinMaxAsm a chunk at a time.
func gatherMinMaxChunks(col []float64, data []int32, vals []float64) (lo, hi float64, ok bool) {
	lo, hi = col[data[0]], col[data[0]]
	for k := 0; k < len(data); k += asmChunk {
		e := min(k+asmChunk, len(data))
		l, h, ok := gatherMinMaxAsm(col, data[k:e], vals[k:e])
		if !ok {
			return 0, 0, false
		}
		if l < lo {
			lo = l
		}
		if h > hi {
			hi = h
		}
	}
	return lo, hi, true
}

// partition is partitionGo.
func partition(dst, rows []int32, vals []float64, split float64) int {
	vals, dst = vals[:len(rows)], dst[:len(rows)]
	if n := len(rows); n > 0 && n <= asmChunk {
		return partitionAsm(dst, rows, vals, split)
	}
	l, r := 0, len(rows)
	for len(rows) > 0 {
		// The chunk's rows go to the front and back of the part of dst
		// not yet written, dst[l:r].
		c := min(len(rows), asmChunk)
		k := partitionAsm(dst[l:r], rows[:c], vals[:c], split)
		l, r = l+k, r-(c-k)
		rows, vals = rows[c:], vals[c:]
	}
	return l
}

// addDenseAsm is addDenseGo for len(mask) >= len(set) and len(set) <=
// routeBlock/64.
//
//go:noescape
func addDenseAsm(acc *[routeBlock]float64, set, mask []uint64, flip uint64, v float64)

// denseLanes[x] holds the masks of four float64 lanes, all ones in lane
// b when bit b of x is set (addDenseAsm's selection of v or +0).
var denseLanes = func() (t [16][4]uint64) {
	for x := range t {
		for b := range t[x] {
			if x>>b&1 != 0 {
				t[x][b] = ^uint64(0)
			}
		}
	}
	return t
}()

// addDense is addDenseGo.
func addDense(acc *[routeBlock]float64, set, mask []uint64, flip uint64, v float64) {
	_ = mask[:len(set)]
	_ = acc[:len(set)*64]
	addDenseAsm(acc, set, mask, flip, v)
}
