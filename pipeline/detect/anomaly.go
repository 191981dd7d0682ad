package detect

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/fsutil"
	"github.com/halo-sec/halo/models"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/pipeline/window"
)

// VectorDetector looks at every closed window's device feature vectors.
type VectorDetector interface {
	Name() string
	Vectors(w *window.Window, vecs []features.Vector, c *Context) []Finding
}

// Scorer is the optional capability of a VectorDetector that scores every
// device window, flagged or not, with a threshold above which it flags one:
// timelines show the score of each window next to the threshold. Score has
// no side effects; ok is false when the detector has nothing to score by
// yet (no model for the device's cohort).
type Scorer interface {
	Score(v *features.Vector) (score, threshold float64, ok bool)
}

// ModelPublisher is the optional capability of recording model.deployed
// events; the pipeline drains them after each window.
type ModelPublisher interface {
	Deployed() []events.Event
	// Unpublished tells the publisher, before its first window, that
	// nothing takes its model.deployed events (a replay folding its
	// outputs into alerts and a report): it records none, and seals a
	// model it trains (hashes its content for its ID) only once the ID
	// is needed, which in a replay is for a minority of them.
	Unpublished()
}

const anomalyDoc = `anomaly: a device window unlike its cohort's, by a learned model.

Catches: per cohort (tenant, model, firmware), a golearn IsolationForest
trained on the cohort's own feature windows (see docs/features.md) scores
every device window; a score above the threshold calibrated at a target
false-positive rate on the training windows (default 0.5%) is an anomaly —
medium, high when the score exceeds the threshold by 0.1. A window with at
least two features beyond far_sd (default 8) robust standard deviations of
the cohort's training medians, and above the largest value of the training
windows, is flagged too: with few or near-constant
training windows the forest isolates poorly at the edges of the data. With
the cohort's own model a window is reported only when at least one of its
features is above 1.25 times every training window's, plus 1 (one payment
retry more than the training hour held is not an attack): the threshold flags fpr of the
training windows themselves (one in 200 by default), far more than the
budget of about one false alert per 100 device-hours allows, while an
attack's extremes are new to its cohort. The explanation names the features
that isolated the window and their cohort baselines.

Learning: until a cohort has min_train windows (default 200) spanning
min_span of event time (default 1h: a model of a fleet's first minutes
knows too little of its day) it is covered by a cold-start rule: a window with at least two features above 1.5 times
the largest value the cohort has had, plus 1, is reported (medium), once the
cohort has min_cold windows (default 30) spanning min_cold_span (default
10m: a fleet's first minute holds no update download, say). Then the pipeline trains the
cohort's model itself, by event time, and retrains after the retrain
interval (default 1h) once the cohort has added a quarter as many windows
as the model was trained on (a small cohort retrains less often: a model of
2000 windows is not refitted for 60 new ones), recording model.deployed; a replay trains the same model at
the same point.

False-positive risks: a cohort-wide change (an app update) looks anomalous
until the next retraining absorbs it; a cohort of one or two devices has
little to learn from.

An operator can deploy a model (halo models deploy: model.deployed by a
person, for a tenant or one cohort): it then scores in place of the
detector's own, which keep training so that halo models rollback returns to
them at once.

Option model (a replay's --model FILE): a model artifact (halo models train)
scores every cohort instead; nothing is trained and no cold-start rule runs.`

func init() {
	Register("anomaly", anomalyDoc, func(o map[string]string) (any, error) {
		a := &Anomaly{minCold: 30, minTrain: 200, minSpan: time.Hour, minColdSpan: 10 * time.Minute, retrain: time.Hour, keep: 2000, fpr: 0.005, farSD: 8, cohorts: map[string]*cohortModel{}}
		var err error
		if a.minCold, err = intOpt(o, "min_cold", a.minCold); err != nil {
			return nil, err
		}
		if a.minTrain, err = intOpt(o, "min_train", a.minTrain); err != nil {
			return nil, err
		}
		if a.minSpan, err = durOpt(o, "min_span", a.minSpan); err != nil {
			return nil, err
		}
		if a.minColdSpan, err = durOpt(o, "min_cold_span", a.minColdSpan); err != nil {
			return nil, err
		}
		if a.retrain, err = durOpt(o, "retrain", a.retrain); err != nil {
			return nil, err
		}
		if a.fpr, err = floatOpt(o, "fpr", a.fpr); err != nil {
			return nil, err
		}
		if a.farSD, err = floatOpt(o, "far_sd", a.farSD); err != nil {
			return nil, err
		}
		a.modelDir = o["model_dir"]
		if path := o["model"]; path != "" {
			if err := a.useModel(path); err != nil {
				return nil, err
			}
		}
		return a, nil
	}, "min_cold", "min_train", "min_span", "min_cold_span", "retrain", "fpr", "far_sd", "model_dir", "model")
}

