package models

import (
	"fmt"
	"math/rand/v2"
)

// synth returns n benign rows of width features followed by anomalies
// anomalous rows, and labels marking the anomalies. Benign features are
// independent-ish noise around per-feature levels of different scales
// (like counts and byte totals) with a weak shared load factor. An
// anomaly is a benign row whose features hot..hot+k−1 are pushed up by
// push..1.5·push standard deviations, like a scan that raises connections,
// distinct ports and failures together.
func synth(seed uint64, n, anomalies, width, hot, k int, push float64) ([][]float64, []bool, []string) {
	r := rand.New(rand.NewPCG(seed, 1))
	names := make([]string, width)
	for j := range names {
		names[j] = fmt.Sprintf("f%02d", j)
	}
	scale := func(j int) float64 { return float64(int(1) << (j % 6)) }
	row := func() []float64 {
		x := make([]float64, width)
		load := 1 + r.NormFloat64()*0.05
		for j := range x {
			x[j] = scale(j) * (10*load + r.NormFloat64())
		}
		return x
	}
	rows := make([][]float64, 0, n+anomalies)
	labels := make([]bool, 0, n+anomalies)
	for range n {
		rows = append(rows, row())
		labels = append(labels, false)
	}
	for range anomalies {
		x := row()
		for j := hot; j < min(hot+k, width); j++ {
			x[j] += scale(j) * push * (1 + 0.5*r.Float64())
		}
		rows = append(rows, x)
		labels = append(labels, true)
	}
	return rows, labels, names
}
