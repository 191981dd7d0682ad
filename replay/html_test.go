package replay

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/replay/zeek"
	"github.com/halo-sec/halo/replay/zeek/zeektest"
)

func TestReportHTMLSelfContained(t *testing.T) {
	var evs []events.Event
	if _, err := zeek.ImportFile(zeektest.Path(t, "001-zeek-scenario-malicious/labeled-conn.log"), zeek.Options{Tenant: "lab"},
		func(ev events.Event) error { evs = append(evs, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	events.SortByTime(evs)
	labels := LabelsFromEvents(evs)
	outs, _, err := Run(evs, pipeline.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := Evaluate(AlertsOf(outs), labels, time.Minute, DeviceDays(evs), ActivityOf(evs, time.Minute))
	recorded := time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)
	r.Settings = SettingsOf(pipeline.Config{DetectorOptions: map[string]map[string]string{"beaconing": {"min_interval": "4s"}}},
		&pipeline.Settings{At: recorded})
	var b bytes.Buffer
	if err := WriteHTML(&b, r, AlertsOf(outs), labels, time.Minute); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{"<svg", "Backtest report", "beaconing", `class="tp"`, "CC",
		"Settings: windows of 1m0s, lateness 5s, suppression 10m0s; detectors anomaly, auth-failures,",
		"; beaconing.min_interval = 4s (the live pipeline's, recorded 2026-11-28T16:00:00Z)."} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	for _, bad := range []string{"http://", "https://", "<script", "NaN"} {
		if strings.Contains(html, bad) {
			t.Errorf("report.html contains %q: it must be self-contained and numeric", bad)
		}
	}
}
