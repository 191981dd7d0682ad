package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/events/storetest"
)

// TestIncidentUsesTheAlertsWindows: an incident timeline shows feature
// windows of the alert's own size when the pipeline that raised it ran with
// other windows than the default (halo up --demo's are 10s), unless
// --window says otherwise; it showed 60s windows, none of them the
// alert's.
func TestIncidentUsesTheAlertsWindows(t *testing.T) {
	ctx := context.Background()
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	data := acmeLog(ctx, t, append(storetest.Traffic("acme", "pos-1", at, 60), scanAlert(at, 10*time.Second))...)
	spans := func(out string) map[time.Duration]int {
		b, err := os.ReadFile(filepath.Join(out, "timeline.json"))
		if err != nil {
			t.Fatal(err)
		}
		var tl struct {
			Windows []struct{ Start, End time.Time }
		}
		if err := json.Unmarshal(b, &tl); err != nil || len(tl.Windows) == 0 {
			t.Fatalf("timeline.json: %v, %d windows", err, len(tl.Windows))
		}
		n := map[time.Duration]int{}
		for _, w := range tl.Windows {
			n[w.End.Sub(w.Start)]++
		}
		return n
	}
	out := t.TempDir()
	code, _, stderr := run(ctx, t, "incident", "al-test", "--data", data, "--out", out)
	if code != ExitOK || !strings.Contains(stderr, "feature windows of 10s, the alert's own") {
		t.Fatalf("incident: exit %d, stderr:\n%s", code, stderr)
	}
	if n := spans(out); len(n) != 1 || n[10*time.Second] == 0 {
		t.Errorf("window sizes %v, want 10s only", n)
	}
	out = t.TempDir()
	code, _, stderr = run(ctx, t, "incident", "al-test", "--data", data, "--out", out, "--window", "60s")
	if code != ExitOK || strings.Contains(stderr, "the alert's own") {
		t.Fatalf("incident --window 60s: exit %d, stderr:\n%s", code, stderr)
	}
	if n := spans(out); len(n) != 1 || n[time.Minute] == 0 {
		t.Errorf("window sizes with --window 60s: %v, want 60s only", n)
	}
}

// appendTo appends evs to the log of data.
func appendTo(ctx context.Context, data string, evs ...events.Event) error {
	s, err := natsstore.Open(ctx, natsstore.Config{DataDir: data}, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Append(ctx, evs...)
}

// acmeLog is a new log of tenant acme (halo tenants create) holding evs.
func acmeLog(ctx context.Context, t *testing.T, evs ...events.Event) (data string) {
	t.Helper()
	data = t.TempDir()
	if code, _, stderr := run(ctx, t, "tenants", "create", "acme", "--data", data); code != ExitOK {
		t.Fatalf("tenants create: %d %s", code, stderr)
	}
	if err := appendTo(ctx, data, evs...); err != nil {
		t.Fatal(err)
	}
	return data
}

// scanAlert is the alert.raised "al-test" of acme's pos-1 over the window
// [at, at+window).
func scanAlert(at time.Time, window time.Duration) events.Event {
	alert := events.New("acme", "pos-1", &events.AlertRaised{AlertId: "al-test", Detector: "scan", Severity: events.Severity_SEVERITY_HIGH,
		Score: 1, WindowStart: at.UnixNano(), WindowEnd: at.Add(window).UnixNano(), Key: "scan", Summary: "a scan"})
	alert.Time = at.Add(window)
	return alert
}
