package models

// The golearn reference: golearn's own IsolationForest, fitted on the
// seeded global math/rand source (which needs GODEBUG=randseednop=0:
// godebug_test.go), is what fitIsolation must reproduce tree for tree.

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/sjwhitworth/golearn/base"
	"github.com/sjwhitworth/golearn/trees"
)

// globalRandMu serialises every golearn call that draws from the global
// math/rand source (IsolationForest.Fit), so that one training at a time
// owns the seeded sequence. It is held for the whole of a training,
// including its reproducibility re-runs, and never while calling out to
// anything but golearn.
var globalRandMu sync.Mutex

// withSeededGlobalRand runs f with the global math/rand source seeded with
// seed, holding globalRandMu. It returns errSeedIgnored, without calling f,
// when rand.Seed has no effect (GODEBUG randseednop is not 0). Afterwards
// the global source is re-seeded from crypto/rand, so that the rest of the
// process does not go on drawing a sequence anyone can predict from the
// artifact's seed.
func withSeededGlobalRand(seed int64, f func(reseed func()) error) error {
	globalRandMu.Lock()
	defer globalRandMu.Unlock()
	if !seedTakesEffect() {
		return errSeedIgnored
	}
	defer reseedUnpredictably()
	return f(func() { rand.Seed(seed) })
}

// seedTakesEffect reports whether rand.Seed changes the global source: since
// Go 1.24 it is a no-op unless GODEBUG=randseednop=0. The setting is read at
// each call, so the check is made at each training. After rand.Seed(1) the
// next value drawn must be one of the first values of a source seeded with
// 1 (not necessarily the first: another goroutine may draw in between);
// from an unseeded source that happens with probability 2⁻⁵³.
func seedTakesEffect() bool {
	const window = 1024
	ref := rand.New(rand.NewSource(1))
	first := make(map[int64]bool, window)
	for range window {
		first[ref.Int63()] = true
	}
	rand.Seed(1)
	return first[rand.Int63()]
}

func reseedUnpredictably() {
	var b [8]byte
	_, _ = crand.Read(b[:]) // never fails on supported platforms (Go 1.24+ panics instead)
	rand.Seed(int64(binary.LittleEndian.Uint64(b[:])))
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

var errSeedIgnored = fmt.Errorf("math/rand.Seed is a no-op: run with GODEBUG=randseednop=0")

// fitIsolation grows exactly golearn's trees: the same shape, features,
// split values (bit for bit) and node sizes, on data with ties, constant
// columns, identical rows, one feature, samples smaller and larger than
// the rows, every depth.
func TestFitIsolationMatchesGolearn(t *testing.T) {
	type shape struct {
		name                 string
		rows                 [][]float64
		trees, depth, sample int
	}
	var shapes []shape
	cont, _, _ := synth(3, 3000, 30, 12, 2, 3, 6)
	shapes = append(shapes, shape{"continuous", cont, 100, 8, 256})
	shapes = append(shapes, shape{"continuous-deep", cont[:700], 20, 14, 700})
	r := rand.New(rand.NewSource(7))
	ints := make([][]float64, 400) // few distinct values: many ties
	for i := range ints {
		ints[i] = []float64{float64(r.Intn(3)), 0, float64(r.Intn(2)), 5, float64(r.Intn(40))}
	}
	shapes = append(shapes, shape{"ties-and-constant-columns", ints, 60, 8, 256})
	same := make([][]float64, 30)
	for i := range same {
		same[i] = []float64{1, 2, 3}
	}
	shapes = append(shapes, shape{"identical-rows", same, 10, 8, 30})
	almost := make([][]float64, 40)
	for i := range almost {
		almost[i] = []float64{1, 2, 3}
	}
	almost[17] = []float64{1, 2.5, 3}
	shapes = append(shapes, shape{"one-odd-row", almost, 30, 8, 40})
	one := make([][]float64, 50)
	for i := range one {
		one[i] = []float64{float64(i % 7)}
	}
	shapes = append(shapes, shape{"one-feature", one, 40, 8, 50})
	// Values an ulp apart: the drawn split often rounds onto the minimum
	// or the maximum and golearn nudges it by 1e-6.
	ulps := make([][]float64, 60)
	for i := range ulps {
		x := 1.0
		for range i % 3 {
			x = math.Nextafter(x, 2)
		}
		ulps[i] = []float64{x, float64(i % 2)}
	}
	shapes = append(shapes, shape{"ulps", ulps, 50, 8, 60})
	for _, d := range []int{1, 2, 3} {
		shapes = append(shapes, shape{fmt.Sprintf("depth-%d", d), cont[:500], 20, d, 64})
	}
	neg := make([][]float64, 200)
	for i := range neg {
		neg[i] = []float64{-1e90 * r.Float64(), r.NormFloat64() * 1e-300, float64(i)}
	}
	shapes = append(shapes, shape{"extremes", neg, 30, 10, 128})
	// More than 64 features (the builder's sets of constant features take
	// two words), rows repeating, -0 beside +0, constant columns.
	wide := make([][]float64, 300)
	for i := range wide {
		wide[i] = make([]float64, 70)
		for j := range wide[i] {
			switch v := (i*(j+3)/5 + j) % (j%4 + 2); {
			case j%9 == 8:
				wide[i][j] = 2
			case v == 0 && i%3 == 0:
				wide[i][j] = math.Copysign(0, -1)
			default:
				wide[i][j] = float64(v)
			}
		}
	}
	shapes = append(shapes, shape{"wide-repeating-signed-zeros", wide, 40, 9, 256})
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			names := make([]string, len(s.rows[0]))
			for j := range names {
				names[j] = fmt.Sprintf("f%d", j)
			}
			grid, err := isolationGrid(s.rows, names)
			if err != nil {
				t.Fatal(err)
			}
			for _, seed := range []int64{0, 1, 42, -7, 1 << 40} {
				var want []Tree
				if err := withSeededGlobalRand(seed, func(reseed func()) error {
					reseed()
					want, err = fitIsolationForest(grid, s.trees, s.depth, s.sample)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				got := fitIsolation(s.rows, s.trees, s.depth, s.sample, seed)
				if !treesEqual(got, want) {
					for i := range got {
						if !treesEqual(got[i:i+1], want[i:i+1]) {
							t.Fatalf("seed %d: tree %d differs from golearn's:\n got %+v\nwant %+v", seed, i, got[i], want[i])
						}
					}
					t.Fatalf("seed %d: %d trees, golearn %d", seed, len(got), len(want))
				}
			}
		})
	}
}
