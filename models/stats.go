package models

import (
	"math"
	"slices"
)

// Baseline is a feature's training distribution as explanations quote it.
type Baseline struct {
	// Median of the feature over the baseline rows (all training rows for
	// an isolation forest, the negative training rows for a forest).
	Median float64 `json:"median"`
	// MAD is the median absolute deviation from Median.
	MAD float64 `json:"mad"`
	// Scale is the robust spread deviations are measured in: 1.4826·MAD
	// (the standard deviation for normal data); when MAD is 0 (a feature
	// that is mostly one value, such as a count that is usually 0),
	// 1.2533 × the mean absolute deviation from the median; when that is 0
	// too (a constant feature), 1 in the feature's own unit.
	Scale float64 `json:"scale"`
}

// baselines computes each feature's Baseline over rows.
func baselines(rows [][]float64, width int) []Baseline {
	if len(rows) == 0 {
		return baselinesColumns(make([][]float64, width), 0)
	}
	return baselinesColumns(columns(rows), len(rows))
}

// baselinesColumns is baselines of the n rows held column-major in cols
// (columns), which it does not change.
func baselinesColumns(cols [][]float64, n int) []Baseline {
	var scratch []uint64
	return baselinesOf(len(cols), n, nil, func(j int, col []float64) bool {
		copy(col, cols[j][:n])
		scratch = sortFloats(col, scratch)
		return false
	}, nil)
}

// baselinesSorted is baselinesColumns given the n rows' distinct rows
// (uniqueColumns: ucols, nu, of) and, for each column, the distinct rows
// sorted by their values, or nil when its values are all equal
// (distinctOrders): a column's
// sorted values are then its distinct rows' values in that order, each
// repeated as many times as rows have it, rather than a sort of the n
// values. Equal values are the same bits, but for -0 and +0 (which
// uniqueColumns does not tell apart): a column holding a -0 is sorted as
// baselinesColumns sorts it. negZero false tells that no value of cols
// is -0 (columnsChecked): no column is scanned for one. Its scratch is
// buf's (nil: new arrays).
func baselinesSorted(buf *trainBuf, cols [][]float64, n int, ucols [][]float64, nu int, of []int32, orders [][]int32, negZero bool) []Baseline {
	if buf == nil {
		buf = new(trainBuf)
	}
	// Rows per distinct row.
	buf.times = grown(buf.times, nu)
	times := buf.times[:nu]
	if of != nil {
		clear(times)
		for _, u := range of {
			times[u]++
		}
	} else {
		for u := range times {
			times[u] = 1
		}
	}
	buf.baseline = grown(buf.baseline, 2*n)
	scratch := buf.keys
	defer func() { buf.keys = scratch }()
	hasNegZero := func(j int) bool {
		if !negZero {
			return false
		}
		// The least of the values' bits with the sign flipped: 0 for -0
		// alone, kept without a branch a value.
		least := uint64(math.MaxUint64)
		for _, v := range cols[j][:n] {
			least = min(least, math.Float64bits(v)^(1<<63))
		}
		return least == 0
	}
	return baselinesOf(len(cols), n, buf.baseline, func(j int, col []float64) bool {
		// The columns own left: those without an order, and those
		// holding a -0.
		if j < len(orders) && orders[j] == nil && !hasNegZero(j) {
			// All values equal, and the same bits (no -0).
			col[0] = cols[j][0]
			return true
		}
		copy(col, cols[j][:n])
		scratch = sortFloats(col, scratch)
		return false
	}, func(j int) (Baseline, bool) {
		// A column's sorted values are its distinct values in order,
		// each as many times as its rows: its baseline is computed on
		// them so (baselineRuns), without writing them out.
		if j >= len(orders) || orders[j] == nil || hasNegZero(j) {
			return Baseline{}, false
		}
		return baselineRuns(ucols[j][:nu], orders[j], times, n), true
	})
}

