package replay

import (
	"math"
	"sort"
	"time"

	"github.com/halo-sec/halo/events"
)

// Label is a labeled span of one device's traffic: an injected attack of
// the simulator, an imported label, an analyst's verdict.
type Label struct {
	Tenant    string    `json:"tenant"`
	Device    string    `json:"device"`
	Label     string    `json:"label"`
	Detail    string    `json:"detail,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Malicious bool      `json:"-"`
}

// Name is the label's reporting name: the detailed label when there is
// one (C&C, DDoS, PartOfAHorizontalPortScan), else the label.
func (l *Label) Name() string {
	if l.Detail != "" {
		return l.Detail
	}
	return l.Label
}

// Event is the label.recorded of a malicious label from source (halo
// labels import, a simulator): its ID derives from the label, so
// recording it twice records it once, and its time is its start. A span
// that ends where it starts holds that instant.
func (l *Label) Event(source events.LabelSource) events.Event {
	end := l.End
	if !end.After(l.Start) {
		end = l.Start.Add(time.Nanosecond) // half-open spans hold their start
	}
	ev := events.New(l.Tenant, l.Device, &events.LabelRecorded{Label: l.Label, Detail: l.Detail, Malicious: true,
		Start: l.Start.UnixNano(), End: end.UnixNano(), Source: source})
	ev.ID = events.DerivedID("label.recorded", l.Tenant, l.Device, l.Label, l.Detail, l.Start.UTC().Format(time.RFC3339Nano), end.UTC().Format(time.RFC3339Nano))
	ev.Time = l.Start.UTC()
	return ev
}

// LabelsFromEvents turns label.recorded events into labels (malicious ones
// only matter for scoring).
func LabelsFromEvents(evs []events.Event) []Label {
	var out []Label
	for i := range evs {
		p, ok := evs[i].Payload.(*events.LabelRecorded)
		if !ok {
			continue
		}
		l := Label{Tenant: evs[i].Tenant, Device: evs[i].Device, Label: p.Label, Detail: p.Detail, Malicious: p.Malicious,
			Start: time.Unix(0, p.Start).UTC(), End: time.Unix(0, p.End).UTC()}
		if p.Start == 0 {
			l.Start = evs[i].Time
		}
		if p.End == 0 {
			l.End = l.Start
		}
		out = append(out, l)
	}
	return out
}

// Scores are precision, recall and F1 with their counts; always numbers (0
// where undefined).
type Scores struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	FN        int     `json:"fn"`
}

// LabelScore is how well one label was caught.
type LabelScore struct {
	Recall       float64 `json:"recall"`
	Positives    int     `json:"positives"`
	TimeToDetect float64 `json:"time_to_detect_s"`
}

// Report is the backtest report (report.json).
type Report struct {
	Overall                 Scores                `json:"overall"`
	ByDetector              map[string]Scores     `json:"by_detector"`
	ByLabel                 map[string]LabelScore `json:"by_label"`
	FalseAlertsPerDeviceDay float64               `json:"false_alerts_per_device_day"`
	Alerts                  int                   `json:"alerts"`
	DeviceDays              int                   `json:"device_days"`
	WindowSeconds           float64               `json:"window_s"`
	// Baseline: the comparison with the live pipeline's alerts over the
	// same range (halo replay --baseline); absent otherwise.
	Baseline *BaselineDiff `json:"baseline,omitempty"`
	// Settings the pipeline ran with (halo replay sets them).
	Settings *Settings `json:"settings,omitempty"`
}

type pair struct {
	tenant, device string
	window         int64
}

// Evaluate scores alerts (alert.raised, and alert.updated for the windows
// of the repeats they fold in) against labels over
// (device, window) pairs: a pair is positive when a malicious labeled event
// falls in it; an alert predicts the pairs its window covers. deviceDays
// counts the devices with at least one event per UTC day. With active
// (RangeTally.Activity), a labeled span makes positive only the windows in
// which its device has traffic; nil: every window it covers (a span over a
// quiet hour counted 60 false negatives no detector could avoid).
func Evaluate(alerts []events.Event, labels []Label, window time.Duration, deviceDays int, active Activity) Report {
	w := int64(window)
	positive := map[pair]string{} // → label name of the first label in it
	firstLabel := map[string]time.Time{}
	labelPairs := map[string][]pair{}
	for _, l := range labels {
		if !l.Malicious {
			continue
		}
		first := l.Start // of what is labeled: the span's start, or its first window with traffic
		seen := false
		for k := floorDiv(l.Start.UnixNano(), w); k <= floorDiv(l.End.UnixNano(), w); k++ {
			p := pair{l.Tenant, l.Device, k}
			if active != nil {
				if _, ok := active[p]; !ok {
					continue // no event of the device in it: nothing labeled to catch
				}
				if !seen {
					first = maxTime(l.Start, time.Unix(0, k*w).UTC())
				}
			}
			seen = true
			if _, ok := positive[p]; !ok {
				positive[p] = l.Name()
				labelPairs[l.Name()] = append(labelPairs[l.Name()], p)
			}
		}
		if !seen {
			continue // nothing of it in the range's traffic
		}
		if t, ok := firstLabel[l.Name()]; !ok || first.Before(t) {
			firstLabel[l.Name()] = first
		}
	}
	predicted := map[pair]bool{}
	byDet := map[string]map[pair]bool{}
	firstAlert := map[pair]time.Time{} // device-window → first alert time
	n := 0
	falseAlerts := 0
	detectorOf := map[string]string{} // alert id → detector
	for i := range alerts {
		var a *events.AlertRaised
		switch p := alerts[i].Payload.(type) {
		case *events.AlertRaised:
			a = p
			detectorOf[p.AlertId] = p.Detector
			n++
		case *events.AlertUpdated:
			// A repeat folded into an open alert predicts the window it
			// happened in: the repeat's own window, or for updates recorded
			// without one (before alert.updated carried it), the window
			// holding its time.
			det, known := detectorOf[p.AlertId]
			if !known {
				continue
			}
			if p.WindowEnd > p.WindowStart {
				a = &events.AlertRaised{Detector: det, WindowStart: p.WindowStart, WindowEnd: p.WindowEnd}
				break
			}
			k := floorDiv(alerts[i].Time.UnixNano(), w) * w
			a = &events.AlertRaised{Detector: det, WindowStart: k, WindowEnd: k + w}
		default:
			continue
		}
		start, end := a.WindowStart, a.WindowEnd
		if end <= start {
			end = start + 1
		}
		hit := false
		for k := floorDiv(start, w); k <= floorDiv(end-1, w); k++ {
			p := pair{alerts[i].Tenant, alerts[i].Device, k}
			predicted[p] = true
			if byDet[a.Detector] == nil {
				byDet[a.Detector] = map[pair]bool{}
			}
			byDet[a.Detector][p] = true
			if t, ok := firstAlert[p]; !ok || alerts[i].Time.Before(t) {
				firstAlert[p] = alerts[i].Time
			}
			if _, pos := positive[p]; pos {
				hit = true
			}
		}
		if !hit {
			falseAlerts++
		}
	}
	r := Report{ByDetector: map[string]Scores{}, ByLabel: map[string]LabelScore{}, Alerts: n, DeviceDays: deviceDays, WindowSeconds: window.Seconds()}
	r.Overall = score(predicted, positive)
	for det, pred := range byDet {
		r.ByDetector[det] = score(pred, positive)
	}
	for name, pairs := range labelPairs {
		caught := 0
		var first time.Time
		for _, p := range pairs {
			if predicted[p] {
				caught++
				if t := firstAlert[p]; first.IsZero() || t.Before(first) {
					first = t
				}
			}
		}
		ls := LabelScore{Positives: len(pairs), Recall: ratio(caught, len(pairs))}
		if !first.IsZero() {
			ls.TimeToDetect = math.Max(0, first.Sub(firstLabel[name]).Seconds())
		}
		r.ByLabel[name] = ls
	}
	if deviceDays > 0 {
		r.FalseAlertsPerDeviceDay = float64(falseAlerts) / float64(deviceDays)
	}
	return r
}

func score(pred map[pair]bool, positive map[pair]string) Scores {
	var s Scores
	for p := range pred {
		if _, ok := positive[p]; ok {
			s.TP++
		} else {
			s.FP++
		}
	}
	for p := range positive {
		if !pred[p] {
			s.FN++
		}
	}
	s.Precision = ratio(s.TP, s.TP+s.FP)
	s.Recall = ratio(s.TP, s.TP+s.FN)
	if s.Precision+s.Recall > 0 {
		s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
	}
	return s
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// DeviceDays counts (device, UTC day) pairs with at least one event.
func DeviceDays(evs []events.Event) int {
	var s deviceDays
	for i := range evs {
		s.add(&evs[i])
	}
	return len(s)
}

// ActivityOf is the Activity of evs over windows of the given size, as a
// RangeTally with that Window gathers it.
func ActivityOf(evs []events.Event, window time.Duration) Activity {
	t := RangeTally{Window: window}
	for i := range evs {
		t.Add(&evs[i])
	}
	return t.Activity()
}

// sortedDetectors lists a report's detectors, for printing.
func (r *Report) sortedDetectors() []string {
	out := make([]string, 0, len(r.ByDetector))
	for d := range r.ByDetector {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
