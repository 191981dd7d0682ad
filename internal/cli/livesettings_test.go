package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/storetest"
	"github.com/halo-sec/halo/pipeline"
)

// TestReplayTakesTheLiveSettings: halo replay, incident and export take
// the settings the flags leave unset from the pipeline.configured the live
// pipeline recorded; a flag overrides its setting only, and
// --live-settings=false gives the build's defaults. Before, a replay of a
// halo up --demo log ran 60s windows against the demo's 10s and matched
// none of its alerts.
func TestReplayTakesTheLiveSettings(t *testing.T) {
	ctx := context.Background()
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	live := pipeline.Config{WindowSize: 10 * time.Second, Lateness: 2 * time.Second, Version: version(),
		DetectorOptions: map[string]map[string]string{"beaconing": {"min_interval": "4s"}}}
	configured := events.New("", "", live.Configured())
	configured.Time = at.Add(-time.Hour)
	data := acmeLog(ctx, t, append(storetest.Traffic("acme", "pos-1", at, 60), configured, scanAlert(at, 10*time.Second))...)

	settings := func(out string) (window string, opts map[string]map[string]string, recorded bool) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(out, "report.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Settings struct {
				Window          string
				DetectorOptions map[string]map[string]string `json:"detector_options"`
				LiveRecorded    *time.Time                   `json:"live_settings_recorded"`
			}
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		return rep.Settings.Window, rep.Settings.DetectorOptions, rep.Settings.LiveRecorded != nil
	}
	const said = "settings of the live pipeline, recorded "
	_, model := modelFile(t)
	for _, tc := range []struct {
		name     string
		args     []string
		window   string
		interval string
		recorded bool
	}{
		{"the live settings", nil, "10s", "4s", true},
		{"a flag overrides its setting only", []string{"--window", "30s"}, "30s", "4s", true},
		{"an option flag overrides that option", []string{"--detector-option", "beaconing.min_interval=6s"}, "10s", "6s", true},
		{"the build's defaults", []string{"--live-settings=false"}, "1m0s", "", false},
		// --model sets the anomaly detector's option; it dropped the
		// others' before.
		{"--model keeps the other options", []string{"--live-settings=false", "--detector-option", "beaconing.min_interval=6s", "--model", model}, "1m0s", "6s", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			code, stdout, stderr := run(ctx, t, append([]string{"replay", "--data", data, "--out", out}, tc.args...)...)
			if code != ExitOK {
				t.Fatalf("replay: %d\n%s", code, stderr)
			}
			// The log holds no label: its alerts are not all false ones.
			if !strings.Contains(stdout, "no labels in the range (label.recorded events, or --labels FILE): precision and recall not measured") {
				t.Fatalf("replay of a log without labels printed:\n%s", stdout)
			}
			if strings.Contains(stderr, said) != tc.recorded {
				t.Fatalf("stderr says it took the live settings: %v, want %v\n%s", !tc.recorded, tc.recorded, stderr)
			}
			w, opts, rec := settings(out)
			if slices.Contains(tc.args, "--model") && opts["anomaly"]["model"] != model {
				t.Fatalf("report settings: options %v, want anomaly.model %s", opts, model)
			}
			if w != tc.window || opts["beaconing"]["min_interval"] != tc.interval || rec != tc.recorded {
				t.Fatalf("report settings: window %s, options %v, recorded %v; want %s, beaconing.min_interval %q, %v", w, opts, rec, tc.window, tc.interval, tc.recorded)
			}
		})
	}

	// The incident timeline's windows, and the exported features', are the
	// live pipeline's 10s, with no "alert's own" correction needed.
	out := t.TempDir()
	code, _, stderr := run(ctx, t, "incident", "al-test", "--data", data, "--out", out)
	if code != ExitOK || !strings.Contains(stderr, said+stamp(configured.Time)+": --window 10s --lateness 2s") || strings.Contains(stderr, "the alert's own") {
		t.Fatalf("incident: %d\n%s", code, stderr)
	}
	exp := t.TempDir()
	code, _, stderr = run(ctx, t, "export", "--data", data, "--tables", "features", "--out", exp)
	if code != ExitOK || !strings.Contains(stderr, said) {
		t.Fatalf("export: %d\n%s", code, stderr)
	}
	// halo api run alone takes them when it starts (its timelines'
	// windows), until it is stopped.
	actx, stop := context.WithTimeout(ctx, 3*time.Second)
	defer stop()
	code, _, stderr = run(actx, t, "api", "--data", data, "--addr", "127.0.0.1:0")
	if code != ExitOK || !strings.Contains(stderr, said+stamp(configured.Time)+": --window 10s") {
		t.Fatalf("api: %d\n%s", code, stderr)
	}
}

