package detect

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/models"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/pipeline/window"
)

// A cohort model reports a window only when a feature is clearly beyond
// the training windows: one payment retry more than the training hour held
// is not, an exfiltration's bytes are.
func TestBeyondAllNeedsAMargin(t *testing.T) {
	trainMax := []float64{0, 3, 1e6} // repeated_strict, connections, bytes_up
	for _, c := range []struct {
		name string
		row  []float64
		want bool
	}{
		{"within", []float64{0, 3, 1e6}, false},
		{"one retry never seen in training", []float64{1, 3, 1e6}, false},
		{"one connection more", []float64{0, 4, 1e6}, false},
		{"two repeats", []float64{2, 3, 1e6}, true},
		{"connections well beyond", []float64{0, 6, 1e6}, true},
		{"bytes 10 % above", []float64{0, 3, 1.1e6}, false},
		{"exfiltration", []float64{0, 3, 5e7}, true},
	} {
		if got := beyondAll(c.row, trainMax); got != c.want {
			t.Errorf("%s: beyondAll(%v) = %v, want %v", c.name, c.row, got, c.want)
		}
	}
}

// A window of a cohort model's that no feature puts beyond the training
// windows is not reported and not scored, but a row scoring would reject
// is still an error, the one scoring gives.
func TestScoreModelSkipsWithinTraining(t *testing.T) {
	width := len(features.Names)
	rows := make([][]float64, 300)
	for i := range rows {
		rows[i] = make([]float64, width)
		for j := range rows[i] {
			rows[i][j] = float64((i*(j+3))%7 + j)
		}
	}
	art, err := models.TrainIsolationForest(rows, features.Names, models.IForestOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	trainMax := columnMax(rows)
	a := &Anomaly{farSD: 8}
	w := &window.Window{}
	v := &features.Vector{Tenant: "t", Device: "d"}
	within := slices.Clone(rows[7])
	if _, ok := a.scoreModel(w, v, within, art, 1, trainMax); ok || len(a.errors) != 0 {
		t.Fatalf("a training row: reported %v, errors %v", ok, a.errors)
	}
	bad := slices.Clone(rows[7])
	bad[2] = math.NaN()
	want := art.ScoreInto(make([]float64, 1), [][]float64{bad})
	if want == nil {
		t.Fatal("scoring a NaN gave no error")
	}
	if _, ok := a.scoreModel(w, v, bad, art, 1, trainMax); ok || len(a.errors) != 1 || a.errors[0].Error() != "scoring t/d: "+want.Error() {
		t.Fatalf("a NaN row: reported %v, errors %v; want the error %q", ok, a.errors, want)
	}
}

// A cohort model's trainMax holds each feature's largest value in the
// windows it was trained on, negative ones and zeros of either sign
// included.
func TestTrainMaxIsColumnMax(t *testing.T) {
	width := len(features.Names)
	rows := make([][]float64, 250)
	for i := range rows {
		rows[i] = make([]float64, width)
		for j := range rows[i] {
			switch {
			case j%4 == 1:
				rows[i][j] = -float64((i*(j+5))%11 + 1) // all negative
			case j%4 == 2 && i%3 == 0:
				rows[i][j] = math.Copysign(0, -1)
			default:
				rows[i][j] = float64((i * (j + 3)) % 13)
			}
		}
	}
	a := &Anomaly{fpr: 0.005, cohorts: map[string]*cohortModel{}}
	cm := &cohortModel{tenant: "t", rows: rows}
	a.train("t|c", cm, time.Unix(3600, 0))
	if cm.model == nil {
		t.Fatalf("no model: %v", a.errors)
	}
	want := columnMax(rows)
	for j := range want {
		if cm.trainMax[j] != want[j] {
			t.Fatalf("feature %d: trainMax %v, want %v", j, cm.trainMax[j], want[j])
		}
	}
}

// TestCohortPush: push keeps the last keep rows, oldest first, as copies
// of the values in arrays of their own (it recycles the array of the row
// that leaves, so two rows sharing one would change each other), for
// cohorts small and large and rows pushed well past keep.
func TestCohortPush(t *testing.T) {
	for _, keep := range []int{1, 2, 3, 7, 8, 9, 100, 2000} {
		cm := &cohortModel{}
		var want [][]float64
		values := make([]float64, 3)
		for i := range 3*keep + 50 {
			for j := range values {
				values[j] = float64(i*10 + j)
			}
			cm.push(values, keep)
			values[0] = -1 // push copied them
			want = append(want, []float64{float64(i * 10), float64(i*10 + 1), float64(i*10 + 2)})
			if len(want) > keep {
				want = want[1:]
			}
			if keep > 100 && i%101 != 0 {
				continue // every row of every push: too slow
			}
			if len(cm.rows) != len(want) {
				t.Fatalf("keep %d, push %d: %d rows, want %d", keep, i, len(cm.rows), len(want))
			}
			seen := map[*float64]int{}
			for k, r := range cm.rows {
				if !slices.Equal(r, want[k]) {
					t.Fatalf("keep %d, push %d: row %d is %v, want %v", keep, i, k, r, want[k])
				}
				if o, dup := seen[&r[:1][0]]; dup {
					t.Fatalf("keep %d, push %d: rows %d and %d share an array", keep, i, o, k)
				}
				seen[&r[:1][0]] = k
			}
		}
	}
}

// TestColdMaxIsColumnMax: a cohort's cold-start maxima are columnMax of its
// rows as they were at the first call of a window, bit for bit (NaN and
// signed zeros too), whether folded in since the last window or taken
// again after rows left; later calls in the same window give the same
// values though rows were pushed since.
func TestColdMaxIsColumnMax(t *testing.T) {
	value := func(i, j int) float64 {
		switch (i*7 + j*3) % 11 {
		case 0:
			return math.NaN()
		case 1:
			return math.Copysign(0, -1)
		case 2:
			return 0
		case 3:
			return math.Inf(-1)
		}
		return float64((i*(j+5))%17) - 8
	}
	for _, keep := range []int{1, 2, 5, 40} {
		cm := &cohortModel{}
		win := uint64(0)
		i := 0
		for round := range 60 {
			if round == 1 {
				round = 3 // the first rows pushed past keep in a window that had none
			}
			win++
			if got := cm.coldMax(win); len(cm.rows) == 0 && got != nil {
				t.Fatalf("keep %d: maxima %v of no rows", keep, got)
			}
			want := columnMax(cm.rows)
			// Pushes within the window (none in some rounds, several
			// past keep in others) do not change its maxima.
			for range round % 4 {
				values := make([]float64, 3)
				for j := range values {
					values[j] = value(i, j)
				}
				i++
				cm.push(values, keep)
				if got := cm.coldMax(win); !sameBits(got, want) {
					t.Fatalf("keep %d, round %d: within the window %v, want %v", keep, round, got, want)
				}
			}
			if got := cm.coldMax(win); !sameBits(got, want) {
				t.Fatalf("keep %d, round %d: %v, want %v", keep, round, got, want)
			}
		}
	}
}

func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// TestVectorsFindEachCohort: Vectors keeps the cohort of the vector before
// for the next; vectors of several tenants and cohorts, in runs and mixed
// (keys alike but for where "|" falls), each go to their own cohort's rows,
// in order, and the cohorts are made once.
func TestVectorsFindEachCohort(t *testing.T) {
	a := &Anomaly{minCold: 1 << 30, minTrain: 1 << 30, keep: 100, cohorts: map[string]*cohortModel{}}
	pairs := [][2]string{{"t", "a"}, {"t", "a"}, {"t", "b"}, {"u", "a"}, {"t", "a"}, {"t|a", ""}, {"t", "a|"}, {"t", "a|"}, {"", "a"}, {"t", "a"}}
	want := map[string][]float64{}
	for win := range 3 {
		w := &window.Window{End: time.Unix(int64(60*win), 0)}
		var vecs []features.Vector
		for i, p := range pairs {
			x := float64(win*100 + i)
			device := "d"
			if p[0] == "" {
				device = "" // skipped: no tenant
			}
			vecs = append(vecs, features.Vector{Tenant: p[0], Device: device, Cohort: p[1], Values: []float64{x}})
			if p[0] != "" {
				k := p[0] + "|" + p[1]
				want[k] = append(want[k], x)
			}
		}
		a.Vectors(w, vecs, nil)
	}
	if len(a.cohorts) != len(want) {
		t.Fatalf("%d cohorts, want %d", len(a.cohorts), len(want))
	}
	for k, vals := range want {
		cm := a.cohorts[k]
		if cm == nil {
			t.Fatalf("no cohort %q", k)
		}
		var got []float64
		for _, r := range cm.rows {
			got = append(got, r[0])
		}
		if !slices.Equal(got, vals) || cm.fresh != len(vals) {
			t.Fatalf("cohort %q: rows %v (fresh %d), want %v", k, got, cm.fresh, vals)
		}
	}
}

// TestUnpublishedSealsOnlyNamedModels: an Unpublished detector (a
// replay's, whose model.deployed events nothing takes) records no
// model.deployed and leaves its models unsealed until a finding's
// explanation names one: that one gets the ID its training sealed would
// have; the others stay unsealed. A published detector (the live
// pipeline's) records each training's model.deployed, naming the model
// sealed at training and the hash of its saved artifact.
func TestUnpublishedSealsOnlyNamedModels(t *testing.T) {
	width := len(features.Names)
	cohortRows := func(k int) [][]float64 {
		rows := make([][]float64, 300)
		for i := range rows {
			rows[i] = make([]float64, width)
			for j := range rows[i] {
				rows[i][j] = float64((i*(j+3+k))%7 + j)
			}
		}
		return rows
	}
	at := time.Unix(7200, 0)
	train := func(a *Anomaly) []*cohortModel {
		var cms []*cohortModel
		for k := range 3 {
			cm := &cohortModel{tenant: "t", rows: cohortRows(k), first: time.Unix(0, 0)}
			a.train(fmt.Sprintf("t|c%d", k), cm, at)
			if cm.model == nil {
				t.Fatalf("cohort %d: no model: %v", k, a.errors)
			}
			cms = append(cms, cm)
		}
		return cms
	}
	newAnomaly := func() *Anomaly {
		return &Anomaly{fpr: 0.005, farSD: 8, cohorts: map[string]*cohortModel{}}
	}

	live := newAnomaly()
	sealed := train(live)
	deployed := live.Deployed()
	if len(deployed) != len(sealed) {
		t.Fatalf("published: %d model.deployed for %d trainings", len(deployed), len(sealed))
	}
	for k, ev := range deployed {
		art := sealed[k].model
		var saved bytes.Buffer
		if err := art.Save(&saved); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(saved.Bytes())
		p, ok := ev.Payload.(*events.ModelDeployed)
		if !ok || !strings.HasPrefix(art.ID, "sha256:") || p.ModelId != art.ID || !bytes.Equal(p.ArtifactSha256, sum[:]) || p.Version != 1 || p.Cohort != fmt.Sprintf("c%d", k) {
			t.Fatalf("published, cohort %d: model.deployed %v for model %s, saved hash %x", k, ev.Payload, art.ID, sum)
		}
	}

	replay := newAnomaly()
	replay.Unpublished()
	cms := train(replay)
	if d := replay.Deployed(); len(d) != 0 {
		t.Fatalf("unpublished: %d model.deployed", len(d))
	}
	for k, cm := range cms {
		if cm.model.ID != "" {
			t.Fatalf("unpublished, cohort %d: model sealed at training (%s)", k, cm.model.ID)
		}
	}
	// An exfiltration in cohort 1: far beyond its training windows.
	row := slices.Clone(cms[1].rows[7])
	for j := range row {
		row[j] = 100*row[j] + 1000
	}
	asm, err := window.New(window.Config{Size: time.Minute, Lateness: 5 * time.Second}, 1, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer asm.Release()
	var (
		f            Finding
		ok, scoredIn bool
	)
	eachWindow(asm, goldenEvents(3), func(w *window.Window) {
		if !scoredIn { // the first window: any will do (the finding's evidence is none of its rows)
			scoredIn = true
			f, ok = replay.scoreModel(w, &features.Vector{Tenant: "t", Device: "d", Cohort: "c1"}, row, cms[1].model, 1, cms[1].trainMax)
		}
	})
	if !ok {
		t.Fatalf("no finding for the exfiltration: %v", replay.errors)
	}
	for k, cm := range cms {
		switch {
		case k == 1 && cm.model.ID != sealed[1].model.ID:
			t.Fatalf("the model the finding names: ID %q, sealed at training %s", cm.model.ID, sealed[1].model.ID)
		case k != 1 && cm.model.ID != "":
			t.Fatalf("cohort %d: model sealed (%s) though no finding names it", k, cm.model.ID)
		}
	}
	if want := "model " + shortID(sealed[1].model.ID) + " v1 of cohort c1: "; !strings.HasPrefix(f.Explanation, want) {
		t.Fatalf("explanation %q, want it to start %q", f.Explanation, want)
	}
}