// Anomaly is the anomaly detector.
type Anomaly struct {
	minCold, minTrain, keep int
	minSpan                 time.Duration // event time a cohort's windows must span before its first model
	minColdSpan             time.Duration // and before the cold-start rule judges by them
	retrain                 time.Duration
	fpr                     float64
	farSD                   float64
	modelDir                string
	cohorts                 map[string]*cohortModel
	deployed                []events.Event
	unpublished             bool // Unpublished: no model.deployed, models sealed when their ID is needed
	errors                  []error
	fixed                   *models.Artifact          // option model: one model for every cohort, no training
	fixedIdx                []int                     // the index in features.Names of each of its features
	operator                map[string]*deployedModel // by tenant + "|" + cohort ("" cohort: the whole tenant)
	// scoreModel's one-row batch and its score, reused: Vectors runs on
	// one goroutine.
	row   [1][]float64
	score [1]float64
	// windows counts the calls of Vectors (coldMax: a cohort's maxima
	// taken once a window).
	windows uint64
}

// deployedModel is a model an operator deployed (halo models deploy).
type deployedModel struct {
	art     *models.Artifact
	idx     []int // the index in features.Names of each of its features
	version uint32
}

// featureIndex maps a model's features to their index in features.Names.
func featureIndex(art *models.Artifact) ([]int, error) {
	idx := make([]int, len(art.Features))
	for i, name := range art.Features {
		idx[i] = slices.Index(features.Names, name)
		if idx[i] < 0 {
			return nil, fmt.Errorf("feature %q is not one the pipeline computes (%s)", name, strings.Join(features.Names, ", "))
		}
	}
	return idx, nil
}

// Deploy makes art the model of a tenant's cohort (cohort "": of every
// cohort of the tenant without a cohort-specific one), in place of the
// models the detector trains itself, which it keeps training so that a
// rollback (art nil) returns to them at once.
func (a *Anomaly) Deploy(tenant, cohort string, art *models.Artifact, version uint32) error {
	key := tenant + "|" + cohort
	if art == nil {
		delete(a.operator, key)
		return nil
	}
	idx, err := featureIndex(art)
	if err != nil {
		return err
	}
	if a.operator == nil {
		a.operator = map[string]*deployedModel{}
	}
	a.operator[key] = &deployedModel{art: art, idx: idx, version: version}
	return nil
}

// project picks a model's features out of a full feature vector.
func project(values []float64, idx []int) []float64 {
	row := make([]float64, len(idx))
	for j, k := range idx {
		row[j] = values[k]
	}
	return row
}

// useModel loads the artifact at path as the model of every cohort (a
// replay's --model: backtest a candidate model). Its features must be
// features the pipeline computes.
func (a *Anomaly) useModel(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("anomaly model: %w", err)
	}
	defer f.Close()
	art, err := models.Load(f)
	if err != nil {
		return fmt.Errorf("anomaly model %s: %w", path, err)
	}
	idx, err := featureIndex(art)
	if err != nil {
		return fmt.Errorf("anomaly model %s: %w", path, err)
	}
	a.fixed, a.fixedIdx = art, idx
	return nil
}

// Errors returns and forgets the training errors since the last call.
func (a *Anomaly) Errors() []error {
	out := a.errors
	a.errors = nil
	return out
}

type cohortModel struct {
	tenant    string
	rows      [][]float64 // the last keep windows, oldest first
	buf       [][]float64 // the array rows lies in (push)
	first     time.Time
	model     *models.Artifact
	trainMax  []float64 // per feature, the largest value of the training windows
	version   uint32
	trainedAt time.Time
	trainRows int // windows the model in force was trained on
	fresh     int // windows added since
	// The cold-start rule's per-feature maxima (coldMax): columnMax of
	// rows[:maxRows], maxRows -1 once a row has left (push) since they
	// were taken; winMax is what it gave in window maxWin.
	colMax, winMax []float64
	maxRows        int
	maxWin         uint64
}

