//go:build !amd64

package models

// gatherMinMax is gatherMinMaxGo (amd64 has assembly).
func gatherMinMax(col []float64, data []int32, vals []float64) (float64, float64) {
	return gatherMinMaxGo(col, data, vals)
}

// partition is partitionGo (amd64 has assembly).
func partition(dst, rows []int32, vals []float64, split float64) int {
	return partitionGo(dst, rows, vals, split)
}

// addDense is addDenseGo (amd64 has assembly).
func addDense(acc *[routeBlock]float64, set, mask []uint64, flip uint64, v float64) {
	addDenseGo(acc, set, mask, flip, v)
}
