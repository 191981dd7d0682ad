package replay

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/api"
)

// TestTimelineHTML: the page embeds the timeline as JSON that cannot close
// its script element, whatever the log holds, loads nothing, and forbids
// loading anything by its Content-Security-Policy.
func TestTimelineHTML(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	evil := `</script><script>alert(1)</script><!-- & "x"`
	tl := &api.Timeline{Tenant: "acme", Device: "pos-1", From: t0, To: t0.Add(30 * time.Minute), WindowSeconds: 60,
		Events: []api.TimelineEvent{{Time: t0.Add(time.Minute), Type: "conn.opened", ID: "e1", Summary: "connection to " + evil, Payload: json.RawMessage(`{"dst_host":"x"}`)}},
		Windows: []api.TimelineWindow{{Start: t0, End: t0.Add(time.Minute), Cohort: "acme//", Events: 1, Features: map[string]float64{"connections": 1},
			Scores: []api.TimelineScore{{Detector: "anomaly", Score: 0.4, Threshold: 0.7}}}},
		Alerts: []api.AlertView{{ID: "al-1", Detector: "anomaly", Summary: evil, Time: t0.Add(time.Minute)}},
	}
	var b bytes.Buffer
	if err := WriteTimelineHTML(&b, tl, "al-1<b>"); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(page, "</script>"); n != 2 { // the data element's and the script's
		t.Fatalf("%d </script> in the page, want 2: the data escaped its element", n)
	}
	if strings.Contains(page, "<script>alert(1)") || strings.Contains(page, "al-1<b>") {
		t.Fatal("markup from the data reached the page unescaped")
	}
	start := strings.Index(page, `<script type="application/json" id="timeline-data">`)
	end := strings.Index(page[start:], "</script>")
	if start < 0 || end < 0 {
		t.Fatal("no timeline-data element")
	}
	var data struct {
		Focus    string       `json:"focus"`
		Timeline api.Timeline `json:"timeline"`
	}
	raw := page[start+len(`<script type="application/json" id="timeline-data">`) : start+end]
	if err := json.Unmarshal([]byte(raw), &data); err != nil {
		t.Fatalf("embedded data: %v", err)
	}
	if data.Focus != "al-1<b>" || data.Timeline.Alerts[0].Summary != evil || len(data.Timeline.Windows) != 1 || data.Timeline.Windows[0].Scores[0].Threshold != 0.7 {
		t.Fatalf("embedded data does not round-trip: %+v", data)
	}
	for _, want := range []string{`content="default-src 'none';`, `id: "timeline-chart"`, "acme/pos-1", "al-1&lt;b&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("timeline.html lacks %q", want)
		}
	}
	for _, bad := range []string{"<link", " src=", "url(", "@import", "fetch(", "XMLHttpRequest", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("timeline.html contains %q: it must load nothing", bad)
		}
	}
}
