package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/models"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/replay/zeek/zeektest"
)

// TestImportAndReplayEndToEnd imports a labeled Zeek log with the binary,
// imports it again (stored once), replays it twice into sandboxes, and
// checks the report and that alerts.jsonl is byte-identical between runs.
func TestImportAndReplayEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	zeekLog := zeektest.Path(t, "001-zeek-scenario-malicious/labeled-conn.log")
	bin := buildHalo(t)
	data := t.TempDir()
	run := haloRunner(t, bin, data)
	labelsFile := filepath.Join(t.TempDir(), "labels.jsonl")
	run("import", "zeek", "--tenant", "lab", "--labels-out", labelsFile, zeekLog)
	run("import", "zeek", "--tenant", "lab", zeekLog)
	if lb, err := os.ReadFile(labelsFile); err != nil || bytes.Count(lb, []byte("\n")) != 244 || !bytes.Contains(lb, []byte(`"detail":"C&C"`)) && !bytes.Contains(lb, []byte(`"label":"Malicious"`)) {
		t.Fatalf("--labels-out: %v\n%.400s", err, lb)
	}
	// A bad --local-net is a usage error.
	cmd := exec.Command(bin, "import", "zeek", "--data", data, "--tenant", "lab", "--local-net", "10.0.0.0/33", zeekLog)
	var ierr bytes.Buffer
	cmd.Stderr = &ierr
	if err := runWithin(cmd, 60e9); err == nil || !strings.Contains(ierr.String(), "--local-net") {
		t.Fatalf("import with --local-net 10.0.0.0/33: %v %s", err, &ierr)
	}
	// The import created the tenant, once.
	if ten := run("events", "ls", "--type", "tenant.created"); strings.Count(ten, "\n") != 1 || !strings.Contains(ten, `"tenant":"lab"`) {
		t.Fatalf("tenant.created after two imports:\n%s", ten)
	}
	if tl := run("tenants", "ls"); !strings.Contains(tl, "lab") {
		t.Fatalf("halo tenants ls does not list the imported tenant:\n%s", tl)
	}
	ls := run("events", "ls", "--tenant", "lab", "--type", "label.recorded")
	if n := strings.Count(ls, "\n"); n != 244 {
		t.Fatalf("%d labels after importing twice, want 244", n)
	}
	// The import appends in event-time order, so each device's events reach
	// the live pipeline in time order (Zeek writes connections when they end).
	last := map[string]time.Time{}
	for _, line := range strings.Split(strings.TrimSpace(run("events", "ls", "--tenant", "lab", "--type", "conn.opened")), "\n") {
		var e struct {
			Device string
			Time   time.Time
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("events ls line %q: %v", line, err)
		}
		if e.Time.Before(last[e.Device]) {
			t.Fatalf("device %s: conn.opened at %v stored after one at %v", e.Device, e.Time, last[e.Device])
		}
		last[e.Device] = e.Time
	}
	out1, out2 := t.TempDir(), t.TempDir()
	run("replay", "--tenant", "lab", "--out", out1)
	run("replay", "--tenant", "lab", "--labels", labelsFile, "--out", out2) // the same labels again: same figures
	a1, _ := os.ReadFile(filepath.Join(out1, "alerts.jsonl"))
	a2, _ := os.ReadFile(filepath.Join(out2, "alerts.jsonl"))
	if len(a1) == 0 || !bytes.Equal(a1, a2) {
		t.Fatalf("alerts.jsonl differs between two replays of the same range (%d vs %d bytes)", len(a1), len(a2))
	}
	// A range larger than --sort-buffer is sorted in runs on disk: the
	// same alerts and report, and no run left behind.
	out4 := t.TempDir()
	run("replay", "--tenant", "lab", "--sort-buffer", "200", "--out", out4)
	a4, _ := os.ReadFile(filepath.Join(out4, "alerts.jsonl"))
	r1, _ := os.ReadFile(filepath.Join(out1, "report.json"))
	r4, _ := os.ReadFile(filepath.Join(out4, "report.json"))
	if !bytes.Equal(a1, a4) || len(r1) == 0 || !bytes.Equal(r1, r4) {
		t.Fatalf("--sort-buffer 200 changed the outputs: alerts %d vs %d bytes, report %d vs %d bytes", len(a1), len(a4), len(r1), len(r4))
	}
	if left, _ := filepath.Glob(filepath.Join(out4, "halo-sort-*")); len(left) != 0 {
		t.Fatalf("sorted runs left behind: %v", left)
	}
	// An import larger than its --sort-buffer is sorted in runs on disk:
	// the same labels, the same log for a replay.
	data2 := t.TempDir()
	run2 := haloRunner(t, bin, data2)
	labels2 := filepath.Join(t.TempDir(), "labels.jsonl")
	run2("import", "zeek", "--tenant", "lab", "--sort-buffer", "100", "--labels-out", labels2, zeekLog)
	l1, _ := os.ReadFile(labelsFile)
	l2, _ := os.ReadFile(labels2)
	out5 := t.TempDir()
	run2("replay", "--tenant", "lab", "--out", out5)
	a5, _ := os.ReadFile(filepath.Join(out5, "alerts.jsonl"))
	if !bytes.Equal(l1, l2) || !bytes.Equal(a1, a5) {
		t.Fatalf("an import sorted in runs differs: labels %d vs %d bytes, replayed alerts %d vs %d bytes", len(l1), len(l2), len(a1), len(a5))
	}
	if left, _ := filepath.Glob(filepath.Join(data2, "tmp", "halo-sort-*")); len(left) != 0 {
		t.Fatalf("the import left sorted runs behind: %v", left)
	}
	// The same file imported for another tenant is that tenant's history
	// too: its events are not taken for the first tenant's (the derived
	// ids name the tenant), and the first tenant's are unchanged.
	run2("import", "zeek", "--tenant", "lab2", zeekLog)
	for _, tenant := range []string{"lab", "lab2"} {
		if n := strings.Count(run2("events", "ls", "--tenant", tenant, "--type", "label.recorded"), "\n"); n != 244 {
			t.Fatalf("tenant %s has %d labels after the same file was imported for lab and lab2, want 244", tenant, n)
		}
	}
	checkWarmup(t, run, a1)
	// No live pipeline ran over the imported log: against that baseline,
	// every candidate alert is added and none is missed.
	out3 := t.TempDir()
	run("replay", "--tenant", "lab", "--baseline", "--out", out3)
	var base struct {
		Baseline struct {
			Live, Candidate, Both int
			Added, Missed         []struct{ ID string }
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out3, "report.json")); json.Unmarshal(b, &base) != nil || base.Baseline.Live != 0 ||
		base.Baseline.Candidate != bytes.Count(a1, []byte("\n")) || len(base.Baseline.Added) != base.Baseline.Candidate || len(base.Baseline.Missed) != 0 {
		t.Fatalf("--baseline without live alerts: %+v (alerts.jsonl has %d)", base.Baseline, bytes.Count(a1, []byte("\n")))
	}
	checkLiveBaseline(t, bin, data, run, bytes.Count(a1, []byte("\n")))
	if page, err := os.ReadFile(filepath.Join(out1, "report.html")); err != nil || !bytes.Contains(page, []byte("<svg")) {
		t.Fatalf("report.html: %v", err)
	}
	var rep struct {
		Overall struct {
			Precision, Recall float64
		}
		ByLabel map[string]struct {
			Recall float64 `json:"recall"`
		} `json:"by_label"`
	}
	b, _ := os.ReadFile(filepath.Join(out1, "report.json"))
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Overall.Precision < 0.9 || rep.Overall.Recall < 0.9 || rep.ByLabel["CC"].Recall < 0.9 {
		t.Fatalf("report %s", b)
	}
}

