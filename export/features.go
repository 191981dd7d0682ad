package export

import (
	"fmt"
	"sort"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/pipeline/window"
	"github.com/halo-sec/halo/replay"
)

// FeatureRow is one row of the features table: the feature vector of one
// device in one window, as the pipeline computed it, with the anomaly
// model's score and the window's label.
type FeatureRow struct {
	Tenant, Device, Cohort string
	Start, End             int64 // window bounds, ns since the epoch
	Values                 []float64
	// Score and Threshold are the cohort's anomaly model's score of the
	// vector and its threshold, when the cohort had a model then.
	Score, Threshold *float64
	// Malicious: a malicious label covers the window; Label names the label
	// (a malicious one first), when one covers it.
	Malicious bool
	Label     *string
}

// featureRunner computes feature vectors exactly as pipeline.Processor
// does: the same window assembler, the same features.State, the same
// cohorts (folded from the log's identity events), windows computed in the
// order the assembler closes them. With scores, the anomaly detector runs
// too (as in the pipeline) and its cohort models score every vector before
// the detector sees it, as its own scoring does.
type featureRunner struct {
	windows  *window.Assembler
	state    *features.State
	registry *identity.Registry
	anomaly  *detect.Anomaly
	ctx      *detect.Context
	emit     func(w *window.Window, vecs []features.Vector, scores, thresholds []*float64)
	parts    int
	nwin     int
}

func newFeatureRunner(cfg pipeline.Config, scores bool, emit func(*window.Window, []features.Vector, []*float64, []*float64)) (*featureRunner, error) {
	cfg = withPipelineDefaults(cfg)
	r := &featureRunner{registry: identity.NewRegistry(), emit: emit, parts: cfg.Partitions}
	var err error
	if r.state, err = features.NewState(features.StateConfig{}); err != nil {
		return nil, err
	}
	if r.windows, err = window.New(window.Config{Size: cfg.WindowSize, Lateness: cfg.Lateness}, cfg.Partitions, memory.DefaultAllocator); err != nil {
		return nil, fmt.Errorf("feature windows: %w", err)
	}
	if scores {
		ds, err := detect.New([]string{"anomaly"}, cfg.DetectorOptions)
		if err != nil {
			return nil, err
		}
		r.anomaly = ds[0].(*detect.Anomaly)
	}
	r.ctx = &detect.Context{Cohort: r.cohort}
	return r, nil
}

// withPipelineDefaults fills the pipeline defaults that features depend on.
func withPipelineDefaults(c pipeline.Config) pipeline.Config {
	if c.WindowSize == 0 {
		c.WindowSize = time.Minute
	}
	if c.Lateness == 0 {
		c.Lateness = 5 * time.Second
	}
	if c.Partitions == 0 {
		c.Partitions = events.DefaultPartitions
	}
	if c.Warmup == 0 {
		c.Warmup = 24 * time.Hour
	}
	return c
}

// cohort is pipeline.Processor's cohort function.
func (r *featureRunner) cohort(tenant, device string) string {
	if d, ok := r.registry.Device(device); ok && d.Tenant == tenant {
		return d.Cohort()
	}
	return tenant + "//"
}

// process consumes one event, as pipeline.Processor.Process does for the
// windows.
func (r *featureRunner) process(ev *events.Event) {
	if pipeline.IsPipelineOutput(ev) {
		return // replay.Run does not feed a run's outputs back
	}
	switch p := ev.Payload.(type) {
	case *events.PolicyChanged:
		return
	case *events.TenantCreated, *events.TokenAdded, *events.DeviceEnrolled, *events.DeviceRevoked:
		r.registry.Apply(ev)
		return
	case *events.ClockTick:
		if int(p.Partition) < r.parts {
			r.windows.Tick(int(p.Partition), ev.Time)
		}
		r.closeWindows()
		return
	}
	r.windows.Add(ev)
	r.closeWindows()
}

