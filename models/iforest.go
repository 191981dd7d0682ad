package models

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/sjwhitworth/golearn/base"
	"github.com/sjwhitworth/golearn/trees"
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
	// Seed for the global math/rand source golearn draws from. The same
	// rows, options and seed give the same artifact, bit for bit. Default 0
	// (which is a seed like any other).
	Seed int64
	// FPR is the target false-positive rate: the threshold is the
	// (1 − FPR) quantile of the training scores, the training rows being
	// assumed mostly benign. Default 0.01.
	FPR float64
	// Span is the event-time range of the training windows, recorded in the
	// artifact. Default: zero.
	Span Span
	// CreatedBy names the trainer in the artifact. Default "halo/models".
	CreatedBy string
	// SkipReproCheck skips the second training that checks that another
	// goroutine did not draw from the global math/rand source meanwhile
	// (see ErrNotReproducible). Default false: check.
	SkipReproCheck bool
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
	return errors.Join(errs...)
}

// TrainIsolationForest trains a golearn IsolationForest on rows (one per
// feature window, values in the order of names) and calibrates its
// threshold at opts.FPR on the training scores.
//
// golearn draws from the global math/rand source: training holds a package
// lock, seeds it with opts.Seed, and needs GODEBUG=randseednop=0
// (ErrSeedIgnored otherwise). It then trains a second time and compares,
// to catch other goroutines drawing from the same source meanwhile
// (ErrNotReproducible after three disagreeing attempts).
func TrainIsolationForest(rows [][]float64, names []string, opts IForestOptions) (*Artifact, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := checkTraining(rows, names); err != nil {
		return nil, err
	}
	sample := min(opts.Sample, len(rows))
	grid, err := isolationGrid(rows, names)
	if err != nil {
		return nil, err
	}

	var model []Tree
	err = withSeededGlobalRand(opts.Seed, func(reseed func()) error {
		var got [][]Tree
		attempts := 3
		if opts.SkipReproCheck {
			attempts = 1
		}
		for range attempts {
			reseed()
			ts, err := fitIsolationForest(grid, opts.Trees, opts.Depth, sample)
			if err != nil {
				return err
			}
			if opts.SkipReproCheck {
				model = ts
				return nil
			}
			for _, prev := range got {
				if treesEqual(prev, ts) {
					model = ts
					return nil
				}
			}
			got = append(got, ts)
		}
		return ErrNotReproducible
	})
	if err != nil {
		return nil, err
	}

	a := &Artifact{
		Kind:      KindIForest,
		Features:  slices.Clone(names),
		Baselines: baselines(rows, len(names)),
		Span:      opts.Span,
		Rows:      len(rows),
		Seed:      opts.Seed,
		CreatedBy: opts.CreatedBy,
		Trainer:   trainer(),
		Params:    Params{Trees: opts.Trees, Depth: opts.Depth, Sample: sample, FPR: opts.FPR},
		Trees:     model,
	}
	m := compile(KindIForest, len(names), model, sample)
	scores := make([]float64, len(rows))
	m.scoreAll(scores, rows)
	slices.Sort(scores)
	a.Threshold = upperQuantile(scores, 1-opts.FPR)
	a.Metrics.Scores = quantiles(scores)
	flagged := len(scores) - upperBound(scores, a.Threshold)
	a.Metrics.Flagged = float64(flagged) / float64(len(scores))
	if err := a.seal(m); err != nil {
		return nil, err
	}
	return a, nil
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

// isolationGrid builds the golearn grid for an isolation forest: golearn
// needs exactly one float class attribute and uses it as the last feature,
// so the last feature is the class attribute and golearn's feature index j
// is names[j].
func isolationGrid(rows [][]float64, names []string) (*base.DenseInstances, error) {
	var grid *base.DenseInstances
	err := protect("building the training grid", func() error {
		g := base.NewDenseInstances()
		specs := make([]base.AttributeSpec, len(names))
		attrs := make([]base.Attribute, len(names))
		for j, n := range names {
			attrs[j] = base.NewFloatAttribute(n)
			specs[j] = g.AddAttribute(attrs[j])
		}
		if err := g.AddClassAttribute(attrs[len(names)-1]); err != nil {
			return err
		}
		if err := g.Extend(len(rows)); err != nil {
			return err
		}
		for i, r := range rows {
			for j, v := range r {
				g.Set(specs[j], i, base.PackFloatToBytes(v))
			}
		}
		grid = g
		return nil
	})
	return grid, err
}

// fitIsolationForest fits golearn's IsolationForest on grid and reads its
// trees out. The caller holds globalRandMu and has seeded the source.
func fitIsolationForest(grid base.FixedDataGrid, nTrees, depth, sample int) ([]Tree, error) {
	var out []Tree
	err := protect("fitting IsolationForest", func() error {
		f := trees.NewIsolationForest(nTrees, depth, sample)
		f.Fit(grid)
		var err error
		out, err = readIsolationTrees(&f, sample)
		return err
	})
	return out, err
}

// readIsolationTrees reads the trees of a fitted golearn IsolationForest.
// golearn keeps them in an unexported field and has no serialisation for
// them, so they are read by reflection (read-only: exported fields of an
// unexported type). A golearn version with another layout gives an
// ErrGolearn error, and the tests compare Score with golearn's Predict.
//
// golearn's node: Feature, Threshold (go left when x <= Threshold),
// Left/Right child pointers, LeftPred/RightPred = how many sample points
// went left/right. A nil child is a leaf of that size. The root is always a
// split node, even when golearn did not split it (all sampled points
// equal): it then has Feature 0, Threshold 0 and two empty leaves, which
// is how golearn scores it (path length 1).
func readIsolationTrees(f *trees.IsolationForest, sample int) ([]Tree, error) {
	v := reflect.ValueOf(f).Elem().FieldByName("trees")
	if !v.IsValid() || v.Kind() != reflect.Slice || v.Type().Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: IsolationForest has no trees slice (golearn version changed?)", ErrGolearn)
	}
	typ := v.Type().Elem()
	for _, fld := range []struct {
		name string
		kind reflect.Kind
	}{{"Feature", reflect.Int64}, {"Threshold", reflect.Float64}, {"LeftPred", reflect.Float64}, {"RightPred", reflect.Float64}, {"Left", reflect.Pointer}, {"Right", reflect.Pointer}} {
		sf, ok := typ.FieldByName(fld.name)
		if !ok || sf.Type.Kind() != fld.kind {
			return nil, fmt.Errorf("%w: IsolationForest node has no %s %s field (golearn version changed?)", ErrGolearn, fld.kind, fld.name)
		}
	}
	out := make([]Tree, v.Len())
	for i := range out {
		t := &out[i]
		var walk func(n reflect.Value, size int) int
		walk = func(n reflect.Value, size int) int {
			idx := t.add(int(n.FieldByName("Feature").Int()), n.FieldByName("Threshold").Float(), size, 0, false)
			for side, name := range [2]string{"Left", "Right"} {
				childSize := int(n.FieldByName(name + "Pred").Float())
				var c int
				if p := n.FieldByName(name); p.IsNil() {
					c = t.add(-1, 0, childSize, 0, false)
				} else {
					c = walk(p.Elem(), childSize)
				}
				if side == 0 {
					t.Left[idx] = c
				} else {
					t.Right[idx] = c
				}
			}
			return idx
		}
		walk(v.Index(i), sample)
		if err := t.check(int(^uint(0)>>1), false); err != nil {
			return nil, fmt.Errorf("%w: tree %d as read: %v", ErrGolearn, i, err)
		}
	}
	return out, nil
}

func treesEqual(a, b []Tree) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if !slices.Equal(x.Feature, y.Feature) || !slices.Equal(x.Left, y.Left) ||
			!slices.Equal(x.Right, y.Right) || !slices.Equal(x.Size, y.Size) ||
			!slices.Equal(x.Positive, y.Positive) || len(x.Split) != len(y.Split) {
			return false
		}
		for j := range x.Split {
			if x.Split[j] != y.Split[j] { // finite: == is bitwise except ±0
				return false
			}
		}
	}
	return true
}
