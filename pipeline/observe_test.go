package pipeline

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/models"
	"github.com/halo-sec/halo/pipeline/features"
)

// TestObserveWindows: an observer sees every device window the processor
// closes with its feature vector, and the anomaly model's score and
// threshold once the cohort has a model; observing changes none of the
// processor's outputs.
func TestObserveWindows(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	seq := 0
	evs := fleet(10, 20, t0, &seq)
	for k := 0; k < 30; k++ { // pos-04 exfiltrates in minute 21
		at := t0.Add(21*time.Minute + time.Duration(k)*time.Second)
		c := fmt.Sprint("x", k)
		evs = append(evs,
			events.Event{ID: events.DerivedID("x", c), Tenant: "acme", Device: "pos-04", Time: at, Payload: &events.ConnOpened{ConnId: c, DstHost: "drop.evil.example", DstPort: 443, Mode: events.ConnMode_CONN_MODE_CONNECT}},
			events.Event{ID: events.DerivedID("y", c), Tenant: "acme", Device: "pos-04", Time: at.Add(time.Second), Payload: &events.ConnClosed{ConnId: c, BytesUp: 5_000_000, BytesDown: 2000, DurationNs: int64(time.Second), Reason: events.CloseReason_CLOSE_REASON_CLIENT}},
		)
	}
	evs = append(evs, fleet(10, 3, t0.Add(22*time.Minute), &seq)...)
	run := func(observe func(DeviceWindow)) []events.Event {
		proc, err := NewProcessor(Config{DetectorOptions: map[string]map[string]string{"anomaly": {"min_train": "150", "min_span": "1m", "min_cold": "20"}}})
		if err != nil {
			t.Fatal(err)
		}
		defer proc.Close()
		proc.ObserveWindows(observe)
		var outs []events.Event
		for i := range evs {
			outs = append(outs, proc.Process(&evs[i])...)
		}
		return append(outs, proc.Flush()...)
	}
	var seen []DeviceWindow
	observed := run(func(w DeviceWindow) { seen = append(seen, w) })
	plain := run(nil)
	// The staged processor observes the same windows with the same scores:
	// each taken before the detectors saw the window, as Process does.
	var staged []DeviceWindow
	{
		proc, err := NewProcessor(Config{DetectorOptions: map[string]map[string]string{"anomaly": {"min_train": "150", "min_span": "1m", "min_cold": "20"}}})
		if err != nil {
			t.Fatal(err)
		}
		proc.ObserveWindows(func(w DeviceWindow) { staged = append(staged, w) })
		outs, err := proc.ProcessAll(context.Background(), evs, nil, nil)
		proc.Close()
		if err != nil || len(outs) != len(observed) {
			t.Fatalf("staged: %d outputs, %v; want %d", len(outs), err, len(observed))
		}
		if !reflect.DeepEqual(staged, seen) {
			t.Fatalf("staged: %d windows observed differ from Process's %d", len(staged), len(seen))
		}
	}
	if len(observed) != len(plain) {
		t.Fatalf("observing changed the outputs: %d events, %d without", len(observed), len(plain))
	}
	for i := range plain {
		if observed[i].ID != plain[i].ID {
			t.Fatalf("output %d: %s observed, %s without", i, observed[i].ID, plain[i].ID)
		}
	}
	// 10 devices × 20 minutes + pos-04's minute 21 + 10 × 3 minutes.
	if len(seen) != 10*20+1+10*3 {
		t.Fatalf("%d device windows observed, want %d", len(seen), 10*20+1+10*3)
	}
	scored := 0
	var exfil *DeviceWindow
	for i := range seen {
		w := &seen[i]
		if len(w.Features) != features.NumFeatures || w.Rows == 0 || w.End.Sub(w.Start) != time.Minute || w.Tenant != "acme" {
			t.Fatalf("window %d: %+v", i, w)
		}
		if len(w.Scores) > 0 {
			scored++
			if s := w.Scores[0]; s.Detector != "anomaly" || s.Threshold <= 0 || s.Score <= 0 || s.Score > 1 {
				t.Fatalf("window %d scores %+v", i, w.Scores)
			}
		}
		if w.Device == "pos-04" && w.Start.Equal(t0.Add(21*time.Minute)) {
			exfil = w
		}
	}
	if scored == 0 || scored == len(seen) {
		t.Fatalf("%d of %d windows scored: want the windows after the model was trained, only", scored, len(seen))
	}
	if exfil == nil || len(exfil.Scores) == 0 {
		t.Fatalf("the exfiltration window %+v is not scored", exfil)
	}
	for i := range seen { // it is the most anomalous window of all
		if w := &seen[i]; w != exfil && len(w.Scores) > 0 && w.Scores[0].Score >= exfil.Scores[0].Score {
			t.Fatalf("window %+v scores %v, the exfiltration window only %v", w, w.Scores[0].Score, exfil.Scores[0].Score)
		}
	}
	// The alert the window raised is timed at its end.
	if !slices.ContainsFunc(observed, func(e events.Event) bool {
		a, ok := e.Payload.(*events.AlertRaised)
		return ok && a.Detector == "anomaly" && e.Device == "pos-04" && e.Time.Equal(exfil.End)
	}) {
		t.Fatal("no anomaly alert for the exfiltration window")
	}
}

