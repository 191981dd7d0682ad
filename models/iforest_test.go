package models

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sjwhitworth/golearn/trees"
)

// The detection scenario: 5000 benign windows of 20 features and, as in
// real traffic, a few attacks among them (25, 0.5 %), each raising
// features f03..f07 together by 6-9 standard deviations; fresh windows to
// score: 2000 benign, 100 attacks.
func detectionData() (train [][]float64, test [][]float64, labels []bool, names []string) {
	train, _, names = synth(1, 5000, 25, 20, 3, 5, 6)
	test, labels, _ = synth(2, 2000, 100, 20, 3, 5, 6)
	return train, test, labels, names
}

func TestIsolationForestDetects(t *testing.T) {
	train, test, labels, names := detectionData()
	for _, seed := range []int64{1, 2, 3} {
		a, err := TrainIsolationForest(train, names, IForestOptions{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if a.Metrics.Flagged > 0.01 {
			t.Errorf("seed %d: %.4f of the training rows flagged, above the 1%% target", seed, a.Metrics.Flagged)
		}
		scores, err := a.Score(test)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Evaluate(scores, labels, a.Threshold)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d: threshold %.4f, precision %.3f, recall %.3f, ROC-AUC %.4f, PR-AUC %.3f, FP %d of 2000 benign",
			seed, a.Threshold, m.Precision, m.Recall, m.ROCAUC, m.PRAUC, m.FP)
		if m.Recall < 0.9 || m.Precision < 0.8 || m.ROCAUC < 0.99 {
			t.Errorf("seed %d: precision %.3f recall %.3f ROC-AUC %.4f, want >= 0.8, 0.9, 0.99", seed, m.Precision, m.Recall, m.ROCAUC)
		}
		if fpr := float64(m.FP) / 2000; fpr > 0.02 {
			t.Errorf("seed %d: false-positive rate on fresh benign rows %.4f, want <= 0.02", seed, fpr)
		}
	}
}

func TestIsolationForestExplain(t *testing.T) {
	train, test, labels, names := detectionData()
	a, err := TrainIsolationForest(train, names, IForestOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	hot := []string{"f03", "f04", "f05", "f06", "f07"}
	attacks, explained := 0, 0
	for i, row := range test {
		if !labels[i] {
			continue
		}
		attacks++
		cs, err := a.Explain(row)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != len(names) {
			t.Fatalf("%d contributions for %d features", len(cs), len(names))
		}
		sum := 0.0
		for _, c := range cs {
			sum += c.Weight
			if c.Baseline != a.Baselines[c.Index].Median || c.Value != row[c.Index] || c.Feature != names[c.Index] {
				t.Fatalf("contribution %+v does not match row and baselines", c)
			}
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("row %d: weights sum to %v, want 1", i, sum)
		}
		// The top two features are among the ones the attack raised, far
		// above their baselines.
		if slices.Contains(hot, cs[0].Feature) && slices.Contains(hot, cs[1].Feature) && cs[0].Deviation > 3 && cs[1].Deviation > 3 {
			explained++
		} else {
			t.Logf("row %d: top contributions %+v, %+v", i, cs[0], cs[1])
		}
	}
	if explained < attacks*95/100 {
		t.Errorf("%d of %d attacks have their top two contributions on raised features, want 95%%", explained, attacks)
	}
}

// The scores are golearn's IsolationForest.Predict, bit for bit, on the
// trees read out of it.
func TestIsolationForestMatchesGolearn(t *testing.T) {
	rows, _, names := synth(5, 3000, 30, 12, 2, 3, 6)
	grid, err := isolationGrid(rows, names)
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	var ts []Tree
	err = withSeededGlobalRand(11, func(reseed func()) error {
		reseed()
		f := trees.NewIsolationForest(100, 8, 256)
		f.Fit(grid)
		want = f.Predict(grid)
		ts, err = readIsolationTrees(&f, 256)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float64, len(rows))
	compile(KindIForest, len(names), ts, 256).scoreRange(got, rows)
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("row %d: score %v, golearn %v", i, got[i], want[i])
		}
	}
}

func TestIsolationForestReproducible(t *testing.T) {
	rows, _, names := synth(1, 2000, 10, 20, 3, 5, 6)
	var ids []string
	var saved [][]byte
	for range 2 {
		a, err := TrainIsolationForest(rows, names, IForestOptions{Seed: 42})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := a.Save(&buf); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
		saved = append(saved, buf.Bytes())
	}
	if ids[0] != ids[1] || !bytes.Equal(saved[0], saved[1]) {
		t.Fatalf("same seed, different artifacts: %s, %s", ids[0], ids[1])
	}
	other, err := TrainIsolationForest(rows, names, IForestOptions{Seed: 43})
	if err != nil {
		t.Fatal(err)
	}
	if other.ID == ids[0] {
		t.Fatal("another seed gave the same artifact")
	}
}

// reproChildEnv makes the test binary print the ID of the artifact
// TestIsolationForestReproducibleAcrossProcesses trains.
const reproChildEnv = "HALO_MODELS_REPRO_CHILD"

// A fresh process (other runtime seeds, other map orders) trains the same
// artifact.
func TestIsolationForestReproducibleAcrossProcesses(t *testing.T) {
	rows, _, names := synth(7, 1000, 5, 10, 2, 3, 6)
	a, err := TrainIsolationForest(rows, names, IForestOptions{Seed: 9, Trees: 50})
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv(reproChildEnv) == "1" {
		os.Stdout.WriteString("artifact-id " + a.ID + "\n")
		return
	}
	if testing.Short() {
		t.Skip("-short: no subprocess")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestIsolationForestReproducibleAcrossProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), reproChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "artifact-id "); ok {
			if id != a.ID {
				t.Fatalf("child process trained %s, this one %s", id, a.ID)
			}
			return
		}
	}
	t.Fatalf("child printed no artifact id:\n%s", out)
}

