package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/halo-sec/halo/replay/zeek/zeektest"
)

// incidentTimeline is the part of timeline.json the e2e test reads.
type incidentTimeline struct {
	Tenant, Device string
	From, To       time.Time
	Events         []struct {
		Time time.Time
		Type string
		ID   string
	}
	Windows []struct {
		Start, End time.Time
		Events     int
		Features   map[string]float64
		Scores     []struct {
			Detector         string
			Score, Threshold float64
		}
	}
	Alerts []struct {
		ID       string
		Time     time.Time
		Detector string
		Features []struct {
			Name  string
			Value float64
		}
		Window struct{ Start, End time.Time }
	}
}

// TestIncidentEndToEnd imports a labeled Zeek log with the binary, runs the
// live pipeline over it so alerts are in the log, and writes an alert's
// incident timeline with halo incident: timeline.json holds the device's
// events in [alert - 15m, alert + 15m), the alert, the feature windows and,
// over a range the cohort model covers, their scores; timeline.html is
// self-contained and draws its chart in a real headless Chromium.
func TestIncidentEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	zeekLog := zeektest.Path(t, "001-zeek-scenario-malicious/labeled-conn.log")
	bin := buildHalo(t)
	data := t.TempDir()
	exec1 := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--data", data)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := runWithin(cmd, 120*time.Second)
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return out.String(), errb.String(), ee.ExitCode()
		case err != nil:
			t.Fatalf("halo %s: %v\n%s", strings.Join(args, " "), err, &errb)
		}
		return out.String(), errb.String(), 0
	}
	run := func(args ...string) string {
		t.Helper()
		out, errb, code := exec1(args...)
		if code != 0 {
			t.Fatalf("halo %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errb)
		}
		return out
	}
	run("import", "zeek", "--tenant", "lab", zeekLog)

	// The live pipeline over the imported log, until it has processed every
	// connection event (its metrics say) and its alerts settle.
	conns := strings.Count(run("events", "ls", "--tenant", "lab", "--type", "conn.opened,conn.closed"), "\n")
	maddr := freeAddr(t)
	pipe := exec.Command(bin, "pipeline", "--data", data, "--metrics-addr", maddr, "--detector-option", shortSpan)
	pipeErr := &syncBuffer{}
	pipe.Stderr = pipeErr
	if err := pipe.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- pipe.Wait() }()
	defer func() {
		if pipe.ProcessState == nil {
			_ = pipe.Process.Kill()
			<-exited
		}
	}()
	var raised string
	stable, last := 0, -1
	for deadline := time.Now().Add(120 * time.Second); stable < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline's alerts did not settle in 120s (%d of %d events processed, %d alert events)\n%s", pipelineProcessed(maddr), conns, last, pipeErr.String())
		}
		time.Sleep(time.Second)
		if processed := pipelineProcessed(maddr); processed < conns {
			continue
		}
		all := run("events", "ls", "--tenant", "lab", "--type", "alert.raised,alert.updated")
		n := strings.Count(all, "\n")
		if n > 0 && n == last {
			stable++
		} else {
			stable = 0
		}
		last = n
		raised = run("events", "ls", "--tenant", "lab", "--type", "alert.raised")
	}
	_ = pipe.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("halo pipeline did not stop on SIGTERM")
	}

	// The latest alert.
	type raisedEvent struct {
		Device  string
		Time    time.Time
		Payload struct {
			AlertID string `json:"alert_id"`
		}
	}
	var alerts []raisedEvent
	for _, line := range strings.Split(strings.TrimSpace(raised), "\n") {
		var e raisedEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Payload.AlertID == "" {
			t.Fatalf("alert.raised line %q: %v", line, err)
		}
		alerts = append(alerts, e)
	}
	sort.SliceStable(alerts, func(i, j int) bool { return alerts[i].Time.Before(alerts[j].Time) })
	al := alerts[len(alerts)-1]

	out := t.TempDir()
	stdout := run("incident", al.Payload.AlertID, "--out", out, "--detector-option", shortSpan)
	if !strings.Contains(stdout, "lab/"+al.Device) {
		t.Errorf("halo incident said %q", stdout)
	}
	raw, err := os.ReadFile(filepath.Join(out, "timeline.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tl incidentTimeline
	if err := json.Unmarshal(raw, &tl); err != nil {
		t.Fatal(err)
	}
	from, to := al.Time.Add(-15*time.Minute), al.Time.Add(15*time.Minute)
	if tl.Tenant != "lab" || tl.Device != al.Device || !tl.From.Equal(from) || !tl.To.Equal(to) {
		t.Fatalf("timeline of %s/%s over [%v, %v), want lab/%s over [%v, %v)", tl.Tenant, tl.Device, tl.From, tl.To, al.Device, from, to)
	}
	if len(tl.Events) == 0 || len(tl.Windows) == 0 {
		t.Fatalf("%d events, %d windows", len(tl.Events), len(tl.Windows))
	}
	for i, e := range tl.Events {
		if e.Time.Before(from) || !e.Time.Before(to) || (i > 0 && e.Time.Before(tl.Events[i-1].Time)) {
			t.Fatalf("event %d at %v: outside [%v, %v) or out of order", i, e.Time, from, to)
		}
	}
	found := false
	for _, a := range tl.Alerts {
		found = found || (a.ID == al.Payload.AlertID && a.Time.Equal(al.Time))
	}
	if !found {
		t.Fatalf("alert %s not in the timeline's alerts %+v", al.Payload.AlertID, tl.Alerts)
	}
	for _, w := range tl.Windows {
		if w.Start.Before(from) || !w.Start.Before(to) || w.Events == 0 || len(w.Features) == 0 {
			t.Fatalf("window %+v", w)
		}
	}
	// The same alert gives the same bytes again.
	out2 := t.TempDir()
	run("incident", al.Payload.AlertID, "--out", out2, "--detector-option", shortSpan)
	if raw2, _ := os.ReadFile(filepath.Join(out2, "timeline.json")); !bytes.Equal(raw, raw2) {
		t.Fatal("timeline.json differs between two runs")
	}

	// Over the whole log, the cohort model scores the later windows; the
	// windows of the first range are the same there.
	wide := t.TempDir()
	run("incident", al.Payload.AlertID, "--before", "2h", "--after", "2h", "--out", wide, "--detector-option", shortSpan)
	var all incidentTimeline
	if b, err := os.ReadFile(filepath.Join(wide, "timeline.json")); err != nil || json.Unmarshal(b, &all) != nil {
		t.Fatalf("wide timeline.json: %v", err)
	}
	scored := 0
	for _, w := range all.Windows {
		if len(w.Scores) > 0 {
			scored++
			if s := w.Scores[0]; s.Detector != "anomaly" || s.Score <= 0 || s.Threshold <= 0 {
				t.Fatalf("window %v scores %+v", w.Start, w.Scores)
			}
		}
	}
	if scored == 0 {
		t.Fatalf("none of the %d windows over the whole log is scored", len(all.Windows))
	}
	// The live pipeline's anomaly alerts name the features of their window:
	// the recomputed window has the same values.
	anomalies := 0
	for _, a := range all.Alerts {
		if a.Detector != "anomaly" || len(a.Features) == 0 {
			continue
		}
		anomalies++
		var win map[string]float64
		for _, w := range all.Windows {
			if w.End.Equal(a.Window.End) {
				win = w.Features
			}
		}
		if win == nil {
			t.Fatalf("no window ends at %v, the end of alert %s's", a.Window.End, a.ID)
		}
		for _, f := range a.Features {
			if got, ok := win[f.Name]; !ok || got != f.Value {
				t.Errorf("alert %s: %s = %v live, %v in the timeline's window", a.ID, f.Name, f.Value, got)
			}
		}
	}
	if anomalies == 0 {
		t.Fatalf("no anomaly alert with features among %s's %d alerts: nothing to compare the windows with", al.Device, len(all.Alerts))
	}
	wantWin, _ := json.Marshal(tl.Windows)
	var overlap []any
	for i, w := range all.Windows {
		if !w.Start.Before(from) && w.Start.Before(to) {
			overlap = append(overlap, all.Windows[i])
		}
	}
	if gotWin, _ := json.Marshal(overlap); !bytes.Equal(gotWin, wantWin) {
		t.Fatalf("the windows of [%v, %v) differ in the wide timeline:\n%s\n%s", from, to, gotWin, wantWin)
	}

	// Errors: an unknown alert exits 1, a bad command line 2.
	if _, errb, code := exec1("incident", "al-nope", "--out", t.TempDir()); code != 1 || !strings.Contains(errb, "unknown alert") {
		t.Errorf("unknown alert: exit %d, %q", code, errb)
	}
	for _, bad := range [][]string{{"incident", "--out", out}, {"incident", al.Payload.AlertID}, {"incident", al.Payload.AlertID, "--out", out, "--before", "soon"},
		{"incident", al.Payload.AlertID, "--out", out, "--after", "0"}, {"incident", "a", "b", "--out", out}} {
		if _, errb, code := exec1(bad...); code != 2 {
			t.Errorf("halo %v: exit %d, want 2 (%s)", bad, code, errb)
		}
	}

	checkSameAsAPI(t, bin, data, tl.Device, from, to, raw)

	page, err := os.ReadFile(filepath.Join(wide, "timeline.html"))
	if err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, page)
	checkTimelinePage(t, filepath.Join(wide, "timeline.html"), al.Payload.AlertID, len(all.Events), len(all.Windows))
}

