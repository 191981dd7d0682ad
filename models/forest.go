package models

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sjwhitworth/golearn/base"
	"github.com/sjwhitworth/golearn/trees"
)

// ForestOptions configure TrainRandomForest.
type ForestOptions struct {
	// Trees in the forest. Default 50.
	Trees int
	// FeaturesPerTree is the size of the random feature subset each tree
	// is grown on. golearn's ID3 uses a numeric feature at most once on a
	// path, so a tree is at most this deep: small subsets (the textbook
	// √d) give stumps that vote the majority class. Default: half the
	// features, rounded up, and at least min(d, 8).
	FeaturesPerTree int
	// Holdout is the share of each class held out of training and used to
	// measure the model (Artifact.Metrics.Holdout). Default 0.2.
	Holdout float64
	// Threshold on the score above which a row is flagged. Default 0.5.
	Threshold float64
	// Seed of the bootstrap samples, feature subsets and holdout split.
	// The same rows, labels, options and seed give the same artifact, bit
	// for bit. Default 0 (which is a seed like any other).
	Seed int64
	// Span is the event-time range of the training windows, recorded in the
	// artifact. Default: zero.
	Span Span
	// Window is the size of the training rows' feature windows, recorded
	// in the artifact (Artifact.WindowNs). Default: zero, not recorded.
	Window time.Duration
	// CreatedBy names the trainer in the artifact. Default "halo/models".
	CreatedBy string
}

func (o *ForestOptions) setDefaults(width int) {
	if o.Trees == 0 {
		o.Trees = 50
	}
	if o.FeaturesPerTree == 0 {
		o.FeaturesPerTree = defaultFeaturesPerTree(width)
	}
	if o.Holdout == 0 {
		o.Holdout = 0.2
	}
	if o.Threshold == 0 {
		o.Threshold = 0.5
	}
	if o.CreatedBy == "" {
		o.CreatedBy = "halo/models"
	}
}

func defaultFeaturesPerTree(width int) int {
	return max((width+1)/2, min(width, 8))
}

// Validate reports every option out of range (after defaults) for rows of
// width features.
func (o *ForestOptions) Validate(width int) error {
	var errs []error
	if o.Trees < 1 || o.Trees > maxTrees {
		errs = append(errs, fmt.Errorf("%w: trees %d outside [1, %d]", ErrOptions, o.Trees, maxTrees))
	}
	if o.FeaturesPerTree < 1 || o.FeaturesPerTree > width {
		errs = append(errs, fmt.Errorf("%w: features per tree %d outside [1, %d]", ErrOptions, o.FeaturesPerTree, width))
	}
	if !(o.Holdout > 0 && o.Holdout <= 0.5) {
		errs = append(errs, fmt.Errorf("%w: holdout %v outside (0, 0.5]", ErrOptions, o.Holdout))
	}
	if !(o.Threshold >= 0 && o.Threshold < 1) {
		errs = append(errs, fmt.Errorf("%w: threshold %v outside [0, 1)", ErrOptions, o.Threshold))
	}
	if !o.Span.Start.IsZero() && o.Span.End.Before(o.Span.Start) {
		errs = append(errs, fmt.Errorf("%w: span ends before it starts", ErrOptions))
	}
	if o.Window < 0 {
		errs = append(errs, fmt.Errorf("%w: window %v is negative", ErrOptions, o.Window))
	}
	return errors.Join(errs...)
}

// PositiveLabels turns string labels into the booleans TrainRandomForest
// and Evaluate take: a label is positive unless it is one of benign
// (compared exactly), e.g. PositiveLabels(zeekLabels, "Benign", "benign").
func PositiveLabels(labels []string, benign ...string) []bool {
	out := make([]bool, len(labels))
	for i, l := range labels {
		out[i] = !slices.Contains(benign, l)
	}
	return out
}

