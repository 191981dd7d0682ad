package models

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"testing"

	"github.com/sjwhitworth/golearn/base"
)

// Labelled windows: 2000 benign, 200 malicious raising f03..f05 by 3-4.5
// standard deviations (overlapping the benign tail: a forest has to
// combine features).
func labelledData(seed uint64, benign, malicious int) ([][]float64, []bool, []string) {
	return synth(seed, benign, malicious, 20, 3, 3, 3)
}

func TestRandomForestDetects(t *testing.T) {
	rows, labels, names := labelledData(3, 2000, 200)
	a, err := TrainRandomForest(rows, labels, names, ForestOptions{Seed: 1, Trees: 30})
	if err != nil {
		t.Fatal(err)
	}
	if a.Params.FeaturesPerTree != 10 {
		t.Errorf("default features per tree for 20 features: %d, want 10", a.Params.FeaturesPerTree)
	}
	h := a.Metrics.Holdout
	if h == nil || a.Metrics.HoldoutRows != 440 {
		t.Fatalf("holdout metrics %+v over %d rows, want 440 rows", h, a.Metrics.HoldoutRows)
	}
	test, tl, _ := labelledData(4, 2000, 200)
	scores, err := a.Score(test)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Evaluate(scores, tl, a.Threshold)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("holdout: precision %.3f recall %.3f ROC-AUC %.4f; fresh rows: precision %.3f recall %.3f ROC-AUC %.4f PR-AUC %.3f",
		h.Precision, h.Recall, h.ROCAUC, m.Precision, m.Recall, m.ROCAUC, m.PRAUC)
	for _, x := range []Metrics{*h, m} {
		if x.Precision < 0.9 || x.Recall < 0.85 || x.ROCAUC < 0.98 {
			t.Errorf("precision %.3f recall %.3f ROC-AUC %.4f, want >= 0.9, 0.85, 0.98", x.Precision, x.Recall, x.ROCAUC)
		}
	}
}

// golearn's ID3 uses a numeric feature at most once on a path, so a tree
// grown on few features is a stump: with √d features the forest's scores
// still rank (ROC-AUC) but rarely cross 0.5, the majority-class
// degeneration. The default subset does not degenerate.
func TestRandomForestFeatureSubsetDegeneration(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	rows, labels, names := labelledData(3, 2000, 200)
	test, tl, _ := labelledData(4, 2000, 200)
	recall := map[int]float64{}
	for _, k := range []int{3, 0} {
		a, err := TrainRandomForest(rows, labels, names, ForestOptions{Seed: 1, Trees: 20, FeaturesPerTree: k})
		if err != nil {
			t.Fatal(err)
		}
		scores, err := a.Score(test)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Evaluate(scores, tl, a.Threshold)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d features per tree: precision %.3f recall %.3f ROC-AUC %.4f", a.Params.FeaturesPerTree, m.Precision, m.Recall, m.ROCAUC)
		recall[k] = m.Recall
	}
	if recall[3] > 0.5 || recall[0] < 0.85 {
		t.Errorf("recall with 3 features per tree %.3f (want degenerate, <= 0.5), with the default %.3f (want >= 0.85)", recall[3], recall[0])
	}
}

