package pipeline

import (
	"slices"
	"time"

	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/pipeline/features"
)

// DeviceWindow is one device's closed window as the processor saw it: the
// feature vector its vector detectors were given and the scores of the
// detectors that score every window (detect.Scorer), taken before the
// detectors saw the window — the scores they judged it by.
type DeviceWindow struct {
	Tenant, Device, Cohort string
	Start, End             time.Time
	// Features holds the feature values in features.Names order.
	Features []float64
	// Rows is how many of the window's rows (events) are the device's.
	Rows int
	// Scores of the scoring detectors, in detector order; a detector with
	// nothing to score by yet (no model for the cohort) is absent.
	Scores []WindowScore
}

// WindowScore is one detector's score of a device window and the threshold
// above which it flags one.
type WindowScore struct {
	Detector  string
	Score     float64
	Threshold float64
}

// ObserveWindows makes the processor call fn, in the processor's goroutine,
// with every device window it closes, in the order it closes them (window
// start, then tenant and device). It computes feature vectors even when no
// vector detector runs. Observing changes nothing the processor emits:
// timelines (GET /v1/devices/{id}/timeline, halo incident) use it to show
// the windows and scores the live pipeline judged. fn nil stops observing.
func (p *Processor) ObserveWindows(fn func(DeviceWindow)) { p.observe = fn }

// observeWindow reports the vectors of one closed window to the observer.
func (p *Processor) observeWindow(vecs []features.Vector) {
	for i := range vecs {
		v := &vecs[i]
		if v.Tenant == "" && v.Device == "" {
			continue // auth failures that named neither
		}
		dw := DeviceWindow{Tenant: v.Tenant, Device: v.Device, Cohort: v.Cohort, Start: v.Start, End: v.End,
			Features: slices.Clone(v.Values), Rows: v.Rows[1] - v.Rows[0]}
		for _, d := range p.vecDets {
			s, ok := d.(detect.Scorer)
			if !ok {
				continue
			}
			if score, threshold, ok := s.Score(v); ok {
				dw.Scores = append(dw.Scores, WindowScore{Detector: d.Name(), Score: score, Threshold: threshold})
			}
		}
		p.observe(dw)
	}
}