// coldMax returns columnMax(cm.rows) as of the first call in window win
// (Anomaly.windows), the same slice for the rest of that window, though rows
// are pushed meanwhile: the cold-start rule judges a window's devices by the
// rows before the window, as Vectors did with a map of columnMax per window.
// While no row has left (fewer than keep, as during a cohort's first hour),
// only the rows pushed since the last call are folded in, where columnMax
// scanned every row each window: columnMax's fold of the same rows in the
// same order, so the same values bit for bit (NaN and signed zeros
// included).
func (cm *cohortModel) coldMax(win uint64) []float64 {
	if cm.maxWin == win {
		return cm.winMax
	}
	cm.maxWin, cm.winMax = win, nil
	if len(cm.rows) == 0 {
		cm.maxRows = 0
		return nil
	}
	if cm.maxRows <= 0 || cm.colMax == nil {
		cm.colMax = append(cm.colMax[:0], cm.rows[0]...)
		cm.maxRows = 1
	}
	out := cm.colMax
	for _, r := range cm.rows[cm.maxRows:] {
		for j := range min(len(r), len(out)) {
			out[j] = max(out[j], r[j])
		}
	}
	cm.maxRows = len(cm.rows)
	cm.winMax = out
	return out
}

// push appends a copy of values to the rows, the last keep of them,
// without garbage once there are keep: the row that leaves holds the new
// one's values (nothing keeps a row: a training copies the rows, columnMax
// and the trainMax scan read values), and the rows move down to the start
// of an array of twice keep when they reach its end, rather than into a
// new array.
func (cm *cohortModel) push(values []float64, keep int) {
	var row []float64
	if len(cm.rows) >= keep {
		row = cm.rows[0][:0]
		cm.rows = cm.rows[1:]
		cm.maxRows = -1 // coldMax starts over
	}
	row = append(row, values...)
	if n := len(cm.rows); n == cap(cm.rows) {
		if c := cap(cm.buf); c > n && c >= 2*n {
			// rows is the end of buf (growing, rows starts at buf's
			// start, and buf is grown when rows fills it): at least
			// half of buf is free.
			cm.buf = cm.buf[:c]
			copy(cm.buf, cm.rows)
			clear(cm.buf[n:]) // no stale views of the rows that moved
		} else {
			cm.buf = make([][]float64, min(max(2*n, 8), max(2*keep, n+1)))
			copy(cm.buf, cm.rows)
		}
		cm.rows = cm.buf[:n]
	}
	cm.rows = append(cm.rows, row)
}

// Name implements VectorDetector.
func (*Anomaly) Name() string { return "anomaly" }

// Deployed implements ModelPublisher.
func (a *Anomaly) Deployed() []events.Event {
	out := a.deployed
	a.deployed = nil
	return out
}

// Unpublished implements ModelPublisher: the cohorts' models are trained
// unsealed (models.IForestOptions.Unsealed) and sealed by scoreModel when
// one raises a finding, whose explanation names it, unless they are kept
// in model_dir (named by their ID). The alerts are the same.
func (a *Anomaly) Unpublished() { a.unpublished = true }

// Model returns the model in force for a cohort, if any (for tests and
// tools), sealed.
func (a *Anomaly) Model(cohort string) *models.Artifact {
	if cm := a.cohorts[cohort]; cm != nil && cm.model != nil {
		if err := cm.model.Seal(); err != nil {
			a.errors = append(a.errors, fmt.Errorf("sealing the model of %s: %w", cohort, err))
		}
		return cm.model
	}
	return nil
}