func TestRandomForestReproducible(t *testing.T) {
	rows, labels, names := labelledData(5, 600, 60)
	opts := ForestOptions{Seed: 7, Trees: 12}
	a, err := TrainRandomForest(rows, labels, names, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Trees are grown in parallel; the model must not depend on how.
	prev := runtime.GOMAXPROCS(1)
	b, err := TrainRandomForest(rows, labels, names, opts)
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID {
		t.Fatalf("same seed, different forests: %s, %s", a.ID, b.ID)
	}
	opts.Seed++
	c, err := TrainRandomForest(rows, labels, names, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID {
		t.Fatal("another seed gave the same forest")
	}
}

// Each converted tree sends a row to a leaf whose majority is the class
// golearn's own ID3 predicts for it.
func TestRandomForestTreesMatchGolearn(t *testing.T) {
	rows, labels, names := labelledData(6, 800, 80)
	train := make([]int, len(rows))
	for i := range train {
		train[i] = i
	}
	test, _, _ := labelledData(7, 400, 40)
	for tree := range 5 {
		id3, grid, index, err := growID3(rows, labels, train, names, 10, 3, tree)
		if err != nil {
			t.Fatal(err)
		}
		conv, err := readID3(id3.Root, index)
		if err != nil {
			t.Fatal(err)
		}
		// A grid of the test rows with the training grid's attributes.
		tg := base.NewStructuralCopy(grid)
		if err := tg.Extend(len(test)); err != nil {
			t.Fatal(err)
		}
		attrs := base.NonClassAttributes(tg)
		for j, at := range attrs {
			spec, err := tg.GetAttribute(at)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range test {
				tg.Set(spec, i, base.PackFloatToBytes(r[index[attrs[j].GetName()]]))
			}
		}
		pred, err := id3.Predict(tg)
		if err != nil {
			t.Fatal(err)
		}
		m := compile(KindForest, len(names), []Tree{conv}, 0)
		got := make([]float64, len(test))
		m.scoreRange(got, test)
		compared := 0
		for i := range test {
			if got[i] == 0.5 {
				continue // a tied leaf: golearn picks a class at random
			}
			want := base.GetClass(pred, i) == "1"
			if (got[i] > 0.5) != want {
				t.Fatalf("tree %d, row %d: leaf share %v, golearn predicts positive=%v", tree, i, got[i], want)
			}
			compared++
		}
		if compared < len(test)*9/10 {
			t.Errorf("tree %d: only %d rows compared", tree, compared)
		}
	}
}

func TestRandomForestExplain(t *testing.T) {
	rows, labels, names := labelledData(3, 1000, 100)
	a, err := TrainRandomForest(rows, labels, names, ForestOptions{Seed: 1, Trees: 20})
	if err != nil {
		t.Fatal(err)
	}
	bias := 0.0
	for _, r := range a.m.roots {
		bias += a.m.value[r]
	}
	bias /= float64(len(a.m.roots))
	test, tl, _ := labelledData(8, 50, 50)
	scores, err := a.Score(test)
	if err != nil {
		t.Fatal(err)
	}
	hot := []string{"f03", "f04", "f05"}
	for i, row := range test {
		cs, err := a.Explain(row)
		if err != nil {
			t.Fatal(err)
		}
		sum := bias
		for _, c := range cs {
			sum += c.Weight
		}
		if math.Abs(sum-scores[i]) > 1e-9 {
			t.Fatalf("row %d: bias + weights = %v, score %v", i, sum, scores[i])
		}
		if tl[i] && scores[i] > a.Threshold && (!slices.Contains(hot, cs[0].Feature) || cs[0].Weight <= 0) {
			t.Errorf("row %d: flagged positive, top contribution %+v, want a raised feature pushing up", i, cs[0])
		}
	}
}

func TestRandomForestBadLabels(t *testing.T) {
	rows, labels, names := labelledData(1, 50, 5)
	if _, err := TrainRandomForest(rows, labels[:10], names, ForestOptions{}); !errors.Is(err, ErrInput) {
		t.Errorf("labels mismatch: %v", err)
	}
	one := make([]bool, len(rows))
	one[0] = true
	if _, err := TrainRandomForest(rows, one, names, ForestOptions{}); !errors.Is(err, ErrOneClass) {
		t.Errorf("one positive: %v", err)
	}
	if _, err := TrainRandomForest(rows, make([]bool, len(rows)), names, ForestOptions{}); !errors.Is(err, ErrOneClass) {
		t.Errorf("no positive: %v", err)
	}
}

func TestPositiveLabels(t *testing.T) {
	got := PositiveLabels([]string{"Benign", "Malicious", "benign", "Malicious   PartOfAHorizontalPortScan", ""}, "Benign", "benign")
	want := []bool{false, true, false, true, true}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