// Training draws from its own seeded source: the GODEBUG setting that
// golearn's global source needs changes nothing, and neither does another
// goroutine drawing from the global source meanwhile.
func TestIsolationForestIndependentOfGlobalRand(t *testing.T) {
	rows, _, names := synth(1, 3000, 10, 20, 3, 5, 6)
	opts := IForestOptions{Seed: 5}
	clean, err := TrainIsolationForest(rows, names, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("randseednop=1", func(t *testing.T) {
		t.Setenv("GODEBUG", "randseednop=1")
		a, err := TrainIsolationForest(rows, names, opts)
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != clean.ID {
			t.Fatalf("with randseednop=1: %s, want %s", a.ID, clean.ID)
		}
	})
	t.Run("interference", func(t *testing.T) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					rand.Int63()
				}
			}
		})
		var ids []string
		for range 3 {
			a, err := TrainIsolationForest(rows, names, opts)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.ID)
		}
		close(stop)
		wg.Wait()
		for _, id := range ids {
			if id != clean.ID {
				t.Fatalf("trained %s while another goroutine drew from math/rand, want %s", id, clean.ID)
			}
		}
	})
}

func TestIsolationForestEdgeShapes(t *testing.T) {
	// One feature (golearn's class attribute is the only attribute).
	rows := make([][]float64, 50)
	for i := range rows {
		rows[i] = []float64{float64(i % 7)}
	}
	a, err := TrainIsolationForest(rows, []string{"only"}, IForestOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.Score([][]float64{{3}, {1000}})
	if err != nil {
		t.Fatal(err)
	}
	if !(s[1] > s[0]) {
		t.Errorf("one feature: an outlier scores %v, a typical row %v", s[1], s[0])
	}

	// Constant data: golearn cannot split, every row has path length 1.
	for i := range rows {
		rows[i] = []float64{5, 5}
	}
	a, err = TrainIsolationForest(rows, []string{"a", "b"}, IForestOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err = a.Score([][]float64{{5, 5}, {-1, 9}})
	if err != nil {
		t.Fatal(err)
	}
	if s[0] != s[1] || a.Threshold != s[0] {
		t.Errorf("constant data: scores %v, threshold %v", s, a.Threshold)
	}
	cs, err := a.Explain([]float64{-1, 9})
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].Deviation == 0 {
		t.Errorf("constant data: deviation of a changed value is 0: %+v", cs)
	}

	// Fewer rows than the sample size: ψ is lowered to the row count.
	rows, _, names := synth(3, MinRows, 0, 4, 0, 1, 1)
	a, err = TrainIsolationForest(rows, names, IForestOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if a.Params.Sample != MinRows {
		t.Errorf("sample %d, want %d", a.Params.Sample, MinRows)
	}
}

func TestTrainBadInput(t *testing.T) {
	rows, labels, names := synth(1, 40, 10, 3, 0, 1, 6)
	ragged := slices.Clone(rows)
	ragged[7] = []float64{1, 2}
	withNaN := slices.Clone(rows)
	withNaN[3] = []float64{1, math.NaN(), 3}
	withInf := slices.Clone(rows)
	withInf[4] = []float64{math.Inf(-1), 2, 3}
	huge := slices.Clone(rows)
	huge[5] = []float64{1, 2, 1e200}
	cases := []struct {
		name  string
		rows  [][]float64
		names []string
		iopts IForestOptions
		fopts ForestOptions
		want  error
	}{
		{"no rows", nil, names, IForestOptions{}, ForestOptions{}, ErrInput},
		{"too few rows", rows[:MinRows-1], names, IForestOptions{}, ForestOptions{}, ErrInput},
		{"ragged", ragged, names, IForestOptions{}, ForestOptions{}, ErrInput},
		{"NaN", withNaN, names, IForestOptions{}, ForestOptions{}, ErrInput},
		{"Inf", withInf, names, IForestOptions{}, ForestOptions{}, ErrInput},
		{"huge", huge, names, IForestOptions{}, ForestOptions{}, ErrInput},
		{"no names", rows, nil, IForestOptions{}, ForestOptions{}, ErrInput},
		{"names mismatch", rows, names[:2], IForestOptions{}, ForestOptions{}, ErrInput},
		{"duplicate name", rows, []string{"a", "b", "a"}, IForestOptions{}, ForestOptions{}, ErrInput},
		{"empty name", rows, []string{"a", "", "c"}, IForestOptions{}, ForestOptions{}, ErrInput},
		{"reserved name", rows, []string{"a", classAttrName, "c"}, IForestOptions{}, ForestOptions{}, ErrInput},
		{"bad options", rows, names, IForestOptions{Trees: -1, FPR: 0.7, Depth: 40, Sample: 1}, ForestOptions{Trees: -1, FeaturesPerTree: 4, Holdout: 0.9, Threshold: 1}, ErrOptions},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := TrainIsolationForest(c.rows, c.names, c.iopts); !errors.Is(err, c.want) {
				t.Errorf("iforest: %v, want %v", err, c.want)
			}
			lab := labels
			if len(c.rows) < len(lab) {
				lab = lab[:len(c.rows)]
			}
			if _, err := TrainRandomForest(c.rows, lab, c.names, c.fopts); !errors.Is(err, c.want) {
				t.Errorf("forest: %v, want %v", err, c.want)
			}
		})
	}
	t.Run("bad options are all reported", func(t *testing.T) {
		_, err := TrainIsolationForest(rows, names, IForestOptions{Trees: -1, FPR: 0.7})
		if err == nil || !strings.Contains(err.Error(), "trees") || !strings.Contains(err.Error(), "fpr") {
			t.Errorf("got %v, want both problems", err)
		}
	})
}