// baselineRuns is the Baseline baselinesOf computes for n sorted values
// given as runs of equal values: ucol[order[k]] repeated times[order[k]]
// times, for k ascending. Its steps are baselinesOf's on the values
// written out, a run at a time: the median's values found by counting,
// the MAD by medianDev's merge of the deviations falling towards the
// median and rising after it (a run of equal deviations taken at once:
// medianDev takes all its values one after the other), and the mean
// deviation summed value by value in order, the deviations of +0 left
// out (adding +0 changes no sum, which is never -0).
func baselineRuns(ucol []float64, order, times []int32, n int) Baseline {
	w := func(u int32) int { return int(times[u]) }
	// The values at sorted positions n/2-1 (when n is even) and n/2.
	var lo, hi float64
	c := 0
	for _, u := range order {
		c += w(u)
		if c > n/2-1 && n%2 == 0 && c-w(u) <= n/2-1 {
			lo = ucol[u]
		}
		if c > n/2 {
			hi = ucol[u]
			break
		}
	}
	med := hi
	if n%2 == 0 {
		med = lo/2 + hi/2
	}
	// medianDev: the runs below med (i falling) and from it (j rising).
	q, _ := slices.BinarySearchFunc(order, med, func(u int32, t float64) int {
		if ucol[u] < t {
			return -1
		}
		return 1
	})
	i, j := q-1, q
	var prev, cur float64
	for k := 0; k <= n/2; {
		var d float64
		var c int
		if j >= len(order) || i >= 0 && math.Abs(ucol[order[i]]-med) <= math.Abs(ucol[order[j]]-med) {
			d, c = math.Abs(ucol[order[i]]-med), w(order[i])
			i--
		} else {
			d, c = math.Abs(ucol[order[j]]-med), w(order[j])
			j++
		}
		// This run is the sequence's values k .. k+c-1.
		if k+c-1 >= n/2 {
			// Value n/2 is d; value n/2-1 is d too, or prev's run.
			if n/2-1 >= k {
				prev = d
			} else {
				prev = cur
			}
			cur = d
			break
		}
		cur = d
		k += c
	}
	mad := cur
	if n%2 == 0 {
		mad = prev/2 + cur/2
	}
	scale := 1.4826 * mad
	if scale == 0 {
		sum := 0.0
		for _, u := range order {
			if d := math.Abs(ucol[u] - med); d != 0 {
				for range w(u) {
					sum += d
				}
			}
		}
		scale = 1.2533 * sum / float64(n)
	}
	if scale == 0 || math.IsInf(scale, 0) {
		scale = 1
	}
	return Baseline{Median: med, MAD: mad, Scale: scale}
}

// baselinesOf computes the baselines of width columns of n values, sorted
// writing column j's values sorted ascending into col, or only col[0] when
// it reports that all n values are col[0], bit for bit; scratch, when it
// holds 2n values, serves as col and the deviations.
//
// own, when not nil, may compute column j's baseline itself (reporting
// true), before sorted is asked.
func baselinesOf(width, n int, scratch []float64, sorted func(j int, col []float64) bool, own func(j int) (Baseline, bool)) []Baseline {
	out := make([]Baseline, width)
	if len(scratch) < 2*n {
		scratch = make([]float64, 2*n)
	}
	col, dev := scratch[:n:n], scratch[n:2*n:2*n]
	for j := range width {
		if own != nil {
			var ok bool
			if out[j], ok = own(j); ok {
				continue
			}
		}
		if sorted(j, col) {
			// A constant column's median is its value (as median
			// computes it), every deviation +0, and so is the MAD, the
			// mean deviation (scale 1): what the loops below give,
			// without them. A median other than the value (a
			// subnormal halved) takes them.
			v := col[0]
			med := v
			if n%2 == 0 {
				med = v/2 + v/2
			}
			if med == v {
				out[j] = Baseline{Median: med, MAD: 0, Scale: 1}
				continue
			}
			for i := range col {
				col[i] = v
			}
		}
		med := median(col)
		for i, v := range col {
			dev[i] = math.Abs(v - med)
		}
		mad := medianDev(col, dev, med)
		scale := 1.4826 * mad
		if scale == 0 {
			// The mean absolute deviation, summed in order: only when
			// the MAD is 0 (a sum is a chain of additions, each waiting
			// for the last).
			sum := 0.0
			for _, d := range dev {
				sum += d
			}
			scale = 1.2533 * sum / float64(len(dev))
		}
		if scale == 0 || math.IsInf(scale, 0) {
			scale = 1
		}
		out[j] = Baseline{Median: med, MAD: mad, Scale: scale}
	}
	return out
}

// medianDev returns the median of dev, the absolute deviations from med of
// the sorted values col (dev[i] = |col[i] − med|), without sorting them:
// they fall towards med and rise after it, two sorted runs merged up to
// the middle. Equal deviations are the same float64 (an absolute value is
// never −0), so this is median of dev sorted, bit for bit.
func medianDev(col, dev []float64, med float64) float64 {
	n := len(dev)
	p, _ := slices.BinarySearch(col, med) // col[:p] < med <= col[p:]
	i, j := p-1, p                        // the next of each run: dev[i] (i falling), dev[j]
	var prev, cur float64
	for k := 0; k <= n/2; k++ {
		prev = cur
		if j >= n || i >= 0 && dev[i] <= dev[j] {
			cur = dev[i]
			i--
		} else {
			cur = dev[j]
			j++
		}
	}
	if n%2 == 1 {
		return cur
	}
	return prev/2 + cur/2
}

// median of sorted values (at least one).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return sorted[n/2-1]/2 + sorted[n/2]/2
}

// upperQuantile returns the smallest value v of sorted such that at most
// (1−q)·n values are greater than v, i.e. the ⌈q·n⌉-th smallest value.
func upperQuantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	k := int(math.Ceil(q*float64(n)-1e-9)) - 1
	k = max(0, min(k, n-1))
	return sorted[k]
}

// Quantiles summarises a distribution of scores.
type Quantiles struct {
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func quantiles(sorted []float64) Quantiles {
	return Quantiles{
		Min:  sorted[0],
		P50:  upperQuantile(sorted, 0.5),
		P90:  upperQuantile(sorted, 0.9),
		P99:  upperQuantile(sorted, 0.99),
		P999: upperQuantile(sorted, 0.999),
		Max:  sorted[len(sorted)-1],
	}
}
