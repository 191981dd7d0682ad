package models

import (
	"math"
	"math/bits"
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
	buf.runVals, buf.runCnt = grown(buf.runVals, nu), grown(buf.runCnt, nu)
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
		k := valueRuns(ucols[j][:nu], orders[j], times, buf.runVals, buf.runCnt)
		return baselineRuns(buf.runVals[:k], buf.runCnt[:k], n), true
	})
}

// valueRuns writes the distinct values of ucol in the order of order,
// with no -0 among them (equal values are then the same bits), into vals,
// and how many rows have each (times[u] rows have ucol[u]) into cnt,
// which must have room for len(order) each, and returns how many there
// are: a column's sorted values as runs of equal values, the few values
// of a count over its many distinct rows. It has no branch on the
// values: each row's value and its run's count so far are written to the
// run's slot, which moves on when the value changes.
func valueRuns(ucol []float64, order, times []int32, vals []float64, cnt []int32) int {
	if len(order) == 0 {
		return 0
	}
	vals, cnt = vals[:len(order)], cnt[:len(order)]
	times = times[:len(ucol)] // one length in the loop's checks
	r := 0
	prev := ucol[order[0]]
	c := int32(0)
	for _, u := range order {
		v := ucol[u]
		next := b2i(v != prev)
		r += next
		c = c&^-int32(next) + times[u] // a new run counts from 0
		vals[r], cnt[r] = v, c
		prev = v
	}
	return r + 1
}

// baselineRuns is the Baseline baselinesOf computes for n sorted values
// given as runs of equal values: vals[k] repeated cnt[k] times, for k
// ascending (valueRuns). Its steps are baselinesOf's on the values
// written out, a run at a time: the median's values found by counting,
// the MAD by medianDev's merge of the deviations falling towards the
// median and rising after it (a run of equal deviations taken at once:
// medianDev takes all its values one after the other), and the mean
// deviation summed value by value in order, the deviations of +0 left
// out (adding +0 changes no sum, which is never -0).
func baselineRuns(vals []float64, cnt []int32, n int) Baseline {
	cnt = cnt[:len(vals)]
	// The values at sorted positions n/2-1 (when n is even) and n/2.
	var lo, hi float64
	c := 0
	for k, v := range vals {
		w := int(cnt[k])
		c += w
		if c > n/2-1 && n%2 == 0 && c-w <= n/2-1 {
			lo = v
		}
		if c > n/2 {
			hi = v
			break
		}
	}
	med := hi
	if n%2 == 0 {
		med = lo/2 + hi/2
	}
	// medianDev: the runs below med (i falling) and from it (j rising).
	q, _ := slices.BinarySearch(vals, med)
	i, j := q-1, q
	var prev, cur float64
	for k := 0; k <= n/2; {
		var d float64
		var c int
		if j >= len(vals) || i >= 0 && math.Abs(vals[i]-med) <= math.Abs(vals[j]-med) {
			d, c = math.Abs(vals[i]-med), int(cnt[i])
			i--
		} else {
			d, c = math.Abs(vals[j]-med), int(cnt[j])
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
		for k, v := range vals {
			if d := math.Abs(v - med); d != 0 {
				for range cnt[k] {
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
	return sorted[quantileRank(len(sorted), q)]
}

// quantileRank is the position in n sorted values of upperQuantile's.
func quantileRank(n int, q float64) int {
	k := int(math.Ceil(q*float64(n)-1e-9)) - 1
	return max(0, min(k, n-1))
}

// rankSelect sets vals[i] to the value at position ranks[i] of a sorted
// (each rank in [0, len(a))), and above[i] to how many values of a are
// greater than it, without sorting a: what a calibration reads of its
// scores (a threshold, a few quantiles and the rows above the
// threshold). A pass counts the values by the top selectBits bits where
// their sort keys (sortKeys) differ, and only the buckets holding a rank
// are gathered and sorted: a few dozen values each, where sortFloats
// takes seven or eight radix passes over all the values of a float
// column. A value's key gives it back bit for bit, and equal values
// have equal keys but for -0 and +0, and NaN: with either in a it
// reports false, setting nothing (the caller sorts). scratch is reused
// and returned; a is not changed.
func rankSelect(a []float64, ranks []int, vals []float64, above []int, scratch []uint64) ([]uint64, bool) {
	n := len(a)
	if cap(scratch) < 2*n {
		scratch = make([]uint64, 2*n)
	}
	keys, got := scratch[:n], scratch[n:2*n]
	// A NaN's bits less the sign, shifted out, are above +Inf's; -0's
	// with the sign flipped are 0: their maximum and minimum, without a
	// branch a value (as columnsChecked).
	and, or := ^uint64(0), uint64(0)
	most, least := uint64(0), uint64(math.MaxUint64)
	for i, v := range a {
		b := math.Float64bits(v)
		most = max(most, b<<1)
		least = min(least, b^(1<<63))
		k := floatKey(b)
		keys[i] = k
		and &= k
		or |= k
	}
	if most > math.Float64bits(math.Inf(1))<<1 || least == 0 || n == 0 {
		return scratch, false
	}
	differ := and ^ or
	top := bits.Len64(differ)
	w := min(selectBits, top)
	s := uint(top - w)
	m := uint64(1)<<w - 1
	// start[d] is where bucket d's values begin in a sorted.
	var start [1<<selectBits + 1]int32
	for _, k := range keys {
		start[(k>>s)&m+1]++
	}
	for d := 1; d <= 1<<w; d++ {
		start[d] += start[d-1]
	}
	// The buckets holding a rank, and their values gathered where they
	// go in a sorted (at a rank's bucket's start), then sorted.
	var need [1 << selectBits / 64]uint64
	var fill [1 << selectBits]int32
	bucket := func(r int) int {
		// The last bucket starting at or before r.
		d, _ := slices.BinarySearch(start[1:1<<w+1], int32(r)+1)
		return d
	}
	for _, r := range ranks {
		d := bucket(r)
		need[d/64] |= 1 << (d % 64)
		fill[d] = start[d]
	}
	for _, k := range keys {
		d := (k >> s) & m
		if need[d/64]&(1<<(d%64)) != 0 {
			got[fill[d]] = k
			fill[d]++
		}
	}
	for _, r := range ranks {
		d := bucket(r)
		b := got[start[d]:start[d+1]]
		if need[d/64]&(1<<(d%64)) != 0 {
			need[d/64] &^= 1 << (d % 64) // sorted once
			slices.Sort(b)
		}
		k := got[r]
		j := r + 1
		for j < int(start[d+1]) && got[j] == k {
			j++
		}
		vals[0], above[0] = keyFloat(k), n-j
		vals, above = vals[1:], above[1:]
	}
	return scratch, true
}

// selectBits is how many bits rankSelect buckets values by.
const selectBits = 11

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
