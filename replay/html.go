package replay

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
)

// WriteHTML writes report.html: the report's figures and two charts — the
// alerts on a timeline per device, and the score distributions of alerts
// on malicious and on benign windows — as one self-contained page (inline
// CSS and SVG, nothing fetched), viewable offline.
func WriteHTML(w io.Writer, r Report, alerts []events.Event, labels []Label, window time.Duration) error {
	positive := map[pair]bool{}
	wn := int64(window)
	for _, l := range labels {
		if !l.Malicious {
			continue
		}
		for k := floorDiv(l.Start.UnixNano(), wn); k <= floorDiv(l.End.UnixNano(), wn); k++ {
			positive[pair{l.Tenant, l.Device, k}] = true
		}
	}
	type dot struct {
		t     time.Time
		det   string
		score float64
		hit   bool
	}
	byDevice := map[string][]dot{}
	var lo, hi time.Time
	var malScores, benScores []float64
	for i := range alerts {
		a, ok := alerts[i].Payload.(*events.AlertRaised)
		if !ok {
			continue
		}
		t := alerts[i].Time
		hit := positive[pair{alerts[i].Tenant, alerts[i].Device, floorDiv(a.WindowStart, wn)}]
		key := alerts[i].Tenant + "/" + alerts[i].Device
		byDevice[key] = append(byDevice[key], dot{t, a.Detector, a.Score, hit})
		if lo.IsZero() || t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
		if hit {
			malScores = append(malScores, a.Score)
		} else {
			benScores = append(benScores, a.Score)
		}
	}
	devices := make([]string, 0, len(byDevice))
	for d := range byDevice {
		devices = append(devices, d)
	}
	sort.Strings(devices)
	if len(devices) > 40 {
		devices = devices[:40]
	}
	// Timeline SVG.
	var tl strings.Builder
	W, rowH, L := 900.0, 18.0, 260.0
	H := float64(len(devices))*rowH + 30
	span := hi.Sub(lo).Seconds()
	if span <= 0 {
		span = 1
	}
	fmt.Fprintf(&tl, `<svg viewBox="0 0 %.0f %.0f" role="img" aria-label="alerts per device over time">`, W, H)
	for i, d := range devices {
		y := float64(i)*rowH + 14
		fmt.Fprintf(&tl, `<text x="4" y="%.0f" class="lbl">%s</text><line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" class="row"/>`,
			y+4, template.HTMLEscapeString(d), L, W-10, y, y)
		for _, p := range byDevice[d] {
			x := L + (p.t.Sub(lo).Seconds()/span)*(W-L-10)
			cls := "fp"
			if p.hit {
				cls = "tp"
			}
			fmt.Fprintf(&tl, `<circle cx="%.1f" cy="%.0f" r="4" class="%s"><title>%s %s score %.2f</title></circle>`,
				x, y, cls, template.HTMLEscapeString(p.det), p.t.UTC().Format(time.RFC3339), p.score)
		}
	}
	fmt.Fprintf(&tl, `<text x="%.0f" y="%.0f" class="lbl">%s</text><text x="%.0f" y="%.0f" class="lbl" text-anchor="end">%s</text></svg>`,
		L, H-4, lo.UTC().Format(time.RFC3339), W-10, H-4, hi.UTC().Format(time.RFC3339))
	// Score histograms.
	hist := func(scores []float64) [10]int {
		var h [10]int
		for _, s := range scores {
			h[int(math.Min(9, math.Max(0, s*10)))]++
		}
		return h
	}
	mh, bh := hist(malScores), hist(benScores)
	maxN := 1
	for i := range mh {
		maxN = max(maxN, mh[i], bh[i])
	}
	var sh strings.Builder
	fmt.Fprintf(&sh, `<svg viewBox="0 0 440 180" role="img" aria-label="score distributions">`)
	for i := 0; i < 10; i++ {
		x := 30 + float64(i)*40
		for j, n := range []int{mh[i], bh[i]} {
			h := 130 * float64(n) / float64(maxN)
			cls := []string{"tp", "fp"}[j]
			fmt.Fprintf(&sh, `<rect x="%.0f" y="%.0f" width="16" height="%.0f" class="%s"><title>%d</title></rect>`, x+float64(j)*17, 150-h, h, cls, n)
		}
		fmt.Fprintf(&sh, `<text x="%.0f" y="168" class="lbl">%.1f</text>`, x, float64(i)/10)
	}
	sh.WriteString(`</svg>`)

	dets := r.sortedDetectors()
	labelNames := make([]string, 0, len(r.ByLabel))
	for n := range r.ByLabel {
		labelNames = append(labelNames, n)
	}
	sort.Strings(labelNames)
	return reportTmpl.Execute(w, map[string]any{
		"R": r, "Detectors": dets, "Labels": labelNames, "Timeline": template.HTML(tl.String()), "Scores": template.HTML(sh.String()),
		"Devices": len(byDevice), "Shown": len(devices), "Mal": len(malScores), "Ben": len(benScores),
	})
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"f": func(v float64) string { return fmt.Sprintf("%.3f", v) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Halo backtest report</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#111}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}th:first-child,td:first-child{text-align:left}
svg{max-width:100%;background:#fafafa;border:1px solid #ddd}.lbl{font-size:10px;fill:#444}.row{stroke:#eee}
.tp{fill:#c0392b}.fp{fill:#2980b9}
</style></head><body>
<h1>Backtest report</h1>
<p>{{.R.Alerts}} alerts over {{.R.DeviceDays}} device-days, windows of {{.R.WindowSeconds}} s. False alerts per device-day: {{f .R.FalseAlertsPerDeviceDay}}.</p>
{{with .R.Settings}}<p>Settings: windows of {{.Window}}, lateness {{.Lateness}}, suppression {{.Suppression}}; detectors {{range $i, $d := .Detectors}}{{if $i}}, {{end}}{{$d}}{{end}}{{range $det, $o := .DetectorOptions}}{{range $k, $v := $o}}; {{$det}}.{{$k}} = {{$v}}{{end}}{{end}}{{with .LiveRecorded}} (the live pipeline's, recorded {{.Format "2006-01-02T15:04:05Z07:00"}}){{end}}.</p>
{{end}}<h2>Overall</h2>
<table><tr><th></th><th>precision</th><th>recall</th><th>F1</th><th>TP</th><th>FP</th><th>FN</th></tr>
<tr><td>all detectors</td><td>{{f .R.Overall.Precision}}</td><td>{{f .R.Overall.Recall}}</td><td>{{f .R.Overall.F1}}</td><td>{{.R.Overall.TP}}</td><td>{{.R.Overall.FP}}</td><td>{{.R.Overall.FN}}</td></tr>
</table>
<h2>By detector</h2>
<table><tr><th>detector</th><th>precision</th><th>recall</th><th>F1</th><th>TP</th><th>FP</th><th>FN</th></tr>
{{range $d := .Detectors}}{{with index $.R.ByDetector $d}}<tr><td>{{$d}}</td><td>{{f .Precision}}</td><td>{{f .Recall}}</td><td>{{f .F1}}</td><td>{{.TP}}</td><td>{{.FP}}</td><td>{{.FN}}</td></tr>{{end}}{{end}}
</table>
<h2>By label</h2>
<table><tr><th>label</th><th>positive windows</th><th>recall</th><th>time to detect (s)</th></tr>
{{range $l := .Labels}}{{with index $.R.ByLabel $l}}<tr><td>{{$l}}</td><td>{{.Positives}}</td><td>{{f .Recall}}</td><td>{{f .TimeToDetect}}</td></tr>{{end}}{{end}}
</table>
<h2>Alerts on a timeline</h2>
<p>Red: the alert's window holds a labeled malicious event; blue: it does not. {{.Shown}} of {{.Devices}} devices with alerts shown.</p>
{{.Timeline}}
<h2>Scores</h2>
<p>Alert scores on malicious windows (red, {{.Mal}}) and on benign windows (blue, {{.Ben}}), in tenths.</p>
{{.Scores}}
</body></html>
`))
