package replay

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

func alert(dev, det string, start time.Time, w time.Duration) events.Event {
	return events.Event{ID: events.NewID(), Tenant: "t", Device: dev, Time: start.Add(w), Payload: &events.AlertRaised{
		Detector: det, WindowStart: start.UnixNano(), WindowEnd: start.Add(w).UnixNano()}}
}

func TestEvaluateByHand(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	w := time.Minute
	labels := []Label{
		{Tenant: "t", Device: "a", Label: "Malicious", Detail: "C&C", Start: t0.Add(30 * time.Second), End: t0.Add(150 * time.Second), Malicious: true}, // windows 0,1,2
		{Tenant: "t", Device: "b", Label: "Malicious", Detail: "DDoS", Start: t0.Add(10 * time.Minute), End: t0.Add(10 * time.Minute), Malicious: true}, // window 10
		{Tenant: "t", Device: "c", Label: "Benign", Start: t0, End: t0},
	}
	alerts := []events.Event{
		alert("a", "beaconing", t0.Add(time.Minute), w), // TP (window 1)
		alert("a", "anomaly", t0.Add(2*time.Minute), w), // TP (window 2)
		alert("c", "anomaly", t0, w),                    // FP
		alert("b", "flood", t0.Add(20*time.Minute), w),  // FP (wrong window)
	}
	r := Evaluate(alerts, labels, w, 4, nil)
	o := r.Overall
	if o.TP != 2 || o.FP != 2 || o.FN != 2 || o.Precision != 0.5 || o.Recall != 0.5 || math.Abs(o.F1-0.5) > 1e-12 {
		t.Fatalf("overall %+v", o)
	}
	if d := r.ByDetector["anomaly"]; d.TP != 1 || d.FP != 1 || d.FN != 3 {
		t.Fatalf("anomaly %+v", d)
	}
	if l := r.ByLabel["C&C"]; l.Positives != 3 || math.Abs(l.Recall-2.0/3) > 1e-12 || l.TimeToDetect != 90 {
		t.Fatalf("C&C %+v", l)
	}
	if l := r.ByLabel["DDoS"]; l.Recall != 0 || l.TimeToDetect != 0 {
		t.Fatalf("DDoS %+v", l)
	}
	if r.FalseAlertsPerDeviceDay != 0.5 {
		t.Fatalf("false alerts per device-day %v", r.FalseAlertsPerDeviceDay)
	}
	// Always numbers, never null or NaN.
	empty := Evaluate(nil, nil, w, 0, nil)
	b, err := json.Marshal(empty)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"precision", "recall", "f1"} {
		if v, ok := m["overall"].(map[string]any)[k].(float64); !ok || v != 0 {
			t.Fatalf("empty report %s = %v", k, m["overall"])
		}
	}
}

// A window detector's repeat is folded into its open alert as alert.updated
// at its window's end: it predicts its own window, not the one starting at
// that instant (the Slips test18 log lost its second window and gained one
// after the labeled span that way).
func TestEvaluateUpdatesPredictTheirWindow(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	w := time.Minute
	labels := []Label{{Tenant: "t", Device: "a", Label: "Malicious", Start: t0, End: t0.Add(179 * time.Second), Malicious: true}} // windows 0,1,2
	raised := alert("a", "beaconing", t0, w)
	id := "al-1"
	raised.Payload.(*events.AlertRaised).AlertId = id
	update := func(k int) events.Event {
		start := t0.Add(time.Duration(k) * w)
		return events.Event{ID: events.NewID(), Tenant: "t", Device: "a", Time: start.Add(w), Payload: &events.AlertUpdated{
			AlertId: id, Count: uint32(k + 1), WindowStart: start.UnixNano(), WindowEnd: start.Add(w).UnixNano()}}
	}
	r := Evaluate([]events.Event{raised, update(1), update(2)}, labels, w, 1, nil)
	if o := r.Overall; o.TP != 3 || o.FP != 0 || o.FN != 0 {
		t.Fatalf("overall %+v, want 3 true positives (windows 0, 1, 2) and nothing else", o)
	}
	// An update recorded without its window predicts the window holding its
	// time.
	legacy := update(1)
	legacy.Time = t0.Add(90 * time.Second)
	p := legacy.Payload.(*events.AlertUpdated)
	p.WindowStart, p.WindowEnd = 0, 0
	if o := Evaluate([]events.Event{raised, legacy}, labels, w, 1, nil).Overall; o.TP != 2 || o.FN != 1 || o.FP != 0 {
		t.Fatalf("legacy update: overall %+v, want windows 0 and 1", o)
	}
}

// TestEvaluateSpanNeedsTraffic: a labeled span makes positive only the
// windows in which its device has traffic (ActivityOf); a span over a
// quiet hour counted 60 false negatives no detector could avoid. Label
// events themselves are not traffic.
func TestEvaluateSpanNeedsTraffic(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	w := time.Minute
	labels := []Label{{Tenant: "t", Device: "a", Label: "Malicious", Start: t0, End: t0.Add(time.Hour), Malicious: true}}
	traffic := func(at time.Duration, p events.Payload) events.Event {
		return events.Event{ID: events.NewID(), Tenant: "t", Device: "a", Time: t0.Add(at), Payload: p}
	}
	evs := []events.Event{
		traffic(90*time.Second, &events.ConnOpened{ConnId: "c1"}),          // window 1
		traffic(30*time.Minute, &events.TxObserved{ConnId: "c2"}),          // window 30
		traffic(45*time.Minute, &events.LabelRecorded{Label: "Malicious"}), // not traffic
		{ID: events.NewID(), Tenant: "t", Device: "b", Time: t0.Add(5 * time.Minute), Payload: &events.ConnOpened{ConnId: "c3"}},
	}
	alerts := []events.Event{alert("a", "scan", t0.Add(time.Minute), w)}
	r := Evaluate(alerts, labels, w, 1, ActivityOf(evs, w))
	if o := r.Overall; o.TP != 1 || o.FN != 1 || o.FP != 0 {
		t.Fatalf("with the device's traffic: %+v, want tp 1 (window 1) fn 1 (window 30) fp 0", o)
	}
	// Time to detect runs from the span's first window with traffic (the
	// alert came at the end of window 1: 60 s after its start), not from
	// the span's start in a quiet stretch (120 s).
	if l := r.ByLabel["Malicious"]; l.TimeToDetect != 60 || l.Positives != 2 {
		t.Fatalf("by label %+v, want 2 positives and 60 s to detect", l)
	}
	all := Evaluate(alerts, labels, w, 1, nil)
	if o := all.Overall; o.TP != 1 || o.FN != 60 {
		t.Fatalf("without activity, every window of the span: %+v, want tp 1 fn 60", o)
	}
	if l := all.ByLabel["Malicious"]; l.TimeToDetect != 120 {
		t.Fatalf("without activity: by label %+v, want 120 s to detect", l)
	}
}
