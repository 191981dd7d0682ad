package models

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// IForestOptions configure TrainIsolationForest.
type IForestOptions struct {
	// Trees in the forest. Default 100.
	Trees int
	// Depth limit of each tree (golearn counts the root as depth 1 and
	// splits down to Depth). Default 8.
	Depth int
	// Sample is ψ, the rows drawn with replacement for each tree; it is
	// lowered to the number of training rows when there are fewer.
	// Default 256.
	Sample int
	// Seed for the math/rand source the trees are drawn from (golearn's
	// IsolationForest draws the same values from the global source after
	// rand.Seed(Seed)). The same rows, options and seed give the same
	// artifact, bit for bit. Default 0 (which is a seed like any other).
	Seed int64
	// FPR is the target false-positive rate: the threshold is the
	// (1 − FPR) quantile of the training scores, the training rows being
	// assumed mostly benign. Default 0.01.
	FPR float64
	// Span is the event-time range of the training windows, recorded in the
	// artifact. Default: zero.
	Span Span
	// Window is the size of the training rows' feature windows, recorded
	// in the artifact (Artifact.WindowNs). Default: zero, not recorded.
	Window time.Duration
	// CreatedBy names the trainer in the artifact. Default "halo/models".
	CreatedBy string
	// Serial trains on the calling goroutine alone. By default the
	// calibration's scoring is split over runtime.GOMAXPROCS(0)
	// goroutines, which takes less time but a little more CPU: a caller
	// whose other goroutines keep the cores busy saves that CPU. The
	// artifact is the same either way.
	Serial bool
	// Unsealed returns the artifact validated but not sealed: its ID
	// empty until Seal sets it, which Save and SaveSHA256 call first.
	// Sealing renders the artifact's content as JSON (~150 kB for 100
	// trees) and hashes it, about a fifth of a pipeline cohort's
	// training, which a caller that may never need the ID saves: a
	// replay's pipeline, most of whose models raise no alert to name them
	// in (10 of the 17 of the Zeek replay). The sealed artifact is the
	// same either way.
	Unsealed bool
}

func (o *IForestOptions) setDefaults() {
	if o.Trees == 0 {
		o.Trees = 100
	}
	if o.Depth == 0 {
		o.Depth = 8
	}
	if o.Sample == 0 {
		o.Sample = 256
	}
	if o.FPR == 0 {
		o.FPR = 0.01
	}
	if o.CreatedBy == "" {
		o.CreatedBy = "halo/models"
	}
}

// Validate reports every option out of range (after defaults).
func (o *IForestOptions) Validate() error {
	var errs []error
	if o.Trees < 1 || o.Trees > maxTrees {
		errs = append(errs, fmt.Errorf("%w: trees %d outside [1, %d]", ErrOptions, o.Trees, maxTrees))
	}
	if o.Depth < 1 || o.Depth > 30 {
		errs = append(errs, fmt.Errorf("%w: depth %d outside [1, 30]", ErrOptions, o.Depth))
	}
	if o.Sample < 2 || o.Sample > 1<<24 {
		errs = append(errs, fmt.Errorf("%w: sample %d outside [2, 2^24]", ErrOptions, o.Sample))
	}
	if !(o.FPR > 0 && o.FPR <= 0.5) {
		errs = append(errs, fmt.Errorf("%w: fpr %v outside (0, 0.5]", ErrOptions, o.FPR))
	}
	if !o.Span.Start.IsZero() && o.Span.End.Before(o.Span.Start) {
		errs = append(errs, fmt.Errorf("%w: span ends before it starts", ErrOptions))
	}
	if o.Window < 0 {
		errs = append(errs, fmt.Errorf("%w: window %v is negative", ErrOptions, o.Window))
	}
	return errors.Join(errs...)
}

// TrainIsolationForest trains an isolation forest on rows (one per feature
// window, values in the order of names) and calibrates its threshold at
// opts.FPR on the training scores.
//
// The trees are golearn's: fitIsolation grows exactly the trees golearn's
// IsolationForest.Fit grows after rand.Seed(opts.Seed), from its own source
// seeded with opts.Seed, so training needs no lock on the global math/rand
// source, no GODEBUG setting and no second fit to prove that nothing else
// drew from it (the tests fit golearn itself as the reference).
func TrainIsolationForest(rows [][]float64, names []string, opts IForestOptions) (*Artifact, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := checkNames(names); err != nil {
		return nil, err
	}
	if len(rows) < MinRows {
		return nil, checkTraining(rows, names)
	}
	sample := min(opts.Sample, len(rows))
	buf := trainBufs.Get().(*trainBuf)
	defer trainBufs.Put(buf)
	cols, negZero, ok := columnsChecked(&buf.cols, rows, len(names))
	if !ok {
		if err := checkTraining(rows, names); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: rows rejected", ErrInput) // not reached: checkTraining names the row
	}
	ucols, nu, of := uniqueColumnsIn(&buf.ucols, &buf.unique, cols, len(rows))
	model, m := fitIsolationCompiled(ucols, nu, of, len(rows), opts.Trees, opts.Depth, sample, opts.Seed, buf.unique.varying)

	// The distinct rows sorted by each feature: the baselines' sorted
	// columns, and the calibration's le sets (scoreBits), without a sort
	// each.
	orders := distinctOrders(buf, ucols, nu, buf.unique.varying)
	a := &Artifact{
		Kind:      KindIForest,
		Features:  slices.Clone(names),
		Baselines: baselinesSorted(buf, cols, len(rows), ucols, nu, of, orders, negZero),
		Span:      opts.Span,
		WindowNs:  int64(opts.Window),
		Rows:      len(rows),
		Seed:      opts.Seed,
		CreatedBy: opts.CreatedBy,
		Trainer:   trainer(),
		Params:    Params{Trees: opts.Trees, Depth: opts.Depth, Sample: sample, FPR: opts.FPR},
		Trees:     model,
	}
	buf.scores = grown(buf.scores, len(rows))
	scores := buf.scores[:len(rows)]
	m.scoreDistinct(scores, cols, len(rows), ucols, nu, of, opts.Serial, orders)
	var flagged int
	a.Threshold, a.Metrics.Scores, flagged = calibration(scores, opts.FPR, buf)
	a.Metrics.Flagged = float64(flagged) / float64(len(scores))
	if err := a.seal(m, true, opts.Unsealed); err != nil {
		return nil, err
	}
	return a, nil
}

