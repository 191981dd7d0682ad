package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/models"
	"github.com/halo-sec/halo/pipeline/features"
)

// quietModel writes an IsolationForest trained on idle windows: any window
// with traffic is unlike them.
func quietModel(t *testing.T, dir string) string {
	t.Helper()
	var rows [][]float64
	for i := 0; i < 300; i++ {
		r := make([]float64, len(features.Names))
		r[0] = float64(i % 2) // connections 0 or 1
		rows = append(rows, r)
	}
	art, err := models.TrainIsolationForest(rows, features.Names, models.IForestOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := saveArtifact(t, art, filepath.Join(dir, "quiet.json"))
	return path
}

// openLog opens an embedded log in dir/log, closed when the test ends.
func openLog(t *testing.T, dir string) *natsstore.Store {
	t.Helper()
	store, err := natsstore.Open(context.Background(), natsstore.Config{DataDir: filepath.Join(dir, "log")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// saveArtifact writes a model artifact to path and returns path.
func saveArtifact(t *testing.T, art *models.Artifact, path string) string {
	t.Helper()
	var b bytes.Buffer
	if err := art.Save(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// busyWindow: n connections of a device to shared hosts at t.
func busyWindow(device string, t time.Time, n int) []events.Event {
	var out []events.Event
	for c := 0; c < n; c++ {
		conn := fmt.Sprintf("%s-%d-%d", device, t.UnixNano(), c)
		at := t.Add(time.Duration(c) * time.Millisecond)
		out = append(out,
			events.Event{ID: events.NewID(), Tenant: "acme", Device: device, Time: at, Payload: &events.ConnOpened{ConnId: conn, DstHost: fmt.Sprintf("h%d.example", c%7), DstPort: 443, Mode: events.ConnMode_CONN_MODE_CONNECT}},
			events.Event{ID: events.NewID(), Tenant: "acme", Device: device, Time: at.Add(time.Millisecond), Payload: &events.ConnClosed{ConnId: conn, BytesUp: 90_000, BytesDown: 100, DurationNs: int64(time.Millisecond), Reason: events.CloseReason_CLOSE_REASON_CLIENT}},
		)
	}
	return out
}

// TestDeployedModelSwitchesWithoutRestart: a running pipeline scores with a
// model an operator deploys (halo models deploy) from its next window on,
// and a rollback returns to its own models; replaying the log gives the
// same outputs, deployment included.
func TestDeployedModelSwitchesWithoutRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openLog(t, dir)
	cfg := Config{WindowSize: time.Second, Lateness: 100 * time.Millisecond, TickInterval: 50 * time.Millisecond, Detectors: []string{"anomaly"}}
	logger := slog.New(slog.NewTextHandler(tw{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	live, err := NewLive(cfg, store, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- live.Run(lctx) }()
	<-live.Ready()

	// Before any deployment: too few windows for the detector's own models
	// or cold-start rules, so a busy window raises nothing.
	// Each device's traffic starts on a window boundary, so that it lies in
	// one window (40 ms of events could straddle two).
	nextWindow := func() time.Time { return time.Now().Truncate(time.Second).Add(time.Second) }
	if err := store.Append(ctx, busyWindow("pos-1", nextWindow(), 40)...); err != nil {
		t.Fatal(err)
	}
	waitWindows := func(n uint64) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); live.Stats().Windows < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d windows closed, waited for %d", live.Stats().Windows, n)
			}
		}
	}
	waitWindows(1)
	deps := models.NewDeployments()
	dep, err := deps.Deploy(ctx, store, dir, quietModel(t, dir), "acme", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if dep.Version != 1 {
		t.Fatalf("first deployment is version %d", dep.Version)
	}
	if err := store.Append(ctx, busyWindow("pos-2", nextWindow(), 40)...); err != nil {
		t.Fatal(err)
	}
	alerts := waitOutputs(t, store, events.TypeAlertRaised, 1)
	a := alerts[0].Payload.(*events.AlertRaised)
	if alerts[0].Device != "pos-2" || !strings.Contains(a.Explanation, "(deployed, deployment 1)") {
		t.Fatalf("alert on %s: %s", alerts[0].Device, a.Explanation)
	}
	if _, err := deps.Rollback(ctx, store, "acme", "", "test"); err != nil {
		t.Fatal(err)
	}
	if _, ok := deps.Current("acme", ""); ok {
		t.Fatal("after rolling back the only deployment, one is still in force")
	}
	if err := store.Append(ctx, busyWindow("pos-3", nextWindow(), 40)...); err != nil {
		t.Fatal(err)
	}
	waitWindows(live.Stats().Windows + 1) // pos-3's window closed
	cancel()
	<-done
	if got := outputs(t, store, events.TypeAlertRaised); len(got) != 1 {
		t.Fatalf("%d alerts; want only pos-2's, scored by the deployed model", len(got))
	}
	// A replay of the log raises the same.
	proc, err := NewProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	var replayed []events.Event
	for ev, err := range store.Read(ctx, events.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		if !IsPipelineOutput(&ev) {
			replayed = append(replayed, proc.Process(&ev)...)
		}
	}
	var ra []events.Event
	for _, o := range replayed {
		if o.Type() == events.TypeAlertRaised {
			ra = append(ra, o)
		}
	}
	if len(ra) != 1 || ra[0].ID != alerts[0].ID {
		t.Fatalf("the replay raised %d alerts, not the live one", len(ra))
	}
}

// TestDeploymentsFold: versions, rollbacks to the previous version and to
// the pipeline's own models, a tampered artifact counted and ignored.
func TestDeploymentsFold(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openLog(t, dir)
	deps := models.NewDeployments()
	path := quietModel(t, dir)
	d1, err := deps.Deploy(ctx, store, dir, path, "acme", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := deps.Deploy(ctx, store, dir, path, "acme", "", "test")
	if err != nil || d2.Version != 2 {
		t.Fatalf("second deployment: %+v %v", d2, err)
	}
	r, err := deps.Rollback(ctx, store, "acme", "", "test")
	if err != nil || r.Version != 1 || !r.Rollback {
		t.Fatalf("rollback: %+v %v", r, err)
	}
	if cur, _ := deps.Current("acme", ""); cur.Version != 1 {
		t.Fatalf("in force after rollback: v%d", cur.Version)
	}
	if r, err = deps.Rollback(ctx, store, "acme", "", "test"); err != nil || r.ModelID != "" {
		t.Fatalf("rollback to the pipeline's own: %+v %v", r, err)
	}
	if _, err := deps.Rollback(ctx, store, "acme", "", "test"); err == nil {
		t.Fatal("a rollback with nothing deployed succeeded")
	}
	// Deploying again continues the numbering.
	d3, err := deps.Deploy(ctx, store, dir, path, "acme", "", "test")
	if err != nil || d3.Version != 3 {
		t.Fatalf("third deployment: %+v %v", d3, err)
	}
	// The fold from the log agrees.
	loaded, err := models.LoadDeployments(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	if h := loaded.History("acme"); len(h) != 5 {
		t.Fatalf("history of %d, want 5", len(h))
	}
	if cur, _ := loaded.Current("acme", ""); cur.Version != 3 {
		t.Fatalf("loaded: in force v%d", cur.Version)
	}
	// A tampered artifact: counted, and the processor keeps what it had.
	if err := os.WriteFile(d1.Artifact, []byte(`{"format":"halo.model"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	proc, err := NewProcessor(Config{Detectors: []string{"anomaly"}})
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	for ev, err := range store.Read(ctx, events.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		proc.Process(&ev)
	}
	if st := proc.Stats(); st.ModelErrors == 0 || !strings.Contains(st.LastModelErr, "SHA-256") {
		t.Fatalf("tampered artifact: %+v", st)
	}
}

// TestDeployedRandomForest: a supervised model (halo models train --kind
// forest) deployed for a tenant scores its windows as the IsolationForests
// do: a busy window like the forest's positives is reported, a quiet one
// is not.
func TestDeployedRandomForest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openLog(t, dir)
	// Training windows: the pipeline's own feature vectors of quiet
	// windows (1–3 connections) and of busy ones (30–49), as an export
	// would hold them with their labels.
	var rows [][]float64
	var labels []bool
	fp, err := NewProcessor(Config{FeaturesOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	fp.ObserveWindows(func(w DeviceWindow) {
		rows = append(rows, w.Features)
		labels = append(labels, w.Features[0] >= 30)
	})
	tt := time.Now().Add(-3 * time.Hour).Truncate(time.Minute)
	for i := 0; i < 400; i++ {
		n := 1 + i%3
		if i%4 == 0 {
			n = 30 + i%20
		}
		for _, ev := range busyWindow(fmt.Sprintf("train-%d", i%10), tt.Add(time.Duration(i/10)*time.Minute), n) {
			fp.Process(&ev)
		}
	}
	fp.Flush()
	art, err := models.TrainRandomForest(rows, labels, features.Names, models.ForestOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	path := saveArtifact(t, art, filepath.Join(dir, "forest.json"))
	if _, err := models.NewDeployments().Deploy(ctx, store, dir, path, "acme", "", "test"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute)
	if err := store.Append(ctx, busyWindow("pos-1", t0, 40)...); err != nil {
		t.Fatal(err)
	}
	quiet := busyWindow("pos-2", t0.Add(time.Minute), 1)
	if err := store.Append(ctx, quiet...); err != nil {
		t.Fatal(err)
	}
	proc, err := NewProcessor(Config{Detectors: []string{"anomaly"}})
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	var outs []events.Event
	for ev, err := range store.Read(ctx, events.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, proc.Process(&ev)...)
	}
	outs = append(outs, proc.Flush()...)
	var flagged []string
	for _, o := range outs {
		if a, ok := o.Payload.(*events.AlertRaised); ok {
			if !strings.Contains(a.Explanation, "(deployed, deployment 1)") {
				t.Fatalf("alert not by the deployed forest: %s", a.Explanation)
			}
			flagged = append(flagged, o.Device)
		}
	}
	if st := proc.Stats(); st.ModelErrors != 0 {
		t.Fatalf("model errors: %s", st.LastModelErr)
	}
	if len(flagged) != 1 || flagged[0] != "pos-1" {
		t.Fatalf("flagged %v, want the busy pos-1 only", flagged)
	}
}

// TestDeployedModelOfOtherWindows: a model trained on windows of another
// size than the pipeline's (its artifact says which) is counted as a model
// error and not used: its counts are on another scale, so every window
// would score off it. One that says nothing of its windows is used.
func TestDeployedModelOfOtherWindows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openLog(t, dir)
	var rows [][]float64
	for i := 0; i < 300; i++ {
		r := make([]float64, len(features.Names))
		r[0] = float64(i % 2)
		rows = append(rows, r)
	}
	deploy := func(window time.Duration) {
		t.Helper()
		art, err := models.TrainIsolationForest(rows, features.Names, models.IForestOptions{Seed: 3, Window: window})
		if err != nil {
			t.Fatal(err)
		}
		if art.Window() != window {
			t.Fatalf("artifact window %v, want %v", art.Window(), window)
		}
		path := saveArtifact(t, art, filepath.Join(dir, fmt.Sprintf("w%v.json", window)))
		if _, err := models.NewDeployments().Deploy(ctx, store, dir, path, "acme", "", "test"); err != nil {
			t.Fatal(err)
		}
	}
	stats := func() Stats {
		t.Helper()
		proc, err := NewProcessor(Config{Detectors: []string{"anomaly"}, WindowSize: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer proc.Close()
		for ev, err := range store.Read(ctx, events.Query{}) {
			if err != nil {
				t.Fatal(err)
			}
			proc.Process(&ev)
		}
		return proc.Stats()
	}
	deploy(time.Minute)
	deploy(0)
	if st := stats(); st.ModelErrors != 0 {
		t.Fatalf("models of the pipeline's windows, and of windows not said: %d errors (%s)", st.ModelErrors, st.LastModelErr)
	}
	deploy(10 * time.Second)
	if st := stats(); st.ModelErrors != 1 || !strings.Contains(st.LastModelErr, "it was trained on 10s windows, this pipeline's are 1m0s") {
		t.Fatalf("a model of 10s windows in a pipeline of 1m: %d errors (%s)", st.ModelErrors, st.LastModelErr)
	}
}