// Vectors implements VectorDetector.
func (a *Anomaly) Vectors(w *window.Window, vecs []features.Vector, _ *Context) []Finding {
	var out []Finding
	var touched []string
	a.windows++
	// The cohort of the vector before, kept for the next: a window's
	// devices come in (tenant, device) order and are mostly of one cohort,
	// whose key was built (an allocation a device) and looked up in three
	// maps again for each.
	var (
		tenant, cohort, key string
		op                  *deployedModel
		cm                  *cohortModel
	)
	for i := range vecs {
		v := &vecs[i]
		if v.Tenant == "" || v.Device == "" {
			continue
		}
		if a.fixed != nil {
			if f, ok := a.scoreModel(w, v, project(v.Values, a.fixedIdx), a.fixed, 0, nil); ok {
				out = append(out, f)
			}
			continue
		}
		if cm == nil || v.Tenant != tenant || v.Cohort != cohort {
			tenant, cohort = v.Tenant, v.Cohort
			key = v.Tenant + "|" + v.Cohort
			op = a.operator[key]
			if op == nil {
				op = a.operator[v.Tenant+"|"]
			}
			cm = a.cohorts[key]
			if cm == nil {
				cm = &cohortModel{tenant: v.Tenant, first: w.End}
				a.cohorts[key] = cm
			}
		}
		if len(touched) == 0 || touched[len(touched)-1] != key {
			touched = append(touched, key)
		}
		if op != nil {
			if f, ok := a.scoreModel(w, v, project(v.Values, op.idx), op.art, op.version|deployedBit, nil); ok {
				out = append(out, f)
			}
		} else if cm.model != nil {
			if f, ok := a.scoreModel(w, v, v.Values, cm.model, cm.version, cm.trainMax); ok {
				out = append(out, f)
			}
		} else if len(cm.rows) >= a.minCold && w.End.Sub(cm.first) >= a.minColdSpan {
			if f, ok := coldStart(w, v, cm.coldMax(a.windows)); ok {
				out = append(out, f)
			}
		}
		cm.push(v.Values, a.keep)
		cm.fresh++
	}
	sort.Strings(touched)
	for i, key := range touched {
		if i > 0 && touched[i-1] == key {
			continue
		}
		cm := a.cohorts[key]
		if len(cm.rows) >= a.minTrain && (cm.model == nil && w.End.Sub(cm.first) >= a.minSpan || cm.model != nil && w.End.Sub(cm.trainedAt) >= a.retrain && 4*cm.fresh >= cm.trainRows) {
			a.train(key, cm, w.End)
		}
	}
	return out
}

// Score implements Scorer: the score of the model Vectors judges the
// vector's window by — the given model (the model option), else the model
// an operator deployed for the cohort or the tenant, else the cohort's own —
// and its calibrated threshold; not ok before there is one.
func (a *Anomaly) Score(v *features.Vector) (score, threshold float64, ok bool) {
	if v.Tenant == "" || v.Device == "" {
		return 0, 0, false // Vectors skips them too
	}
	var (
		model *models.Artifact
		row   []float64
	)
	key := v.Tenant + "|" + v.Cohort
	op := a.operator[key]
	if op == nil {
		op = a.operator[v.Tenant+"|"]
	}
	switch {
	case a.fixed != nil:
		model, row = a.fixed, project(v.Values, a.fixedIdx)
	case op != nil:
		model, row = op.art, project(v.Values, op.idx)
	case a.cohorts[key] != nil && a.cohorts[key].model != nil:
		model, row = a.cohorts[key].model, v.Values
	default:
		return 0, 0, false
	}
	scores, err := model.Score([][]float64{row})
	if err != nil || len(scores) != 1 {
		return 0, 0, false
	}
	return scores[0], model.Threshold, true
}

// deployedBit marks, in scoreModel's version, a model an operator deployed.
const deployedBit = 1 << 31