// TestLiveSettingsUnknownToThisBuild: recorded settings this build cannot
// run (a detector option it does not have, written by another version) are
// a usage error that says how to go on, not a replay with the option
// silently dropped.
func TestLiveSettingsUnknownToThisBuild(t *testing.T) {
	ctx := context.Background()
	p := pipeline.Config{Version: "halo v9.9.9"}.Configured()
	p.DetectorOptions = []*events.DetectorOption{{Detector: "beaconing", Option: "jitter_model", Value: "fft"}}
	data := acmeLog(ctx, t, events.New("", "", p))
	code, _, stderr := run(ctx, t, "replay", "--data", data, "--out", t.TempDir())
	if code != ExitUsage || !strings.Contains(stderr, "recorded") || !strings.Contains(stderr, "by halo v9.9.9") || !strings.Contains(stderr, "jitter_model") || !strings.Contains(stderr, "--live-settings=false") {
		t.Fatalf("replay: %d\n%s", code, stderr)
	}
	if code, _, stderr := run(ctx, t, "replay", "--data", data, "--out", t.TempDir(), "--live-settings=false"); code != ExitOK {
		t.Fatalf("replay --live-settings=false: %d\n%s", code, stderr)
	}
}

// TestLiveSettingsChangedWithinTheRange: a replay over a range in which
// the live pipeline's settings changed takes those in force at its end,
// and warns, naming the others and when they started.
func TestLiveSettingsChangedWithinTheRange(t *testing.T) {
	ctx := context.Background()
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	first := events.New("", "", pipeline.Config{WindowSize: 10 * time.Second, Version: version()}.Configured())
	first.Time = at.Add(-time.Hour)
	second := events.New("", "", pipeline.Config{WindowSize: 30 * time.Second, Version: version()}.Configured())
	second.Time = at.Add(time.Minute)
	data := acmeLog(ctx, t, append(storetest.Traffic("acme", "pos-1", at, 60), first, second)...)
	// Over both: the later ones, and a warning of the first.
	code, _, stderr := run(ctx, t, "replay", "--data", data, "--out", t.TempDir(), "--from", stamp(at.Add(-30*time.Minute)), "--warmup", "0s")
	if code != ExitOK || !strings.Contains(stderr, "recorded "+stamp(second.Time)+": --window 30s") ||
		!strings.Contains(stderr, "warning: the live pipeline ran with other settings from "+stamp(first.Time)+": --window 10s") {
		t.Fatalf("replay over both: %d\n%s", code, stderr)
	}
	// Before the change: the first ones, no warning.
	code, _, stderr = run(ctx, t, "replay", "--data", data, "--out", t.TempDir(), "--from", stamp(at.Add(-30*time.Minute)), "--to", stamp(at), "--warmup", "0s")
	if code != ExitOK || !strings.Contains(stderr, "recorded "+stamp(first.Time)+": --window 10s") || strings.Contains(stderr, "warning: the live pipeline ran") {
		t.Fatalf("replay before the change: %d\n%s", code, stderr)
	}
}

// TestLiveDetectorsWithoutAnomalyRefuseModel: --model scores with the
// anomaly detector; when the live pipeline's recorded detectors leave it
// out, the replay says so rather than scoring with nothing.
func TestLiveDetectorsWithoutAnomalyRefuseModel(t *testing.T) {
	ctx := context.Background()
	data := acmeLog(ctx, t, events.New("", "", pipeline.Config{Detectors: []string{"scan", "flood"}, Version: version()}.Configured()))
	_, model := modelFile(t)
	code, _, stderr := run(ctx, t, "replay", "--data", data, "--out", t.TempDir(), "--model", model)
	if code != ExitUsage || !strings.Contains(stderr, "which the live pipeline's detectors (scan,flood) leave out") {
		t.Fatalf("replay --model: %d\n%s", code, stderr)
	}
	if code, _, stderr := run(ctx, t, "replay", "--data", data, "--out", t.TempDir(), "--model", model, "--detectors", "anomaly,scan"); code != ExitOK {
		t.Fatalf("replay --model --detectors anomaly,scan: %d\n%s", code, stderr)
	}
}