func (r *featureRunner) flush() {
	r.windows.Flush()
	r.closeWindows()
}

func (r *featureRunner) release() { r.windows.Release() }

func (r *featureRunner) closeWindows() {
	for _, w := range r.windows.Closed() {
		r.nwin++
		vecs := features.Compute(w, r.cohort, r.state)
		scores := make([]*float64, len(vecs))
		thresholds := make([]*float64, len(vecs))
		if r.anomaly != nil {
			r.score(vecs, scores, thresholds)
			r.anomaly.Vectors(w, vecs, r.ctx)
			r.anomaly.Deployed()
			r.anomaly.Errors()
		}
		r.emit(w, vecs, scores, thresholds)
		w.Release()
	}
}

// score scores every vector with its cohort's model, one call per cohort.
func (r *featureRunner) score(vecs []features.Vector, scores, thresholds []*float64) {
	byCohort := map[string][]int{}
	for i := range vecs {
		if vecs[i].Tenant == "" || vecs[i].Device == "" {
			continue // the detector skips them too
		}
		k := vecs[i].Tenant + "|" + vecs[i].Cohort
		byCohort[k] = append(byCohort[k], i)
	}
	for k, idx := range byCohort {
		m := r.anomaly.Model(k)
		if m == nil {
			continue
		}
		rows := make([][]float64, len(idx))
		for j, i := range idx {
			rows[j] = vecs[i].Values
		}
		s, err := m.Score(rows)
		if err != nil {
			continue // the detector reports the same error as a model error
		}
		th := m.Threshold
		for j, i := range idx {
			scores[i], thresholds[i] = &s[j], &th
		}
	}
}

// windowLabels finds the labels that cover a device window, by the rule of
// replay.Evaluate: a label covers the windows from the one holding its start
// to the one holding its end.
type windowLabels struct {
	size  int64
	byDev map[[2]string][]spanLabel // sorted by first window
}

type spanLabel struct {
	first, last int64 // window indices
	malicious   bool
	name        string
}

// newWindowLabels indexes the label.recorded events of evs, with the spans
// replay.LabelsFromEvents gives them. A label's name is its reporting name
// (replay.Label.Name: the detailed label, else the label), except for an
// analyst's verdict, named by the verdict (its detail is the detector).
func newWindowLabels(evs []events.Event, size time.Duration) *windowLabels {
	wl := &windowLabels{size: int64(size), byDev: map[[2]string][]spanLabel{}}
	for i := range evs {
		p, ok := evs[i].Payload.(*events.LabelRecorded)
		if !ok {
			continue
		}
		l := replay.LabelsFromEvents(evs[i : i+1])[0]
		name := l.Name()
		if p.Source == events.LabelSource_LABEL_SOURCE_VERDICT {
			name = p.Label
		}
		k := [2]string{l.Tenant, l.Device}
		wl.byDev[k] = append(wl.byDev[k], spanLabel{floorDiv(l.Start.UnixNano(), wl.size), floorDiv(l.End.UnixNano(), wl.size), l.Malicious, name})
	}
	for _, ls := range wl.byDev {
		sort.SliceStable(ls, func(i, j int) bool { return ls[i].first < ls[j].first })
	}
	return wl
}

// of returns whether a malicious label covers the window starting at start
// and the name of the covering label (the first malicious one, else the
// first one), if any.
func (wl *windowLabels) of(tenant, device string, start int64) (bool, *string) {
	ls := wl.byDev[[2]string{tenant, device}]
	k := floorDiv(start, wl.size)
	n := sort.Search(len(ls), func(i int) bool { return ls[i].first > k })
	var name *string
	for i := 0; i < n; i++ {
		if ls[i].last < k {
			continue
		}
		if ls[i].malicious {
			return true, &ls[i].name
		}
		if name == nil {
			name = &ls[i].name
		}
	}
	return false, name
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