// TrainRandomForest trains a random forest of golearn ID3 decision trees on
// labelled rows (labels[i] true = positive, e.g. malicious), holding out
// opts.Holdout of each class to measure it.
//
// It does not use golearn's ensemble.RandomForest: that trains its trees in
// concurrent goroutines that all draw from the global math/rand source, and
// golearn's ID3 breaks ties between equally good splits in map order, so
// the same seed does not give the same forest; and it only predicts a
// majority-vote class, not a score. This function does the same —
// bootstrap sample and random feature subset per tree, golearn's
// trees.ID3DecisionTree on each — with a per-tree random source derived from
// opts.Seed (math/rand/v2 PCG, not the global source), so training is
// reproducible, needs no GODEBUG setting, and runs its trees in parallel.
// A tree's leaf keeps its class counts, and the score is the mean share of
// positives over the trees.
func TrainRandomForest(rows [][]float64, labels []bool, names []string, opts ForestOptions) (*Artifact, error) {
	if err := checkTraining(rows, names); err != nil {
		return nil, err
	}
	width := len(names)
	opts.setDefaults(width)
	if err := opts.Validate(width); err != nil {
		return nil, err
	}
	if len(labels) != len(rows) {
		return nil, fmt.Errorf("%w: %d labels for %d rows", ErrInput, len(labels), len(rows))
	}
	var pos, neg []int
	for i, l := range labels {
		if l {
			pos = append(pos, i)
		} else {
			neg = append(neg, i)
		}
	}
	if len(pos) < 2 || len(neg) < 2 {
		return nil, fmt.Errorf("%w: %d positive and %d negative rows", ErrOneClass, len(pos), len(neg))
	}

	// Stratified holdout split.
	split := rand.New(rand.NewPCG(uint64(opts.Seed), 0))
	var train, test []int
	for _, class := range [][]int{neg, pos} {
		idx := slices.Clone(class)
		split.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		n := min(len(idx)-1, max(1, int(math.Round(opts.Holdout*float64(len(idx))))))
		test = append(test, idx[:n]...)
		train = append(train, idx[n:]...)
	}
	slices.Sort(train)
	slices.Sort(test)

	model := make([]Tree, opts.Trees)
	errs := make([]error, opts.Trees)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), opts.Trees) {
		wg.Go(func() {
			for {
				t := int(next.Add(1)) - 1
				if t >= opts.Trees {
					return
				}
				model[t], errs[t] = fitForestTree(rows, labels, train, names, opts.FeaturesPerTree, opts.Seed, t)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	trainRows, testRows := pick(rows, train), pick(rows, test)
	testLabels := make([]bool, len(test))
	var benign [][]float64
	for i, r := range train {
		if !labels[r] {
			benign = append(benign, trainRows[i])
		}
	}
	for i, r := range test {
		testLabels[i] = labels[r]
	}

	a := &Artifact{
		Kind:      KindForest,
		Features:  slices.Clone(names),
		Baselines: baselines(benign, width),
		Threshold: opts.Threshold,
		Span:      opts.Span,
		WindowNs:  int64(opts.Window),
		Rows:      len(rows),
		Seed:      opts.Seed,
		CreatedBy: opts.CreatedBy,
		Trainer:   trainer(),
		Params:    Params{Trees: opts.Trees, FeaturesPerTree: opts.FeaturesPerTree, Holdout: opts.Holdout},
		Trees:     model,
	}
	m := compile(KindForest, width, model, 0)
	scores := make([]float64, len(trainRows))
	m.scoreAll(scores, trainRows)
	slices.Sort(scores)
	a.Metrics.Scores = quantiles(scores)
	a.Metrics.Flagged = float64(len(scores)-upperBound(scores, a.Threshold)) / float64(len(scores))
	testScores := make([]float64, len(testRows))
	m.scoreAll(testScores, testRows)
	hm, err := Evaluate(testScores, testLabels, a.Threshold)
	if err != nil {
		return nil, err
	}
	a.Metrics.Holdout, a.Metrics.HoldoutRows = &hm, len(test)
	if err := a.seal(m, false, false); err != nil {
		return nil, err
	}
	return a, nil
}

func pick(rows [][]float64, idx []int) [][]float64 {
	out := make([][]float64, len(idx))
	for i, r := range idx {
		out[i] = rows[r]
	}
	return out
}

// fitForestTree grows tree t with growID3 and converts it.
func fitForestTree(rows [][]float64, labels []bool, train []int, names []string, k int, seed int64, t int) (Tree, error) {
	var out Tree
	err := protect(fmt.Sprintf("growing ID3 tree %d", t), func() error {
		id3, _, index, err := growID3(rows, labels, train, names, k, seed, t)
		if err != nil {
			return err
		}
		out, err = readID3(id3.Root, index)
		return err
	})
	return out, err
}

// growID3 grows tree t: a bootstrap sample of the train rows and a random
// subset of k features, both drawn from a source derived from seed and t
// alone, and golearn's ID3 (information gain, no pruning, candidate
// features in a fixed order) on them. It
// returns the tree, the grid it was grown on and the feature index of each
// of the grid's attribute names. It may panic (golearn).
func growID3(rows [][]float64, labels []bool, train []int, names []string, k int, seed int64, t int) (*trees.ID3DecisionTree, *base.DenseInstances, map[string]int, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(t)+1))
	feats := rng.Perm(len(names))[:k]
	slices.Sort(feats)
	sample := make([]int, len(train))
	for i := range sample {
		sample[i] = train[rng.IntN(len(train))]
	}

	g := base.NewDenseInstances()
	specs := make([]base.AttributeSpec, k)
	index := make(map[string]int, k)
	for j, f := range feats {
		specs[j] = g.AddAttribute(base.NewFloatAttribute(names[f]))
		index[names[f]] = f
	}
	class := base.NewCategoricalAttribute()
	class.SetName(classAttrName)
	// Fix the class values' order: it is part of golearn's identity.
	sysVal := [2][]byte{class.GetSysValFromString("0"), class.GetSysValFromString("1")}
	classSpec := g.AddAttribute(class)
	if err := g.AddClassAttribute(class); err != nil {
		return nil, nil, nil, err
	}
	if err := g.Extend(len(sample)); err != nil {
		return nil, nil, nil, err
	}
	for i, r := range sample {
		for j, f := range feats {
			g.Set(specs[j], i, base.PackFloatToBytes(rows[r][f]))
		}
		c := 0
		if labels[r] {
			c = 1
		}
		g.Set(classSpec, i, sysVal[c])
	}
	id3 := trees.NewID3DecisionTreeFromRule(0, orderedInformationGain{})
	if err := id3.Fit(g); err != nil {
		return nil, nil, nil, err
	}
	return id3, g, index, nil
}

// orderedInformationGain is golearn's InformationGainRuleGenerator made
// deterministic. golearn lists the candidate attributes by ranging over a
// map, and sums the node's class entropy over a map too: when two features
// split a node equally well (common in small nodes) the one chosen changed
// from run to run, by the candidates' order or by a last-bit difference of
// the base entropy. Here golearn still finds each candidate's best split
// value, one candidate at a time, but the gains are computed from the
// class counts in a fixed order and gains within 1e-9 of the best count as
// a tie, won by the first candidate in the grid's order.
type orderedInformationGain struct{}

func (orderedInformationGain) GenerateSplitRule(f base.FixedDataGrid) *trees.DecisionTreeRule {
	var candidates []base.Attribute
	for _, a := range f.AllAttributes() {
		if a.GetName() != classAttrName {
			candidates = append(candidates, a)
		}
	}
	var ig trees.InformationGainRuleGenerator
	var best *trees.DecisionTreeRule
	bestGain := math.Inf(-1)
	for _, c := range candidates {
		r := ig.GetSplitRuleFromSelection([]base.Attribute{c}, f)
		if r == nil || r.SplitAttr == nil {
			continue
		}
		g := splitGain(f, r)
		if best == nil || g > bestGain+1e-9 {
			best, bestGain = r, g
		}
	}
	if best == nil {
		return ig.GetSplitRuleFromSelection(candidates, f)
	}
	return best
}

// splitGain is the information gain of splitting f at rule r (value <=
// SplitVal left), from the class counts, summed in a fixed order.
func splitGain(f base.FixedDataGrid, r *trees.DecisionTreeRule) float64 {
	spec, err := f.GetAttribute(r.SplitAttr)
	if err != nil {
		return math.Inf(-1)
	}
	var counts [2][2]float64 // side × class ("0", "1")
	_ = f.MapOverRows([]base.AttributeSpec{spec}, func(v [][]byte, row int) (bool, error) {
		side := 0
		if base.UnpackBytesToFloat(v[0]) > r.SplitVal {
			side = 1
		}
		class := 0
		if base.GetClass(f, row) == "1" {
			class = 1
		}
		counts[side][class]++
		return true, nil
	})
	entropy := func(a, b float64) float64 {
		n, h := a+b, 0.0
		for _, x := range [2]float64{a, b} {
			if x > 0 {
				h -= x / n * math.Log2(x/n)
			}
		}
		return h
	}
	l, rr := counts[0][0]+counts[0][1], counts[1][0]+counts[1][1]
	n := l + rr
	if n == 0 {
		return math.Inf(-1)
	}
	split := 0.0
	if l > 0 {
		split += l / n * entropy(counts[0][0], counts[0][1])
	}
	if rr > 0 {
		split += rr / n * entropy(counts[1][0], counts[1][1])
	}
	return entropy(counts[0][0]+counts[1][0], counts[0][1]+counts[1][1]) - split
}

// readID3 converts a golearn ID3 tree. A split node's children are "0"
// (value <= SplitVal) and "1" (value > SplitVal); when the training rows
// all went one way golearn has only that child and sends every row there,
// so the node is replaced by that child. Leaves keep their class counts.
func readID3(root *trees.DecisionTreeNode, index map[string]int) (Tree, error) {
	var t Tree
	var walk func(n *trees.DecisionTreeNode) (int, error)
	walk = func(n *trees.DecisionTreeNode) (int, error) {
		if n == nil {
			return 0, fmt.Errorf("%w: nil ID3 node", ErrGolearn)
		}
		size := 0
		for _, c := range n.ClassDist {
			size += c
		}
		positive := n.ClassDist["1"]
		left, right := n.Children["0"], n.Children["1"]
		switch {
		case n.Children == nil || (left == nil && right == nil):
			return t.add(-1, 0, size, positive, true), nil
		case right == nil:
			return walk(left)
		case left == nil:
			return walk(right)
		}
		if n.SplitRule == nil {
			return 0, fmt.Errorf("%w: ID3 split node without a rule", ErrGolearn)
		}
		attr, ok := n.SplitRule.SplitAttr.(*base.FloatAttribute)
		if !ok {
			return 0, fmt.Errorf("%w: ID3 split on a non-numeric attribute %v", ErrGolearn, n.SplitRule.SplitAttr)
		}
		f, ok := index[attr.GetName()]
		if !ok {
			return 0, fmt.Errorf("%w: ID3 split on unknown attribute %q", ErrGolearn, attr.GetName())
		}
		idx := t.add(f, n.SplitRule.SplitVal, size, positive, true)
		l, err := walk(left)
		if err != nil {
			return 0, err
		}
		r, err := walk(right)
		if err != nil {
			return 0, err
		}
		t.Left[idx], t.Right[idx] = l, r
		return idx, nil
	}
	if _, err := walk(root); err != nil {
		return Tree{}, err
	}
	if err := t.check(math.MaxInt, true); err != nil {
		return Tree{}, fmt.Errorf("%w: ID3 tree as read: %v", ErrGolearn, err)
	}
	return t, nil
}