// checkSelfContained: the page loads nothing: no external script, style,
// image or font, no fetch, and a Content-Security-Policy that forbids any.
func checkSelfContained(t *testing.T, page []byte) {
	t.Helper()
	s := string(page)
	if !strings.Contains(s, `content="default-src 'none';`) || !strings.Contains(s, `el("svg"`) {
		t.Error("timeline.html lacks its Content-Security-Policy or its chart")
	}
	for _, bad := range []string{"<link", " src=", "src =", "url(", "@import", "fetch(", "XMLHttpRequest", "<iframe", "<img", "https://"} {
		if strings.Contains(s, bad) {
			t.Errorf("timeline.html contains %q: it must load nothing", bad)
		}
	}
}

// checkTimelinePage opens timeline.html in headless Chromium (as the
// console's browser test does; HALO_REQUIRE_BROWSER=1 makes a missing
// Chromium a failure) and checks the chart was drawn: one tick per event,
// one bar per window, the score line, the incident's alert marked, and no
// resource fetched.
func checkTimelinePage(t *testing.T, path, alertID string, nEvents, nWindows int) {
	t.Helper()
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("HALO_REQUIRE_BROWSER") == "1" {
			t.Fatalf("HALO_REQUIRE_BROWSER=1 but %s is missing (%v): install it with apt-get install -y chromium", chromium, err)
		}
		t.Logf("not checking timeline.html in a browser: %s is missing (apt-get install -y chromium; HALO_REQUIRE_BROWSER=1 makes this a failure)", chromium)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900))
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+path),
		chromedp.WaitVisible(chromedp.CSS(`svg#timeline-chart[data-rendered="true"]`))); err != nil {
		t.Fatalf("timeline.html: the chart was not drawn: %v", err)
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
		if err != nil {
			t.Fatalf("counting %s: %v", sel, err)
		}
		return n
	}
	if n := count("#events-lane line"); n != nEvents {
		t.Errorf("%d event ticks, want %d", n, nEvents)
	}
	if n := count("#windows-lane rect.win"); n != nWindows {
		t.Errorf("%d window bars, want %d", n, nWindows)
	}
	if n := count(`#score-lane polyline.score[data-detector="anomaly"]`); n != 1 {
		t.Errorf("%d anomaly score lines, want 1", n)
	}
	if n := count(`#alerts-lane circle.alert.incident[data-alert=` + jsString(alertID) + `]`); n != 1 {
		t.Errorf("%d marks of the incident's alert, want 1", n)
	}
	if n := count("#windows tr"); n != nWindows+1 {
		t.Errorf("windows table has %d rows, want %d and a header", n, nWindows)
	}
	if n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`performance.getEntriesByType("resource").length`)); err != nil || n != 0 {
		t.Errorf("timeline.html fetched %d resources (%v), want none", n, err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// checkSameAsAPI serves the log with halo api and checks GET
// /v1/devices/{id}/timeline answers timeline.json's bytes for its range.
func checkSameAsAPI(t *testing.T, bin, data, device string, from, to time.Time, want []byte) {
	t.Helper()
	// The import creates the tenant but enrols no device; the API serves
	// enrolled devices. The token and the enrolment are recorded now, after
	// the timeline's range: they change nothing in it.
	tok, err := exec.Command(bin, "tenants", "token", "add", "--tenant", "lab", "--role", "viewer", "--data", data).Output()
	if err != nil {
		t.Fatalf("halo tenants token add: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(tok)), "\n")
	token := strings.TrimSpace(lines[len(lines)-1])
	if out, err := exec.Command(bin, "devices", "enroll", "--tenant", "lab", "--device", device, "--out", t.TempDir(), "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("halo devices enroll: %v\n%s", err, out)
	}
	srv := exec.Command(bin, "api", "--data", data, "--addr", "127.0.0.1:0", "--detector-option", shortSpan)
	logs := &syncBuffer{}
	srv.Stderr = logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
			<-exited
		}
	}()
	var base string
	for deadline := time.Now().Add(60 * time.Second); base == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("halo api did not come up:\n%s", logs.String())
		}
		if _, rest, ok := strings.Cut(logs.String(), "halo api is up: "); ok {
			base, _, _ = strings.Cut(rest, " ")
		}
	}
	q := url.Values{"from": {from.Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}
	req, _ := http.NewRequest("GET", base+"/v1/devices/"+url.PathEscape(device)+"/timeline?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET timeline: %d %v\n%s", resp.StatusCode, err, body)
	}
	if !bytes.Equal(bytes.TrimSpace(body), bytes.TrimSpace(want)) {
		t.Fatalf("the API's timeline differs from halo incident's timeline.json:\nAPI      %.400s\nincident %.400s", body, want)
	}
}

// pipelineProcessed reads halo_pipeline_events_total from the pipeline's
// metrics endpoint; -1 when it cannot be read yet.
func pipelineProcessed(addr string) int {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "halo_pipeline_events_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int(f)
			}
		}
	}
	return -1
}

// shortSpan lets the anomaly detector train on the 001 log, which spans 50
// minutes, less than its default min_span of an hour.
const shortSpan = "anomaly.min_span=10m"
