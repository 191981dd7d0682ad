package export

import (
	"sort"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
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

// newWindowLabels returns an empty index for windows of the given size:
// add the events, then finish.
func newWindowLabels(size time.Duration) *windowLabels {
	return &windowLabels{size: int64(size), byDev: map[[2]string][]spanLabel{}}
}

// add indexes the label.recorded events of evs, with the spans
// replay.LabelsFromEvents gives them. A label's name is its reporting name
// (replay.Label.Name: the detailed label, else the label), except for an
// analyst's verdict, named by the verdict (its detail is the detector).
func (wl *windowLabels) add(evs []events.Event) {
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
}

// finish orders each device's labels by first window (stably: labels
// added in event order keep it), for of.
func (wl *windowLabels) finish() {
	for _, ls := range wl.byDev {
		sort.SliceStable(ls, func(i, j int) bool { return ls[i].first < ls[j].first })
	}
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