// TestObserveWindowsGivenModel: with a given model (halo replay --model) or
// one an operator deployed (halo models deploy), every window is scored from
// the first, by that model: the observed score is the artifact's own score
// of the window's features.
func TestObserveWindowsGivenModel(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	seq := 0
	evs := fleet(10, 20, t0, &seq)
	dir := t.TempDir()
	proc, err := NewProcessor(Config{ModelDir: dir, Detectors: []string{"anomaly"}, DetectorOptions: map[string]map[string]string{"anomaly": {"min_train": "150", "min_span": "1m"}}})
	if err != nil {
		t.Fatal(err)
	}
	var artifact string
	for i := range evs {
		for _, o := range proc.Process(&evs[i]) {
			if d, ok := o.Payload.(*events.ModelDeployed); ok && artifact == "" {
				artifact = d.Artifact
			}
		}
	}
	proc.Close()
	if artifact == "" {
		t.Fatal("no model trained")
	}
	f, err := os.Open(artifact)
	if err != nil {
		t.Fatal(err)
	}
	art, err := models.Load(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(artifact)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	deployed := events.Event{ID: events.DerivedID("deploy", artifact), Tenant: "acme", Time: t0.Add(29 * time.Minute),
		Payload: &events.ModelDeployed{ModelId: art.ID, Kind: "iforest", Version: 1, Features: art.Features, Threshold: art.Threshold,
			ArtifactSha256: sum[:], Artifact: artifact, Actor: "operator"}}
	for name, cfg := range map[string]Config{
		"given":    {Detectors: []string{"anomaly"}, DetectorOptions: map[string]map[string]string{"anomaly": {"model": artifact}}},
		"deployed": {Detectors: []string{"anomaly"}}, // by an operator's model.deployed
	} {
		t.Run(name, func(t *testing.T) {
			checkScoredBy(t, cfg, name == "deployed", deployed, art, fleet(10, 3, t0.Add(30*time.Minute), &seq))
		})
	}
}

func checkScoredBy(t *testing.T, cfg Config, deploy bool, deployed events.Event, art *models.Artifact, evs []events.Event) {
	proc, err := NewProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	if deploy {
		proc.Process(&deployed)
		if st := proc.Stats(); st.ModelErrors > 0 {
			t.Fatalf("deploying: %s", st.LastModelErr)
		}
	}
	var seen []DeviceWindow
	proc.ObserveWindows(func(w DeviceWindow) { seen = append(seen, w) })
	for i := range evs {
		proc.Process(&evs[i])
	}
	proc.Flush()
	if len(seen) != 30 {
		t.Fatalf("%d windows observed, want 30", len(seen))
	}
	for _, w := range seen {
		row := make([]float64, len(art.Features))
		for j, name := range art.Features {
			row[j] = w.Features[slices.Index(features.Names, name)]
		}
		want, err := art.Score([][]float64{row})
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Scores) != 1 || w.Scores[0].Score != want[0] || w.Scores[0].Threshold != art.Threshold {
			t.Fatalf("window %s %v: scores %+v, want %v (threshold %v)", w.Device, w.Start, w.Scores, want[0], art.Threshold)
		}
	}
}