// haloRunner returns a function that runs the binary with --data and
// fails the test unless it succeeds within a minute.
func haloRunner(t *testing.T, bin, data string) func(...string) string {
	return func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--data", data)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := runWithin(cmd, 60e9); err != nil {
			t.Fatalf("halo %s: %v\n%s\n%s", strings.Join(args, " "), err, &out, &errb)
		}
		return out.String()
	}
}

// TestReplayCandidatePolicyAndModel backtests a candidate policy and a
// candidate model over an imported log: the policy's interventions are
// written (dry run) and the model scores every cohort; a bad policy or
// model file is a usage error before the log is read.
func TestReplayCandidatePolicyAndModel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildHalo(t)
	data := t.TempDir()
	run := haloRunner(t, bin, data)
	run("import", "zeek", "--tenant", "lab", zeektest.Path(t, "001-zeek-scenario-malicious/labeled-conn.log"))
	dir := t.TempDir()
	pol := filepath.Join(dir, "strict.yaml")
	if err := os.WriteFile(pol, []byte("rules:\n  - {detector: \"*\", actions: [quarantine], expiry: 1h}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A candidate model trained on quiet windows: everything busier is
	// unlike them.
	var rows [][]float64
	for i := 0; i < 300; i++ {
		r := make([]float64, len(features.Names))
		for j := range r {
			r[j] = float64((i*7+j*3)%5) / 10
		}
		rows = append(rows, r)
	}
	art, err := models.TrainIsolationForest(rows, features.Names, models.IForestOptions{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "iforest.json")
	var mb bytes.Buffer
	if err := art.Save(&mb); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(model, mb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	summary := run("replay", "--tenant", "lab", "--policy", pol, "--model", model, "--out", out)
	ivs, _ := os.ReadFile(filepath.Join(out, "interventions.jsonl"))
	al, _ := os.ReadFile(filepath.Join(out, "alerts.jsonl"))
	nAlerts := bytes.Count(al, []byte("\n"))
	if nAlerts == 0 || bytes.Count(ivs, []byte(`"kind":"quarantine"`)) != nAlerts {
		t.Fatalf("%d alerts, interventions:\n%s\nwant one quarantine per alert\n%s", nAlerts, ivs, summary)
	}
	if !bytes.Contains(al, []byte("given, for every cohort")) {
		t.Fatalf("no alert scored by the given model:\n%s", al)
	}
	// Bad candidates: exit 2 with the reason.
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("rules:\n  - {detector: scan, actions: [explode]}\n"), 0o644)
	junk := filepath.Join(dir, "junk.json")
	_ = os.WriteFile(junk, []byte(`{"format":"halo.model","version":1}`), 0o644)
	for _, c := range [][]string{{"--policy", bad}, {"--model", junk}, {"--model", model, "--detectors", "scan"}} {
		cmd := exec.Command(bin, append([]string{"replay", "--data", data, "--out", t.TempDir()}, c...)...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := runWithin(cmd, 60e9)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(errb.String(), c[0]) {
			t.Errorf("replay %v: %v, stderr %q; want exit 2 naming %s", c, err, errb.String(), c[0])
		}
	}
}

// checkLiveBaseline runs the real live pipeline over the imported log as a
// process until it has raised as many alerts as the replay did, stops it,
// and checks with --baseline that the replay raises exactly what the live
// pipeline raised: the same windows, closed in the same order, give the
// same cohort baselines and models.
func checkLiveBaseline(t *testing.T, bin, data string, run func(...string) string, want int) {
	t.Helper()
	pl := exec.Command(bin, "pipeline", "--data", data, "--metrics-addr", "127.0.0.1:0")
	var plErr syncBuffer
	pl.Stdout, pl.Stderr = &plErr, &plErr
	if err := pl.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until it is up (and serves the log) before other commands open
	// the data directory: the first process to open it runs the log.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(plErr.String(), "halo pipeline is up"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = pl.Process.Kill()
			t.Fatalf("halo pipeline did not come up in 30 s:\n%s", plErr.String())
		}
	}
	raised := 0
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		raised = strings.Count(run("events", "ls", "--tenant", "lab", "--type", "alert.raised"), "\n")
		if raised >= want {
			break
		}
	}
	time.Sleep(time.Second) // anything beyond the replay's alerts would show in the baseline
	_ = pl.Process.Signal(os.Interrupt)
	if err := pl.Wait(); err != nil {
		t.Fatalf("halo pipeline: %v\n%s", err, plErr.String())
	}
	if raised < want {
		t.Fatalf("the live pipeline raised %d alerts in 60 s, the replay %d\n%s", raised, want, plErr.String())
	}
	out := t.TempDir()
	summary := run("replay", "--tenant", "lab", "--baseline", "--out", out)
	var base struct {
		Baseline struct {
			Live, Candidate, Both int
			Added, Missed         []struct{ ID string }
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, "report.json")); json.Unmarshal(b, &base) != nil || base.Baseline.Live != want ||
		base.Baseline.Both != want || len(base.Baseline.Added) != 0 || len(base.Baseline.Missed) != 0 {
		t.Fatalf("replay against the live pipeline's alerts: %+v, want all %d in both\n%s", base.Baseline, want, summary)
	}
	// Another window size than the live pipeline's: no id can match, and
	// the report says why and what to give.
	out2 := t.TempDir()
	run("replay", "--tenant", "lab", "--baseline", "--window", "30s", "--out", out2)
	var base2 struct{ Baseline struct{ Note string } }
	if b, _ := os.ReadFile(filepath.Join(out2, "report.json")); json.Unmarshal(b, &base2) != nil ||
		!strings.Contains(base2.Baseline.Note, "the live pipeline's alerts are over 1m0s windows, this replay's over 30s: give --window 1m0s") {
		t.Fatalf("--baseline with another window: note %q, want it to name both windows", base2.Baseline.Note)
	}
}

