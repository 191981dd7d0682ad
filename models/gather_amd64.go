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

// partitionAsm is partitionGo for len(rows) >= 1, len(dst) and len(vals)
// >= len(rows).
//
//go:noescape
func partitionAsm(dst, rows []int32, vals []float64, split float64) int

// gatherMinMax writes col[data[k]] into vals[k] and returns their minimum
// and maximum: golearn's, but for the sign of a zero extreme (the
// assembly's MINSD and MAXSD keep either of -0 and +0, golearn the first),
// which changes no split (selectValue gives lo+r·(hi−lo), or its nudge
// off an end, the same value for either sign, and -0 == +0 for the test
// of a constant feature).
func gatherMinMax(col []float64, data []int32, vals []float64) (float64, float64) {
	vals = vals[:len(data)]
	if len(data) > 0 {
		if lo, hi, ok := gatherMinMaxAsm(col, data, vals); ok {
			return lo, hi
		}
	}
	return gatherMinMaxGo(col, data, vals) // its panic
}

// partition is partitionGo.
func partition(dst, rows []int32, vals []float64, split float64) int {
	_, _ = dst[:len(rows)], vals[:len(rows)]
	if len(rows) == 0 {
		return 0
	}
	return partitionAsm(dst, rows, vals, split)
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