// scoreModel scores v's values (row, in the model's feature order) with
// model, version v<version> of the cohort's models (0: a model given with
// the model option); trainMax, for the cohort's own models, holds the
// largest value of each feature in the training windows.
func (a *Anomaly) scoreModel(w *window.Window, v *features.Vector, row []float64, model *models.Artifact, version uint32, trainMax []float64) (Finding, bool) {
	if trainMax != nil && !beyondAll(row, trainMax) {
		// Not reported whatever its score (see below), which is
		// therefore not computed; a row scoring would reject is still
		// an error.
		if err := model.CheckRow(row); err != nil {
			a.errors = append(a.errors, fmt.Errorf("scoring %s/%s: %w", v.Tenant, v.Device, err))
		}
		return Finding{}, false
	}
	a.row[0] = row
	err := model.ScoreInto(a.score[:], a.row[:])
	a.row[0] = nil
	if err != nil {
		a.errors = append(a.errors, fmt.Errorf("scoring %s/%s: %w", v.Tenant, v.Device, err))
		return Finding{}, false
	}
	scores := a.score[:]
	// The model decides; a window far outside the cohort's baseline on
	// at least two features (robust deviations from the training medians)
	// is flagged too: with few or near-constant training windows the
	// forest's isolation is weak at the edges of the data.
	// A value the training windows reached is not far, however spread
	// the cohort's usual values are: a rare benign event (an update
	// download) recurs in the training windows, an attack's extremes don't.
	far := 0
	for j, b := range model.Baselines {
		if j < len(row) && b.Scale > 0 && (row[j]-b.Median)/b.Scale >= a.farSD && (j >= len(trainMax) || row[j] > trainMax[j]) {
			far++
		}
	}
	if !model.Flag(scores[0]) && far < 2 {
		return Finding{}, false
	}
	// With the cohort's own model, a window is reported only when at least
	// one feature is beyond every training window's: the threshold is
	// calibrated to flag fpr of the training windows themselves (about one
	// window in 200 of ordinary traffic), while the alert budget is about
	// one window in 6 000, and an attack's extremes are new to the cohort.
	if trainMax != nil && !beyondAll(row, trainMax) {
		return Finding{}, false
	}
	// The explanation names the model: one trained unsealed
	// (Unpublished) gets its ID now, the first time it is needed.
	if err := model.Seal(); err != nil {
		a.errors = append(a.errors, fmt.Errorf("scoring %s/%s: %w", v.Tenant, v.Device, err))
		return Finding{}, false
	}
	s := scores[0]
	f := Finding{Detector: "anomaly", Tenant: v.Tenant, Device: v.Device, Time: w.End, WindowStart: w.Start, WindowEnd: w.End,
		Severity: events.Severity_SEVERITY_MEDIUM, Score: s, Key: "anomaly"}
	if s > model.Threshold+0.1 {
		f.Severity = events.Severity_SEVERITY_HIGH
	}
	f.Evidence = rowIDs(w, v)
	contribs, _ := model.Explain(row)
	sort.SliceStable(contribs, func(i, j int) bool { return contribs[i].Weight > contribs[j].Weight })
	var parts []string
	for i, c := range contribs {
		if i == 3 {
			break
		}
		f.Features = append(f.Features, &events.Feature{Name: c.Feature, Value: c.Value, Baseline: c.Baseline})
		parts = append(parts, fmt.Sprintf("%s %.4g (cohort median %.4g, %.1f robust sd)", c.Feature, c.Value, c.Baseline, c.Deviation))
	}
	f.Summary = fmt.Sprintf("window unlike its cohort's (model score %.3f, threshold %.3f; %d features beyond %.0f robust sd)", s, model.Threshold, far, a.farSD)
	f.Score = math.Max(s, math.Min(1, 0.5+0.1*float64(far)))
	switch {
	case version == 0:
		f.Explanation = fmt.Sprintf("model %s (given, for every cohort) on cohort %s: %s", shortID(model.ID), v.Cohort, strings.Join(parts, "; "))
	case version&deployedBit != 0:
		f.Explanation = fmt.Sprintf("model %s (deployed, deployment %d) on cohort %s: %s", shortID(model.ID), version&^deployedBit, v.Cohort, strings.Join(parts, "; "))
	default:
		f.Explanation = fmt.Sprintf("model %s v%d of cohort %s: %s", shortID(model.ID), version, v.Cohort, strings.Join(parts, "; "))
	}
	return f, true
}

func coldStart(w *window.Window, v *features.Vector, q []float64) (Finding, bool) {
	var feats []*events.Feature
	var parts []string
	for j, x := range v.Values {
		if x > q[j]*1.5+1 {
			feats = append(feats, &events.Feature{Name: features.Names[j], Value: x, Baseline: q[j]})
			parts = append(parts, fmt.Sprintf("%s %.4g > 1.5 × cohort max %.4g + 1", features.Names[j], x, q[j]))
		}
	}
	if len(feats) < 2 {
		return Finding{}, false
	}
	return Finding{Detector: "anomaly", Tenant: v.Tenant, Device: v.Device, Time: w.End, WindowStart: w.Start, WindowEnd: w.End,
		Severity: events.Severity_SEVERITY_MEDIUM, Score: math.Min(1, 0.5+0.1*float64(len(feats))), Key: "anomaly",
		Evidence: rowIDs(w, v), Features: feats,
		Summary:     fmt.Sprintf("%d features far above the cohort's (cold start)", len(feats)),
		Explanation: "cold-start rule, no model yet: " + strings.Join(parts, "; "),
	}, true
}

