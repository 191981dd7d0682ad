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
	})
}

// baselinesSorted is baselinesColumns given the n rows' distinct rows
// (uniqueColumns: ucols, nu, of) and, for each column, the distinct rows
// sorted by their values, or nil when its values are all equal
// (distinctOrders): a column's
// sorted values are then its distinct rows' values in that order, each
// repeated as many times as rows have it, rather than a sort of the n
// values. Equal values are the same bits, but for -0 and +0 (which
// uniqueColumns does not tell apart): a column holding a -0 is sorted as
// baselinesColumns sorts it. Its scratch is buf's (nil: new arrays).
func baselinesSorted(buf *trainBuf, cols [][]float64, n int, ucols [][]float64, nu int, of []int32, orders [][]int32) []Baseline {
	if buf == nil {
		buf = new(trainBuf)
	}
	var times []int32 // rows per distinct row (nil: one each)
	if of != nil {
		buf.times = grown(buf.times, nu)
		times = buf.times[:nu]
		clear(times)
		for _, u := range of {
			times[u]++
		}
	}
	buf.baseline = grown(buf.baseline, 2*n)
	scratch := buf.keys
	defer func() { buf.keys = scratch }()
	return baselinesOf(len(cols), n, buf.baseline, func(j int, col []float64) bool {
		negZeros := 0 // counted without a branch a value
		for _, v := range cols[j][:n] {
			negZeros += b2i(math.Float64bits(v) == 1<<63)
		}
		negZero := negZeros > 0
		if j >= len(orders) || negZero {
			copy(col, cols[j][:n])
			scratch = sortFloats(col, scratch)
			return false
		}
		if orders[j] == nil {
			// All values equal, and the same bits (no -0).
			col[0] = cols[j][0]
			return true
		}
		ucol := ucols[j][:nu]
		if times == nil {
			for k, u := range orders[j] {
				col[k] = ucol[u]
			}
			return false
		}
		k := 0
		for _, u := range orders[j] {
			v := ucol[u]
			for range times[u] {
				col[k] = v
				k++
			}
		}
		return false
	})
}

// baselinesOf computes the baselines of width columns of n values, sorted
// writing column j's values sorted ascending into col, or only col[0] when
// it reports that all n values are col[0], bit for bit; scratch, when it
// holds 2n values, serves as col and the deviations.
func baselinesOf(width, n int, scratch []float64, sorted func(j int, col []float64) bool) []Baseline {
	out := make([]Baseline, width)
	if len(scratch) < 2*n {
		scratch = make([]float64, 2*n)
	}
	col, dev := scratch[:n:n], scratch[n:2*n:2*n]
	for j := range width {
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
