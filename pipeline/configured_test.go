package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

// configuredEvents reads the log's pipeline.configured events.
func configuredEvents(t *testing.T, store events.Store) []Settings {
	t.Helper()
	var out []Settings
	for ev, err := range store.Read(context.Background(), events.Query{Types: []events.Type{events.TypePipelineConfigured}}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Tenant != "" || ev.Device != "" {
			t.Fatalf("pipeline.configured of tenant %q device %q: want an installation-wide event", ev.Tenant, ev.Device)
		}
		s, ok := SettingsOf(&ev)
		if !ok {
			t.Fatalf("%s: not a pipeline.configured", ev.Type())
		}
		out = append(out, s)
	}
	return out
}

// TestLiveRecordsItsSettings: a live pipeline records its settings when it
// starts with settings other than those last recorded under its name, and
// only then: a restart with the same settings adds nothing.
func TestLiveRecordsItsSettings(t *testing.T) {
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	run := func(cfg Config) {
		t.Helper()
		live, err := NewLive(cfg, store, nil, slog.New(slog.NewTextHandler(tw{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			t.Fatal(err)
		}
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- live.Run(lctx) }()
		select {
		case <-live.Ready():
		case err := <-done:
			t.Fatalf("pipeline ended before it was ready: %v", err)
		}
		cancel()
		if err := <-done; err != nil && lctx.Err() == nil {
			t.Fatal(err)
		}
	}
	demo := Config{WindowSize: 10 * time.Second, Lateness: 2 * time.Second, Version: "v1",
		DetectorOptions: map[string]map[string]string{"beaconing": {"min_interval": "4s"}, "anomaly": {"fpr": "0.01"}}}
	run(demo)
	run(demo)
	got := configuredEvents(t, store)
	if len(got) != 1 {
		t.Fatalf("%d pipeline.configured after two starts with the same settings, want 1", len(got))
	}
	if want := "--window 10s --lateness 2s --suppression 10m0s --detector-option anomaly.fpr=0.01 --detector-option beaconing.min_interval=4s"; got[0].Args() != want || got[0].Version != "v1" {
		t.Fatalf("recorded %q (version %q), want %q", got[0].Args(), got[0].Version, want)
	}
	other := demo
	other.WindowSize = time.Minute
	run(other)
	run(Config{Name: "shadow", Version: "v1"}) // another pipeline: its own record
	got = configuredEvents(t, store)
	if len(got) != 3 || got[1].Window != time.Minute || got[2].Window != DefaultWindow {
		t.Fatalf("after a change and another pipeline: %+v", got)
	}
	rec, ok, err := RecordedSettings(ctx, store, "", time.Time{}, time.Time{})
	if err != nil || !ok || rec.Window != time.Minute || len(rec.Others) != 1 || rec.Others[0].Window != 10*time.Second {
		t.Fatalf("RecordedSettings = %+v, %v, %v: want the minute windows in force, the 10s ones as other", rec, ok, err)
	}
	if rec, ok, err := RecordedSettings(ctx, store, "shadow", time.Time{}, time.Time{}); err != nil || !ok || rec.Window != DefaultWindow || len(rec.Others) != 0 {
		t.Fatalf("RecordedSettings(shadow) = %+v, %v, %v", rec, ok, err)
	}
}

// TestRecordedSettingsOverARange: the settings in force over a range are
// the last recorded at or before its end (else the first recorded), and
// the others recorded within it, or in force at its start, are named.
func TestRecordedSettingsOverARange(t *testing.T) {
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	rec := func(at time.Time, w time.Duration) events.Event {
		ev := events.New("", "", Config{WindowSize: w}.Configured())
		ev.Time = at
		return ev
	}
	// 10s windows from day 0, 1m from day 10, 10s again from day 20.
	if err := store.Append(ctx, rec(t0.Add(20*day), 10*time.Second), rec(t0, 10*time.Second), rec(t0.Add(10*day), time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		window   time.Duration
		others   []time.Duration
	}{
		{"everything", time.Time{}, time.Time{}, 10 * time.Second, []time.Duration{time.Minute}},
		{"within the first", t0.Add(day), t0.Add(2 * day), 10 * time.Second, nil},
		{"within the second", t0.Add(11 * day), t0.Add(12 * day), time.Minute, nil},
		{"across the first change", t0.Add(5 * day), t0.Add(15 * day), time.Minute, []time.Duration{10 * time.Second}},
		{"before any was recorded", t0.Add(-10 * day), t0.Add(-9 * day), 10 * time.Second, nil},
		{"after the last", t0.Add(30 * day), time.Time{}, 10 * time.Second, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok, err := RecordedSettings(ctx, store, "pipeline", tc.from, tc.to)
			if err != nil || !ok {
				t.Fatalf("RecordedSettings: %v, %v", ok, err)
			}
			var others []time.Duration
			for _, o := range r.Others {
				others = append(others, o.Window)
			}
			if r.Window != tc.window || len(others) != len(tc.others) || len(others) > 0 && others[0] != tc.others[0] {
				t.Fatalf("window %v, others %v; want %v, %v", r.Window, others, tc.window, tc.others)
			}
		})
	}
	if _, ok, err := RecordedSettings(ctx, store, "other", time.Time{}, time.Time{}); ok || err != nil {
		t.Fatalf("a pipeline that recorded nothing: %v, %v", ok, err)
	}
}

// TestOnePipelineOfANameAtATime: a second pipeline of the same name on one
// log fails, naming the one that runs (it shared its durable subscription:
// each saw part of every device's events); once the first stops, the next
// starts at once.
func TestOnePipelineOfANameAtATime(t *testing.T) {
	defer func(d time.Duration) { leaseWait = d }(leaseWait)
	leaseWait = 300 * time.Millisecond
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	start := func() (*Live, context.CancelFunc, chan error) {
		t.Helper()
		live, err := NewLive(Config{}, store, nil, slog.New(slog.NewTextHandler(tw{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			t.Fatal(err)
		}
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- live.Run(lctx) }()
		return live, cancel, done
	}
	first, stop, done := start()
	<-first.Ready()
	_, stop2, done2 := start()
	defer stop2()
	select {
	case err := <-done2:
		if err == nil || !strings.Contains(err.Error(), `another pipeline named "pipeline" runs on this log (lease "pipeline.pipeline" held by another process: pid`) {
			t.Fatalf("second pipeline: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second pipeline of the same name runs")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	third, stop3, done3 := start()
	defer stop3()
	select {
	case <-third.Ready():
	case err := <-done3:
		t.Fatalf("after the first stopped: %v", err)
	}
}

// failingLease is a log whose leases fail for another reason than a
// holder (an external NATS that refuses the bucket).
type failingLease struct{ *natsstore.Store }

func (failingLease) Lease(context.Context, string, time.Duration) (func(), <-chan struct{}, error) {
	return nil, nil, errors.New("permissions violation for subscription to $JS.API.STREAM.CREATE.KV_HALO_LEASES")
}

// TestLeaseRefused: a pipeline that cannot take its lease says so, and
// does not say another pipeline runs.
func TestLeaseRefused(t *testing.T) {
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	live, err := NewLive(Config{}, failingLease{store}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = live.Run(ctx)
	if err == nil || strings.Contains(err.Error(), "another pipeline") || !strings.Contains(err.Error(), "taking its lease") || !strings.Contains(err.Error(), "KV_HALO_LEASES") {
		t.Fatalf("Run: %v", err)
	}
}
