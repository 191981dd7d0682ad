// A small SVG chart of a device's alerts over time: one bar per hour with
// the number of alerts raised in it, and a dot per alert at its severity.

const NS = "http://www.w3.org/2000/svg";
const SEVERITIES = ["info", "low", "medium", "high", "critical"];

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** alertChart returns an <svg> of alerts over the last `hours` hours. */
export function alertChart(alerts, { hours = 24, now = Date.now() } = {}) {
  const W = 720, H = 200, L = 40, R = 12, T = 12, B = 28;
  const start = now - hours * 3600e3;
  const bins = new Array(hours).fill(0);
  const inRange = alerts.filter((a) => Date.parse(a.time) >= start);
  for (const a of inRange) bins[Math.min(hours - 1, Math.floor((Date.parse(a.time) - start) / 3600e3))]++;
  const max = Math.max(1, ...bins);
  const x = (t) => L + ((t - start) / (now - start)) * (W - L - R);
  const y = (n) => H - B - (n / max) * (H - T - B);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": `${inRange.length} alerts in the last ${hours} hours` });
  svg.append(el("title", {}, `Alerts per hour, last ${hours} hours`));
  for (const n of [0, max / 2, max]) {
    svg.append(el("line", { x1: L, x2: W - R, y1: y(n), y2: y(n), class: "grid-line" }));
    svg.append(el("text", { x: L - 6, y: y(n) + 4, "text-anchor": "end" }, Number.isInteger(n) ? n : n.toFixed(1)));
  }
  const bw = (W - L - R) / hours;
  bins.forEach((n, i) => {
    if (n) svg.append(el("rect", { x: L + i * bw + 1, y: y(n), width: bw - 2, height: H - B - y(n), class: "bar" }));
  });
  for (const a of inRange) {
    const sev = SEVERITIES.includes(a.severity) ? a.severity : "info";
    const level = SEVERITIES.indexOf(sev) + 1;
    const dot = el("circle", { cx: x(Date.parse(a.time)), cy: H - B - level * ((H - T - B) / 6), r: 4.5, class: "dot-" + sev });
    dot.append(el("title", {}, `${sev} ${a.detector}: ${a.summary} (${new Date(a.time).toLocaleString()})`));
    svg.append(dot);
  }
  svg.append(el("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
  for (let h = 0; h <= hours; h += 6) {
    const t = start + h * 3600e3;
    svg.append(el("text", { x: x(t), y: H - 8, "text-anchor": "middle" },
      h === hours ? "now" : new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
  }
  return svg;
}

/**
 * activityChart returns an <svg> of a device's activity over the last
 * `hours` hours from its timeline: connections per hour (bars), bytes per
 * hour (line, on its own scale), and its alerts as dots at their score
 * (0 at the axis, 1 at the top).
 */
export function activityChart(timeline, alerts, { hours = 24, now = Date.now() } = {}) {
  const W = 720, H = 220, L = 40, R = 48, T = 12, B = 28;
  const start = now - hours * 3600e3;
  const conns = new Array(hours).fill(0), bytes = new Array(hours).fill(0);
  const bin = (t) => Math.min(hours - 1, Math.max(0, Math.floor((t - start) / 3600e3)));
  for (const e of timeline.events || []) {
    const t = Date.parse(e.time);
    if (!(t >= start)) continue;
    if (e.type === "conn.opened") conns[bin(t)]++;
    if (e.type === "conn.closed" && e.payload) bytes[bin(t)] += (e.payload.bytes_up || 0) + (e.payload.bytes_down || 0);
  }
  const maxC = Math.max(1, ...conns), maxB = Math.max(1, ...bytes);
  const x = (t) => L + ((t - start) / (now - start)) * (W - L - R);
  const yC = (n) => H - B - (n / maxC) * (H - T - B);
  const yB = (n) => H - B - (n / maxB) * (H - T - B);
  const total = conns.reduce((a, b) => a + b, 0);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", id: "activity-chart",
    "aria-label": `${total} connections in the last ${hours} hours` });
  svg.append(el("title", {}, `Connections and bytes per hour, alerts by score, last ${hours} hours`));
  for (const n of [0, maxC / 2, maxC]) {
    svg.append(el("line", { x1: L, x2: W - R, y1: yC(n), y2: yC(n), class: "grid-line" }));
    svg.append(el("text", { x: L - 6, y: yC(n) + 4, "text-anchor": "end" }, Number.isInteger(n) ? n : n.toFixed(1)));
  }
  const human = (b) => b >= 1e9 ? (b / 1e9).toFixed(1) + "G" : b >= 1e6 ? (b / 1e6).toFixed(1) + "M" : b >= 1e3 ? (b / 1e3).toFixed(0) + "k" : String(b);
  svg.append(el("text", { x: W - R + 4, y: yB(maxB) + 4 }, human(maxB) + "B"));
  const bw = (W - L - R) / hours;
  conns.forEach((n, i) => {
    if (n) svg.append(el("rect", { x: L + i * bw + 1, y: yC(n), width: bw - 2, height: H - B - yC(n), class: "bar" }));
  });
  const pts = bytes.map((b, i) => `${L + (i + 0.5) * bw},${yB(b)}`).join(" ");
  svg.append(el("polyline", { points: pts, class: "line-bytes", fill: "none" }));
  for (const a of alerts) {
    const t = Date.parse(a.time);
    if (!(t >= start)) continue;
    const sev = SEVERITIES.includes(a.severity) ? a.severity : "info";
    const score = typeof a.score === "number" ? Math.max(0, Math.min(1, a.score)) : 0.5;
    const dot = el("circle", { cx: x(t), cy: H - B - score * (H - T - B), r: 4.5, class: "dot-" + sev });
    dot.append(el("title", {}, `${sev} ${a.detector} (score ${score.toFixed(2)}): ${a.summary} (${new Date(t).toLocaleString()})`));
    svg.append(dot);
  }
  svg.append(el("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
  for (let h = 0; h <= hours; h += 6) {
    const t = start + h * 3600e3;
    svg.append(el("text", { x: x(t), y: H - 8, "text-anchor": "middle" },
      h === hours ? "now" : new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
  }
  return svg;
}