// train fits the cohort's IsolationForest on its windows, deterministically
// (the seed is derived from the cohort), and records model.deployed (not
// when Unpublished: then the model is sealed only when its ID is needed,
// unless it is kept in model_dir). It trains on the detect stage's
// goroutine (Serial): the pipeline's other stages keep the other cores
// busy, and splitting the calibration over them measured a little more
// CPU for a replay no faster.
func (a *Anomaly) train(key string, cm *cohortModel, at time.Time) {
	// The training windows' largest values, first: the rows are each an
	// allocation of their own, scattered in memory, and this scan brings
	// them into the cache for the training, which reads them next (after
	// the training, whose own data evicts them, they were read from
	// memory again).
	trainMax := make([]float64, len(features.Names))
	for j := range trainMax {
		trainMax[j] = math.Inf(-1)
	}
	for _, r := range cm.rows {
		// A comparison rather than the max builtin, whose NaN and
		// signed-zero rules cost a sequence of instructions a value: the
		// rows trained on are finite (the training fails otherwise, and
		// trainMax is dropped), and the sign of a zero maximum changes no
		// comparison made with it (beyondAll, scoreModel).
		tm := trainMax[:min(len(r), len(trainMax))]
		for j, v := range r[:len(tm)] {
			if v > tm[j] {
				tm[j] = v
			}
		}
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	lazy := a.unpublished && a.modelDir == "" // neither published nor kept: sealed when an alert names it
	art, err := models.TrainIsolationForest(cm.rows, features.Names, models.IForestOptions{
		Seed: int64(h.Sum64() >> 1), FPR: a.fpr, CreatedBy: "halo pipeline",
		Span: models.Span{Start: cm.first, End: at}, Serial: true, Unsealed: lazy,
	})
	if err != nil {
		a.errors = append(a.errors, fmt.Errorf("training the model of %s: %w", key, err))
		cm.trainedAt = at // try again after the retrain interval, not every window
		return
	}
	cm.model, cm.trainedAt = art, at
	cm.trainRows, cm.fresh = len(cm.rows), 0
	cm.trainMax = trainMax
	cm.version++
	if lazy {
		return
	}
	sum, err := art.SaveSHA256()
	if err != nil {
		return
	}
	path := ""
	if a.modelDir != "" {
		path = filepath.Join(a.modelDir, strings.TrimPrefix(art.ID, "sha256:")+".json")
		if _, err := os.Stat(path); err != nil {
			var buf bytes.Buffer
			if art.Save(&buf) == nil && os.MkdirAll(a.modelDir, 0o755) == nil {
				fsutil.WriteFileAtomic(path, buf.Bytes(), 0o644)
			}
		}
	}
	if a.unpublished {
		return
	}
	cohort := strings.TrimPrefix(key, cm.tenant+"|")
	ev := events.Event{
		ID: events.DerivedID("model.deployed", key, fmt.Sprint(cm.version), at.UTC().Format(time.RFC3339Nano)), Schema: events.SchemaVersion,
		Tenant: cm.tenant, Time: at.UTC(),
		Payload: &events.ModelDeployed{ModelId: art.ID, Kind: "iforest", Version: cm.version, Features: art.Features, Threshold: art.Threshold,
			Cohort: cohort, ArtifactSha256: sum[:], Artifact: path, Actor: models.PipelineActor},
	}
	a.deployed = append(a.deployed, ev)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// rowIDs returns up to 8 event ids of a device's rows in the window.
func rowIDs(w *window.Window, v *features.Vector) []events.ID {
	c := colsOf(w)
	var out []events.ID
	for i := v.Rows[0]; i < v.Rows[1] && len(out) < 8; i++ {
		out = append(out, c.id(i))
	}
	return out
}

// beyondAll reports whether some value of row is clearly above the largest
// value of its feature in the training windows: above beyondFactor times it
// plus 1. One more than the largest count is not new behaviour (a
// legitimate payment retry repeats a strict fingerprint that an hour of
// training windows may never have repeated); an attack's extremes are far
// beyond.
func beyondAll(row, trainMax []float64) bool {
	for j := range min(len(row), len(trainMax)) {
		if row[j] > beyondFactor*trainMax[j]+1 {
			return true
		}
	}
	return false
}

// beyondFactor: see beyondAll.
const beyondFactor = 1.25

// columnMax returns, per column, the largest value of rows.
func columnMax(rows [][]float64) []float64 {
	if len(rows) == 0 {
		return nil
	}
	out := slices.Clone(rows[0])
	for _, r := range rows[1:] {
		for j := range min(len(r), len(out)) {
			out[j] = max(out[j], r[j])
		}
	}
	return out
}

// quantiles returns, per column, the q quantile of rows.
func quantiles(rows [][]float64, q float64) []float64 {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows[0])
	out := make([]float64, n)
	col := make([]float64, len(rows))
	for j := 0; j < n; j++ {
		for i, r := range rows {
			col[i] = r[j]
		}
		sort.Float64s(col)
		k := int(math.Ceil(q*float64(len(col)))) - 1
		out[j] = col[max(0, min(k, len(col)-1))]
	}
	return out
}
