package replay

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/halo-sec/halo/api"
)

// WriteTimelineHTML writes timeline.html for halo incident: one
// self-contained page (inline CSS, inline script drawing inline SVG; nothing
// fetched, viewable offline) with the device's timeline — its events, its
// feature windows (events per window, detector scores against their
// thresholds) and its alerts, the incident's alert (focus, an alert id)
// marked — and tables of the alert, the windows and the events. The
// timeline is embedded as JSON (api.BuildTimeline's, as timeline.json
// holds it); the page draws it with DOM calls only (textContent, never
// markup built from the data), so nothing in the log can inject markup.
func WriteTimelineHTML(w io.Writer, tl *api.Timeline, focus string) error {
	data, err := json.Marshal(struct {
		Focus    string        `json:"focus"`
		Timeline *api.Timeline `json:"timeline"`
	}{focus, tl})
	if err != nil {
		return fmt.Errorf("timeline.html: %w", err)
	}
	// json.Marshal escapes <, > and & in strings, so the data cannot close
	// the script element; U+2028/2029 are escaped too.
	title := html.EscapeString(fmt.Sprintf("Incident %s — %s/%s", focus, tl.Tenant, tl.Device))
	page := strings.NewReplacer("{{TITLE}}", title, "{{DATA}}", string(data)).Replace(timelinePage)
	_, err = io.WriteString(w, page)
	return err
}

const timelinePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{TITLE}}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#111}h1{font-size:1.4rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
td.n{text-align:right}svg{max-width:100%;background:#fafafa;border:1px solid #ddd}
.lbl{font-size:11px;fill:#444}.axis{stroke:#999}.grid{stroke:#eee}
.ev{stroke:#7f8c8d}.ev-conn-opened{stroke:#2980b9}.ev-conn-closed{stroke:#16a085}.ev-tx-observed{stroke:#8e44ad}.ev-alert{stroke:#c0392b}
.win{fill:#95a5a6}.score{fill:none;stroke:#d35400;stroke-width:2}.threshold{stroke:#c0392b;stroke-dasharray:4 3}
.alert{fill:#e67e22}.alert.incident{fill:#c0392b}.focus{stroke:#c0392b;stroke-width:1.5;stroke-dasharray:2 2}
.muted{color:#666}
</style></head><body>
<h1>{{TITLE}}</h1>
<p id="summary" class="muted"></p>
<div id="chart"><noscript>The chart needs JavaScript; timeline.json holds the same data.</noscript></div>
<h2>Alert</h2><table id="alert"></table>
<h2>Feature windows</h2><table id="windows"></table>
<h2>Events</h2><p id="events-note" class="muted"></p><table id="events"></table>
<script type="application/json" id="timeline-data">{{DATA}}</script>
<script>
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var d = JSON.parse(document.getElementById("timeline-data").textContent);
  var tl = d.timeline, focus = d.focus;
  // RFC 3339 with nanoseconds: keep milliseconds for Date.parse.
  function ms(t) { return Date.parse(t.replace(/(\.\d{3})\d+/, "$1")); }
  var t0 = ms(tl.from), t1 = ms(tl.to), span = Math.max(1, t1 - t0);
  var W = 960, L = 120, R = 20;
  function x(t) { return L + (ms(t) - t0) / span * (W - L - R); }
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function tip(e, text) { var t = el("title", {}, e); t.textContent = text; return e; }
  function label(text, x0, y, parent, anchor) {
    var t = el("text", {x: x0, y: y, "class": "lbl", "text-anchor": anchor || "start"}, parent);
    t.textContent = text;
  }
  function hhmmss(ms) { return new Date(ms).toISOString().substr(11, 8); }

  var lanes = {events: [20, 50], windows: [90, 60], score: [170, 70], alerts: [260, 24]};
  var H = 310;
  var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img", id: "timeline-chart",
    "aria-label": "events, feature windows, scores and alerts of " + tl.device + " over time"});
  // Time axis and grid.
  for (var i = 0; i <= 6; i++) {
    var gx = L + i / 6 * (W - L - R);
    el("line", {x1: gx, x2: gx, y1: 12, y2: H - 24, "class": "grid"}, svg);
    label(hhmmss(t0 + i / 6 * span), gx, H - 8, svg, i === 0 ? "start" : (i === 6 ? "end" : "middle"));
  }
  label("events", 4, lanes.events[0] + 28, svg);
  label("events/window", 4, lanes.windows[0] + 34, svg);
  label("score", 4, lanes.score[0] + 38, svg);
  label("alerts", 4, lanes.alerts[0] + 16, svg);

  // Events: one tick each, coloured by type.
  var evg = el("g", {id: "events-lane"}, svg);
  tl.events.forEach(function (e) {
    var cls = "ev ev-" + e.type.replace(/\./g, "-");
    if (e.type.indexOf("alert.") === 0) cls += " ev-alert";
    var ex = x(e.time);
    tip(el("line", {x1: ex, x2: ex, y1: lanes.events[0], y2: lanes.events[0] + lanes.events[1], "class": cls}, evg),
      e.time + " " + e.type + ": " + e.summary);
  });

  // Windows: a bar per window, its height the events it holds.
  var wg = el("g", {id: "windows-lane"}, svg);
  var maxEv = 1, maxScore = 0;
  tl.windows.forEach(function (w) {
    maxEv = Math.max(maxEv, w.events);
    w.scores.forEach(function (s) { maxScore = Math.max(maxScore, s.score, s.threshold); });
  });
  tl.windows.forEach(function (w) {
    var x0 = x(w.start), x1 = Math.min(x(w.end), W - R), h = lanes.windows[1] * w.events / maxEv;
    var text = w.start + " – " + w.end + ": " + w.events + " events" + w.scores.map(function (s) {
      return "; " + s.detector + " score " + s.score.toFixed(3) + " (threshold " + s.threshold.toFixed(3) + ")";
    }).join("");
    tip(el("rect", {x: x0 + 0.5, y: lanes.windows[0] + lanes.windows[1] - h, width: Math.max(1, x1 - x0 - 1), height: h, "class": "win"}, wg), text);
  });

  // Scores: one line per scoring detector, and its threshold.
  var sg = el("g", {id: "score-lane"}, svg);
  var top = Math.max(1, maxScore);
  function sy(v) { return lanes.score[0] + lanes.score[1] * (1 - v / top); }
  var byDet = {};
  tl.windows.forEach(function (w) {
    w.scores.forEach(function (s) { (byDet[s.detector] = byDet[s.detector] || []).push({w: w, s: s}); });
  });
  Object.keys(byDet).sort().forEach(function (det) {
    var pts = byDet[det].map(function (p) { return ((x(p.w.start) + Math.min(x(p.w.end), W - R)) / 2).toFixed(1) + "," + sy(p.s.score).toFixed(1); });
    tip(el("polyline", {points: pts.join(" "), "class": "score", "data-detector": det}, sg), det + " score per window");
    byDet[det].forEach(function (p) {
      var mx = (x(p.w.start) + Math.min(x(p.w.end), W - R)) / 2;
      tip(el("circle", {cx: mx, cy: sy(p.s.score), r: 2.5, "class": "score-point"}, sg), det + " " + p.s.score.toFixed(3) + " at " + p.w.start);
      el("line", {x1: x(p.w.start), x2: Math.min(x(p.w.end), W - R), y1: sy(p.s.threshold), y2: sy(p.s.threshold), "class": "threshold"}, sg);
    });
  });
  if (!Object.keys(byDet).length) label("no detector scores these windows yet (no cohort model)", L + 6, lanes.score[0] + 38, sg);

  // Alerts, the incident's marked across every lane.
  var ag = el("g", {id: "alerts-lane"}, svg);
  tl.alerts.forEach(function (a) {
    var axx = x(a.time), mine = a.id === focus;
    if (mine) el("line", {x1: axx, x2: axx, y1: 12, y2: H - 24, "class": "focus"}, ag);
    tip(el("circle", {cx: axx, cy: lanes.alerts[0] + 12, r: mine ? 7 : 5, "class": mine ? "alert incident" : "alert", "data-alert": a.id}, ag),
      a.time + " " + a.detector + " (" + a.severity + ", score " + a.score.toFixed(2) + "): " + a.summary);
  });
  document.getElementById("chart").appendChild(svg);

  // Tables.
  function row(table, cells, head) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = document.createElement(head ? "th" : "td");
      td.textContent = c;
      if (typeof c === "number") td.className = "n";
      tr.appendChild(td);
    });
    table.appendChild(tr);
  }
  var fa = tl.alerts.filter(function (a) { return a.id === focus; })[0];
  var at = document.getElementById("alert");
  if (fa) {
    [["id", fa.id], ["detector", fa.detector], ["severity", fa.severity], ["score", fa.score], ["status", fa.status],
     ["time", fa.time], ["window", (fa.window.start || "") + " – " + (fa.window.end || "")], ["summary", fa.summary],
     ["explanation", fa.explanation], ["features", fa.features.map(function (f) { return f.name + " " + f.value + " (baseline " + f.baseline + ")"; }).join("; ")]
    ].forEach(function (r) { row(at, r); });
  } else {
    row(at, ["the alert is not in this range"]);
  }
  var wt = document.getElementById("windows");
  row(wt, ["start", "events", "scores", "non-zero features"], true);
  tl.windows.forEach(function (w) {
    var feats = Object.keys(w.features).filter(function (k) { return w.features[k] !== 0; }).map(function (k) { return k + " " + +w.features[k].toPrecision(4); });
    row(wt, [w.start, w.events, w.scores.map(function (s) { return s.detector + " " + s.score.toFixed(3) + " / " + s.threshold.toFixed(3); }).join(", "), feats.join(", ")]);
  });
  var et = document.getElementById("events"), shown = tl.events.slice(0, 2000);
  row(et, ["time", "type", "summary"], true);
  shown.forEach(function (e) { row(et, [e.time, e.type, e.summary]); });
  document.getElementById("events-note").textContent = shown.length + " of " + tl.events.length + " events shown" + (tl.truncated ? "; the timeline was truncated at its limit" : "") + ".";
  document.getElementById("summary").textContent = tl.tenant + "/" + tl.device + ", " + tl.from + " – " + tl.to + ": " +
    tl.events.length + " events, " + tl.windows.length + " windows of " + tl.window_seconds + " s, " + tl.alerts.length + " alerts.";
  svg.setAttribute("data-rendered", "true");
})();
</script>
</body></html>
`