func TestProtectRecoversGolearnPanics(t *testing.T) {
	err := protect("probe", func() error {
		var f trees.IsolationForest
		f.Fit(nil) // golearn dereferences the nil grid
		return nil
	})
	if !errors.Is(err, ErrGolearn) {
		t.Fatalf("got %v, want ErrGolearn", err)
	}
}

// Scoring rows column-major, all rows down each tree at once, gives
// scoreAll's scores bit for bit, for isolation forests and random forests,
// on more rows than one chunk and fewer.
func TestScoreColumnsMatchesScoreAll(t *testing.T) {
	rows, labels, names := synth(21, 3000, 60, 12, 2, 4, 6)
	ifo, err := TrainIsolationForest(rows, names, IForestOptions{Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	rf, err := TrainRandomForest(rows, labels, names, ForestOptions{Seed: 8, Trees: 10})
	if err != nil {
		t.Fatal(err)
	}
	ties := make([][]float64, 500)
	for i := range ties {
		ties[i] = make([]float64, len(names))
		for j := range ties[i] {
			ties[i][j] = float64((i * (j + 3)) % 4)
		}
	}
	for _, a := range []*Artifact{ifo, rf} {
		for _, rs := range [][][]float64{rows, rows[:7], ties} {
			want := make([]float64, len(rs))
			a.m.scoreAll(want, rs)
			got := make([]float64, len(rs))
			a.m.scoreColumns(got, columns(rs), len(rs))
			for i := range got {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("%s, %d rows: row %d scores %v, scoreAll %v", a.Kind, len(rs), i, got[i], want[i])
				}
			}
		}
	}
}

// TestFitCompiledIsCompile: the model the fit compiles as it copies its
// trees out is compile's, node for node, on the fixtures and on shapes
// with repeated rows, shallow and deep trees, small samples and a root
// that does not split.
func TestFitCompiledIsCompile(t *testing.T) {
	for _, s := range fitShapes() {
		cols := columns(s.rows)
		var ub uniqueBuf
		ucols, nu, of := uniqueColumnsIn(nil, &ub, cols, len(s.rows))
		trees, got := fitIsolationCompiled(ucols, nu, of, len(s.rows), s.trees, s.depth, s.sample, 9, ub.varying)
		// The constant features told (as a training does) or scanned for:
		// the same trees.
		if scanned, _ := fitIsolationCompiled(ucols, nu, of, len(s.rows), s.trees, s.depth, s.sample, 9, nil); !reflect.DeepEqual(trees, scanned) {
			t.Fatalf("%s: the trees differ with the varying features told", s.name)
		}
		want := compile(KindIForest, len(cols), trees, s.sample)
		if got.kind != want.kind || got.width != want.width || got.norm != want.norm || got.depth != want.depth ||
			(got.walk == nil) != (want.walk == nil) || !slices.Equal(got.roots, want.roots) || !slices.Equal(got.size, want.size) ||
			len(got.nodes) != len(want.nodes) || got.value != nil {
			t.Fatalf("%s: compiled model differs from compile's", s.name)
		}
		for i := range got.nodes {
			g, w := got.nodes[i], want.nodes[i]
			if math.Float64bits(g.v) != math.Float64bits(w.v) || g.f != w.f || g.c != w.c || g.wf != w.wf {
				t.Fatalf("%s: node %d %+v, compile %+v", s.name, i, g, w)
			}
		}
	}
}

// TestFitTreesAreValid: the trees of isolation fits pass the full check
// Load makes of an artifact's trees, which seal skips for them (they are
// valid by construction): on the fixtures, shapes with repeated and equal
// rows, deep and shallow trees, small samples, values at ±MaxAbsValue
// and columns of two close values.
func TestFitTreesAreValid(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	extreme := make([][]float64, 300)
	for i := range extreme {
		extreme[i] = []float64{
			[3]float64{-MaxAbsValue, 0, MaxAbsValue}[r.Intn(3)],
			1 + float64(r.Intn(2))*0x1p-52, // two adjacent values
			r.NormFloat64() * 1e-300,
			float64(r.Intn(3)),
		}
	}
	shapes := append(fitShapes(),
		fitShape{"extreme", extreme, 100, 12, 256},
		fitShape{"few rows", extreme[:MinRows], 10, 8, 256},
	)
	for _, s := range shapes {
		names := make([]string, len(s.rows[0]))
		for j := range names {
			names[j] = fmt.Sprintf("f%02d", j)
		}
		for seed := range int64(3) {
			a, err := TrainIsolationForest(s.rows, names, IForestOptions{Trees: s.trees, Depth: s.depth, Sample: s.sample, Seed: seed, Serial: true})
			if err != nil {
				t.Fatalf("%s, seed %d: %v", s.name, seed, err)
			}
			if err := a.check(); err != nil {
				t.Fatalf("%s, seed %d: the fit's artifact fails check: %v", s.name, seed, err)
			}
		}
	}
}

// TestColumnsChecked: columnsChecked is columnsIn on rows checkTraining
// accepts, and rejects the rows it rejects, for which training returns
// checkTraining's own error; it tells whether a value is -0.
func TestColumnsChecked(t *testing.T) {
	rows, _, names := synth(4, 300, 20, 5, 0, 1, 3)
	cols, negZero, ok := columnsChecked(nil, rows, len(names))
	if !ok || negZero {
		t.Fatalf("valid rows without -0: accepted %v, -0 %v", ok, negZero)
	}
	for _, z := range []float64{math.Copysign(0, -1), 0, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64} {
		r := slices.Clone(rows)
		i := len(r) - 1
		r[i] = slices.Clone(r[i])
		r[i][len(names)-1] = z
		_, negZero, ok := columnsChecked(nil, r, len(names))
		if want := z == 0 && math.Signbit(z); !ok || negZero != want {
			t.Fatalf("%v in the last row: accepted %v, -0 %v", z, ok, negZero)
		}
	}
	want := columnsIn(nil, rows)
	for j := range want {
		if !slices.Equal(cols[j], want[j]) || cap(cols[j]) != len(rows) {
			t.Fatalf("column %d differs from columnsIn's", j)
		}
	}
	rng := rand.New(rand.NewSource(8))
	bad := []float64{math.NaN(), -math.NaN(), math.Inf(1), math.Inf(-1), 2 * MaxAbsValue, -2 * MaxAbsValue,
		math.Nextafter(MaxAbsValue, math.Inf(1)), math.Nextafter(-MaxAbsValue, math.Inf(-1)), math.MaxFloat64}
	for k := range 200 {
		r := slices.Clone(rows)
		i := rng.Intn(len(r))
		switch {
		case k%7 == 0:
			r[i] = r[i][:len(names)-1]
		case k%7 == 1:
			r[i] = append(slices.Clone(r[i]), 1)
		default:
			r[i] = slices.Clone(r[i])
			r[i][rng.Intn(len(names))] = bad[rng.Intn(len(bad))]
		}
		if _, _, ok := columnsChecked(nil, r, len(names)); ok {
			t.Fatalf("case %d: row %d accepted", k, i)
		}
		werr := checkTraining(r, names)
		if _, err := TrainIsolationForest(r, names, IForestOptions{}); err == nil || werr == nil || err.Error() != werr.Error() {
			t.Fatalf("case %d: training error %v, checkTraining %v", k, err, werr)
		}
	}
	// MaxAbsValue itself is a valid value (maxAbsBits its bits).
	if math.Float64bits(MaxAbsValue) != maxAbsBits {
		t.Fatalf("maxAbsBits %#x, MaxAbsValue's bits %#x", uint64(maxAbsBits), math.Float64bits(MaxAbsValue))
	}
	r := slices.Clone(rows)
	r[0] = []float64{MaxAbsValue, -MaxAbsValue, 0, 1, 2}
	if _, _, ok := columnsChecked(nil, r, len(names)); !ok {
		t.Fatal("±MaxAbsValue rejected")
	}
}

// fitShape is a training set and the fit's parameters.
type fitShape struct {
	name                 string
	rows                 [][]float64
	trees, depth, sample int
}

// fitShapes are the fixtures at the default parameters, and shapes with
// repeated and equal rows, deep and shallow trees and small samples.
func fitShapes() []fitShape {
	var shapes []fitShape
	for _, c := range fitFixtures() {
		shapes = append(shapes, fitShape{c.name, c.rows, 100, 8, 256})
	}
	rows := fitFixtures()[0].rows
	same := make([][]float64, 50)
	for i := range same {
		same[i] = []float64{1, 2, 3}
	}
	return append(shapes,
		fitShape{"deep", rows, 20, 30, 1000},
		fitShape{"shallow", rows, 30, 1, 256},
		fitShape{"small sample", rows[:40], 50, 8, 2},
		fitShape{"equal rows", same, 10, 8, 16},
		fitShape{"repeats", append(append([][]float64{}, rows[:100]...), rows[:100]...), 40, 8, 64},
	)
}