// trainBuf holds a training's rows column-major, all of them and the
// distinct ones (columnsIn, uniqueColumnsIn), and the distinct rows' orders
// by feature (distinctOrders): over half a megabyte for a cohort's 2 000
// rows, which nothing keeps after the training (the trees, baselines and
// scores hold values, not views), recycled from one training to the next.
type trainBuf struct {
	cols, ucols []float64
	// distinctOrders' orders and scratch.
	orders, tmp []int32
	keys        []uint64
	// uniqueColumnsIn's scratch and of, and the scores of the rows (the
	// calibration keeps quantiles of them, not them).
	unique uniqueBuf
	scores []float64
	// baselinesSorted's scratch: rows per distinct row, and sorted
	// values and their deviations.
	times    []int32
	baseline []float64
	// a column's runs of equal values (valueRuns).
	runVals []float64
	runCnt  []int32
}

var trainBufs = sync.Pool{New: func() any { return new(trainBuf) }}

// distinctOrders returns, for each of the columns of the nu distinct rows
// ucols (uniqueColumns) whose values are not all equal, the distinct rows
// sorted by their values in it (radixOrder), and nil for the others;
// held in buf. vary, when not nil, tells which columns' values are not
// all equal (uniqueBuf.varying), which it otherwise scans them for.
func distinctOrders(buf *trainBuf, ucols [][]float64, nu int, vary []uint64) [][]int32 {
	orders := make([][]int32, len(ucols))
	varying := 0
	for j, col := range ucols {
		if vary != nil {
			if vary[j/64]&(1<<(j%64)) != 0 {
				orders[j] = []int32{} // sorted below
				varying++
			}
			continue
		}
		col = col[:nu]
		for _, v := range col {
			if v != col[0] {
				orders[j] = []int32{} // sorted below
				varying++
				break
			}
		}
	}
	if varying == 0 {
		return orders
	}
	flat := grown(buf.orders, varying*nu)
	buf.orders = flat
	buf.tmp = grown(buf.tmp, nu)
	buf.keys = grown(buf.keys, 2*nu)
	for j := range orders {
		if orders[j] == nil {
			continue
		}
		orders[j], flat = flat[:nu:nu], flat[nu:]
		radixOrder(ucols[j][:nu], orders[j], buf.tmp, buf.keys)
	}
	return orders
}

// calibration returns the threshold at fpr of the training scores (the
// upper quantile at 1 − fpr), their quantiles and how many are above the
// threshold: from the scores sorted, read at a few positions, which
// rankSelect finds without sorting them (scores is left as it is, or
// sorted).
func calibration(scores []float64, fpr float64, buf *trainBuf) (threshold float64, q Quantiles, flagged int) {
	n := len(scores)
	ranks := [...]int{
		quantileRank(n, 1-fpr),
		0, quantileRank(n, 0.5), quantileRank(n, 0.9), quantileRank(n, 0.99), quantileRank(n, 0.999), n - 1,
	}
	var vals [len(ranks)]float64
	var above [len(ranks)]int
	var ok bool
	if buf.keys, ok = rankSelect(scores, ranks[:], vals[:], above[:], buf.keys); !ok {
		buf.keys = sortFloats(scores, buf.keys)
		threshold = upperQuantile(scores, 1-fpr)
		return threshold, quantiles(scores), n - upperBound(scores, threshold)
	}
	q = Quantiles{Min: vals[1], P50: vals[2], P90: vals[3], P99: vals[4], P999: vals[5], Max: vals[6]}
	return vals[0], q, above[0]
}

// upperBound returns the number of values of sorted that are <= v.
func upperBound(sorted []float64, v float64) int {
	i, _ := slices.BinarySearchFunc(sorted, v, func(e, t float64) int {
		if e <= t {
			return -1
		}
		return 1
	})
	return i
}