// checkWarmup replays from the time of the middle alert of a full replay,
// with a warm-up covering everything before it: the detectors then hold the
// same state at --from, so alerts.jsonl must be exactly the full replay's
// alerts raised at or after --from, and nothing earlier.
func checkWarmup(t *testing.T, run func(...string) string, full []byte) {
	t.Helper()
	lines := strings.SplitAfter(strings.TrimSuffix(string(full), "\n"), "\n")
	timeOf := func(line string) time.Time {
		var a struct{ Time time.Time }
		if err := json.Unmarshal([]byte(line), &a); err != nil || a.Time.IsZero() {
			t.Fatalf("alert line %q: %v", line, err)
		}
		return a.Time
	}
	from := timeOf(lines[len(lines)/2])
	var want strings.Builder
	for _, l := range lines {
		if !timeOf(l).Before(from) {
			want.WriteString(strings.TrimSuffix(l, "\n") + "\n")
		}
	}
	out := t.TempDir()
	run("replay", "--tenant", "lab", "--from", from.Format(time.RFC3339Nano), "--warmup", "87600h", "--out", out)
	got, _ := os.ReadFile(filepath.Join(out, "alerts.jsonl"))
	if len(got) == 0 || string(got) != want.String() {
		t.Fatalf("replay --from %v with a full warm-up: %d bytes of alerts, want the full replay's %d bytes from then on", from, len(got), want.Len())
	}
}
