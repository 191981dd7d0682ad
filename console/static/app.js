// The Halo console: sign-in, live alerts, alert detail, device and fleet
// pages. Views are built with DOM calls only (no innerHTML), so nothing the
// API returns is ever parsed as markup.

import { api, ApiError, clearToken, getToken, setToken, setUnauthorizedHandler, watchAlerts } from "./api.js";
import { activityChart, alertChart } from "./chart.js";

const SEVERITIES = ["critical", "high", "medium", "low", "info"];
const STATUSES = ["open", "acknowledged", "resolved"];
const VERDICTS = ["true-positive", "false-positive", "benign"];

const $ = (sel) => document.querySelector(sel);
const main = $("#main");

/** h builds an element: h("a", {href: "#"}, "text", child). */
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

const time = (iso) => iso ? h("time", { datetime: iso }, new Date(iso).toLocaleString()) : "—";
const sev = (s) => h("span", { class: "sev sev-" + s }, s);
const statusText = (s) => h("span", { class: "status status-" + s }, s);
const deviceLink = (id) => h("a", { href: "#/devices/" + encodeURIComponent(id) }, id);

function announce(text) { $("#announcer").textContent = text; }

function banner(text, kind = "error") {
  const b = $("#banner");
  b.textContent = text || "";
  b.className = "banner" + (kind === "info" ? " info" : "");
  b.hidden = !text;
}

function showError(e) {
  if (e && e.name === "AbortError") return;
  if (e instanceof ApiError && e.status === 401) return; // handled by sign-in
  banner(e instanceof ApiError ? `${e.message} (${e.code})` : String(e));
}

// ---- state: the alerts seen, kept up to date by the live feed

const state = {
  alerts: new Map(), // id → alert
  filters: { status: "", severity: "" },
  feed: null, // AbortController of the live feed
  loaded: false,
};

function query() {
  const q = {};
  if (state.filters.status) q.status = state.filters.status;
  if (state.filters.severity) q.severity = state.filters.severity;
  return q;
}

function matches(a) {
  return (!state.filters.status || a.status === state.filters.status) &&
    (!state.filters.severity || a.severity === state.filters.severity);
}

const fresh = new Set(); // ids to highlight on the next render

/** merge takes an alert from the feed; live marks one not seen before as new. */
function merge(a, live) {
  const old = state.alerts.get(a.id);
  if (old && old.last_seen === a.last_seen && old.status === a.status && old.count === a.count) return;
  state.alerts.set(a.id, a);
  if (!old && live && state.loaded) {
    fresh.add(a.id);
    announce(`New ${a.severity} alert on ${a.device}: ${a.summary}`);
  }
  current.onAlert?.(a, !old);
}

async function loadAlerts() {
  const body = await api.alerts({ ...query(), limit: 200 });
  state.alerts = new Map(body.alerts.map((a) => [a.id, a]));
  state.loaded = true;
}

function setMode(mode) {
  const live = $("#live");
  live.className = "live " + mode;
  live.textContent = { stream: "Live", polling: "Live (polling every 2 s)", down: "Offline — retrying" }[mode] || mode;
  live.dataset.mode = mode;
}

function startFeed() {
  state.feed?.abort();
  state.feed = new AbortController();
  watchAlerts({ onAlert: merge, onMode: setMode, query, signal: state.feed.signal });
}

// ---- sign-in

function signInView(message) {
  state.feed?.abort();
  state.feed = null;
  $("#top").hidden = true;
  banner("");
  const msg = h("p", { class: "msg", id: "signin-msg", role: "alert" }, message || "");
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "signin-msg" });
  const button = h("button", { type: "submit", class: "primary", id: "signin" }, "Sign in");
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to Halo"),
    h("label", { for: "token" }, "API token"),
    input,
    h("p", { class: "note" }, "The token is kept in this tab only (session storage) until you sign out."),
    msg,
    button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    msg.textContent = "";
    try {
      await fetchCheck(token);
      setToken(token);
      location.hash = "#/alerts";
      await start();
    } catch (e) {
      msg.textContent = e instanceof ApiError && e.status === 401 ? "That token was not accepted." : (e.message || String(e));
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(form);
  input.focus();
}

// fetchCheck validates a token without triggering the global 401 handler.
async function fetchCheck(token) {
  const res = await fetch("/v1/devices", { headers: { Authorization: "Bearer " + token }, cache: "no-store" });
  if (!res.ok) {
    let m = "sign-in failed (" + res.status + ")";
    try { m = (await res.json()).error.message; } catch { /* not JSON */ }
    throw new ApiError(res.status, "", m);
  }
}

setUnauthorizedHandler(() => {
  if (!getToken()) return;
  clearToken();
  signInView("Your session has ended or the token was revoked: sign in again.");
});

// ---- router

let current = {}; // the shown view: { onAlert(a, isNew) }

async function route() {
  if (!getToken()) return signInView();
  banner("");
  const [, page, id] = (location.hash || "#/alerts").slice(1).split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === (page === "devices" ? "fleet" : page)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  current = {};
  try {
    if (page === "alerts" && id) await alertView(id);
    else if (page === "devices" && id) await deviceView(id);
    else if (page === "fleet") await fleetView();
    else await alertsView();
  } catch (e) {
    showError(e);
  }
  main.focus({ preventScroll: true });
}

// ---- alerts list

function alertsView() {
  const statusSel = h("select", { id: "filter-status" }, h("option", { value: "" }, "All"),
    STATUSES.map((s) => h("option", { value: s, selected: state.filters.status === s }, s)));
  const sevSel = h("select", { id: "filter-severity" }, h("option", { value: "" }, "All"),
    SEVERITIES.map((s) => h("option", { value: s, selected: state.filters.severity === s }, s)));
  const tbody = h("tbody");
  const count = h("span", { class: "count", "aria-live": "polite" });
  const onFilter = async () => {
    state.filters = { status: statusSel.value, severity: sevSel.value };
    try { await loadAlerts(); render(); } catch (e) { showError(e); }
  };
  statusSel.addEventListener("change", onFilter);
  sevSel.addEventListener("change", onFilter);

  function render() {
    const list = [...state.alerts.values()].filter(matches)
      .sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || (a.id < b.id ? 1 : -1));
    count.textContent = `${list.length} alert${list.length === 1 ? "" : "s"}`;
    if (!list.length) {
      tbody.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "empty", id: "no-alerts" }, "No alerts match.")));
      return;
    }
    tbody.replaceChildren(...list.map((a) => h("tr", { "data-alert-id": a.id, class: fresh.has(a.id) ? "fresh" : null },
      h("td", {}, sev(a.severity)),
      h("td", { class: "mono" }, a.detector),
      h("td", {}, deviceLink(a.device)),
      h("td", {}, h("a", { href: "#/alerts/" + encodeURIComponent(a.id) }, a.summary || a.id)),
      h("td", {}, time(a.time)),
      h("td", {}, statusText(a.status)))));
    fresh.clear();
  }

  main.replaceChildren(
    h("h1", {}, "Alerts"),
    h("div", { class: "filters" },
      h("label", {}, "Status", statusSel),
      h("label", {}, "Severity", sevSel),
      count),
    h("table", { id: "alerts" },
      h("caption", { class: "visually-hidden" }, "Alerts, newest first"),
      h("thead", {}, h("tr", {}, ["Severity", "Detector", "Device", "Summary", "Time", "Status"].map((c) => h("th", { scope: "col" }, c)))),
      tbody));
  render();
  current.onAlert = render;
}

// ---- alert detail

async function alertView(id) {
  const a = await api.alert(id);
  const ackBtn = h("button", { type: "button", id: "ack", disabled: a.status !== "open" }, "Acknowledge");
  const verdict = h("select", { id: "verdict", "aria-label": "Verdict" }, VERDICTS.map((v) => h("option", { value: v }, v)));
  const note = h("input", { id: "note", type: "text", placeholder: "Note (optional)", "aria-label": "Note", maxlength: 1000 });
  const resolveBtn = h("button", { type: "submit", class: "primary", id: "resolve" }, "Resolve");
  const resolved = a.status === "resolved";
  ackBtn.addEventListener("click", () => act(ackBtn, () => api.ack(a.id, note.value.trim()), "Alert acknowledged."));
  const form = h("form", { class: "actions", "aria-label": "Act on this alert" }, ackBtn, verdict, note, resolveBtn);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(resolveBtn, () => api.resolve(a.id, verdict.value, note.value.trim()), "Alert resolved as " + verdict.value + ".");
  });
  if (resolved) for (const c of [verdict, note, resolveBtn]) c.disabled = true;

  async function act(btn, fn, done) {
    btn.disabled = true;
    try {
      merge(await fn(), false);
      await alertView(a.id);
      banner(done, "info");
      announce(done);
    } catch (e) {
      btn.disabled = false;
      showError(e);
    }
  }

  const features = a.features?.length
    ? h("table", { id: "features" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Feature"), h("th", { scope: "col", class: "num" }, "Value"),
        h("th", { scope: "col", class: "num" }, "Baseline"), h("th", { scope: "col", class: "num" }, "× baseline"))),
      h("tbody", {}, a.features.map((f) => h("tr", {},
        h("td", { class: "mono" }, f.name), h("td", { class: "num" }, fmt(f.value)), h("td", { class: "num" }, fmt(f.baseline)),
        h("td", { class: "num" }, f.baseline ? fmt(f.value / f.baseline) : "—")))))
    : h("p", { class: "note" }, "No features were recorded for this alert.");

  main.replaceChildren(
    h("p", {}, h("a", { href: "#/alerts" }, "← Alerts")),
    h("h1", {}, sev(a.severity), " ", a.summary || a.id),
    h("div", { class: "grid" },
      h("section", { class: "card", "aria-labelledby": "why" },
        h("h2", { id: "why" }, "Why"),
        h("p", { class: "explanation" }, a.explanation || "No explanation was recorded."),
        h("h2", {}, "Features against baseline"),
        features),
      h("section", { class: "card", "aria-labelledby": "facts" },
        h("h2", { id: "facts" }, "Details"),
        h("dl", { class: "facts" },
          h("dt", {}, "Status"), h("dd", { id: "alert-status" }, statusText(a.status), a.verdict ? ` (${a.verdict})` : ""),
          h("dt", {}, "Device"), h("dd", {}, deviceLink(a.device)),
          h("dt", {}, "Detector"), h("dd", { class: "mono" }, a.detector),
          h("dt", {}, "Score"), h("dd", {}, fmt(a.score)),
          h("dt", {}, "Key"), h("dd", { class: "mono" }, a.key || "—"),
          h("dt", {}, "Raised"), h("dd", {}, time(a.time)),
          h("dt", {}, "Last seen"), h("dd", {}, time(a.last_seen), ` (${a.count}×)`),
          h("dt", {}, "Window"), h("dd", {}, time(a.window?.start), " – ", time(a.window?.end)),
          h("dt", {}, "Evidence"), h("dd", { id: "evidence" }, `${a.evidence?.length || 0} event${a.evidence?.length === 1 ? "" : "s"}`),
          a.acknowledged_by && [h("dt", {}, "Acknowledged"), h("dd", {}, a.acknowledged_by, " at ", time(a.acknowledged_at))],
          a.resolved_by && [h("dt", {}, "Resolved"), h("dd", {}, a.resolved_by, " at ", time(a.resolved_at))],
          a.note && [h("dt", {}, "Note"), h("dd", {}, a.note)]),
        form)));
  current.onAlert = (b) => { if (b.id === a.id) alertView(a.id).catch(showError); };
}

function fmt(n) {
  if (typeof n !== "number" || !isFinite(n)) return "—";
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(2);
}

// ---- device page

async function deviceView(id) {
  const [d, list] = await Promise.all([api.device(id), api.alerts({ device: id, limit: 500 })]);
  const alerts = list.alerts;
  // The timeline (connections, bytes) loads after the page; the alert-only
  // chart stays if it cannot be read.
  api.timeline(id, new Date(Date.now() - 24 * 3600e3).toISOString()).then((tl) => {
    const slot = document.getElementById("chart-slot"), note = document.getElementById("timeline-note");
    if (!slot || !note) return;
    slot.replaceChildren(activityChart(tl, alerts));
    note.textContent = "Bars: connections per hour; line: bytes per hour (right scale); dots: alerts at their score, colored by severity." +
      (tl.truncated ? " The timeline was truncated to its first 10,000 events." : "");
  }).catch(() => {
    const note = document.getElementById("timeline-note");
    if (note) note.textContent = "Bars count alerts per hour; dots are alerts, higher for more severe. (The timeline could not be loaded.)";
  });
  const quarantined = d.status === "quarantined";
  const qBtn = h("button", { type: "button", class: "danger", id: "quarantine", disabled: quarantined || d.status === "revoked" }, "Quarantine");
  const rBtn = h("button", { type: "button", id: "release", disabled: !quarantined }, "Release");
  const reason = h("input", { id: "reason", type: "text", placeholder: "Reason (optional)", "aria-label": "Quarantine reason", maxlength: 1000 });
  const act = async (btn, fn, done) => {
    btn.disabled = true;
    try {
      await fn();
      await deviceView(id);
      banner(done, "info");
      announce(done);
    } catch (e) {
      btn.disabled = false;
      showError(e);
    }
  };
  qBtn.addEventListener("click", () => act(qBtn, () => api.quarantine(id, reason.value.trim()), `Device ${id} quarantined.`));
  rBtn.addEventListener("click", () => act(rBtn, () => api.release(id), `Device ${id} released.`));
  const open = alerts.filter((a) => a.status !== "resolved");

  main.replaceChildren(
    h("p", {}, h("a", { href: "#/fleet" }, "← Fleet")),
    h("h1", {}, "Device ", h("span", { class: "mono" }, d.id), " ",
      h("span", { class: "badge status-" + d.status, id: "device-status" }, d.status)),
    h("div", { class: "grid" },
      h("section", { class: "card", "aria-labelledby": "dev-facts" },
        h("h2", { id: "dev-facts" }, "Device"),
        h("dl", { class: "facts" },
          h("dt", {}, "Status"), h("dd", {}, statusText(d.status)),
          h("dt", {}, "Model"), h("dd", { id: "device-model" }, d.model || "—"),
          h("dt", {}, "Firmware"), h("dd", { id: "device-firmware" }, d.firmware || "—"),
          h("dt", {}, "Enrolled"), h("dd", {}, time(d.enrolled)),
          h("dt", {}, "Open alerts"), h("dd", { id: "device-open" }, String(d.open_alerts)),
          d.revoked_at && [h("dt", {}, "Revoked"), h("dd", {}, time(d.revoked_at))],
          d.quarantine && [
            h("dt", {}, "Quarantined"), h("dd", {}, time(d.quarantine.applied), " by ", d.quarantine.actor),
            h("dt", {}, "Reason"), h("dd", {}, d.quarantine.reason),
            d.quarantine.expires && [h("dt", {}, "Expires"), h("dd", {}, time(d.quarantine.expires))]]),
        h("div", { class: "actions" }, reason, qBtn, rBtn)),
      h("section", { class: "card", "aria-labelledby": "dev-chart" },
        h("h2", { id: "dev-chart" }, "Activity, last 24 hours"),
        h("div", { id: "chart-slot" }, alertChart(alerts)),
        h("p", { class: "note", id: "timeline-note" },
          "Loading the device's timeline…"))),
    h("h2", {}, `Unresolved alerts (${open.length})`),
    open.length
      ? h("table", { id: "device-alerts" },
        h("thead", {}, h("tr", {}, ["Severity", "Detector", "Summary", "Time", "Status"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, open.map((a) => h("tr", {},
          h("td", {}, sev(a.severity)), h("td", { class: "mono" }, a.detector),
          h("td", {}, h("a", { href: "#/alerts/" + encodeURIComponent(a.id) }, a.summary || a.id)),
          h("td", {}, time(a.time)), h("td", {}, statusText(a.status))))))
      : h("p", { class: "note" }, "No unresolved alerts."));
  current.onAlert = (a) => { if (a.device === id) deviceView(id).catch(showError); };
}

// ---- fleet page (the device maker's view)

async function fleetView() {
  const { devices } = await api.devices();
  const cohorts = new Map();
  for (const d of devices) {
    const key = (d.model || "unknown") + "\u0000" + (d.firmware || "unknown");
    let c = cohorts.get(key);
    if (!c) cohorts.set(key, c = { model: d.model || "unknown", firmware: d.firmware || "unknown", devices: 0, alerting: 0, open: 0, quarantined: 0, revoked: 0 });
    c.devices++;
    c.open += d.open_alerts;
    if (d.open_alerts > 0) c.alerting++;
    if (d.status === "quarantined") c.quarantined++;
    if (d.status === "revoked") c.revoked++;
  }
  const rows = [...cohorts.values()].sort((a, b) => a.model.localeCompare(b.model) || b.firmware.localeCompare(a.firmware, undefined, { numeric: true }));
  const pct = (n, d) => d ? Math.round((100 * n) / d) + "%" : "—";
  main.replaceChildren(
    h("h1", {}, "Fleet"),
    h("p", { class: "note" }, "Devices grouped by model and firmware. The open-alert rate is the share of a cohort's devices with at least one unresolved alert."),
    h("table", { id: "cohorts" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Model"), h("th", { scope: "col" }, "Firmware"),
        ["Devices", "With open alerts", "Open-alert rate", "Open alerts / device", "Quarantined", "Revoked"].map((c) => h("th", { scope: "col", class: "num" }, c)))),
      h("tbody", {}, rows.length ? rows.map((c) => h("tr", {},
        h("td", {}, c.model), h("td", { class: "mono" }, c.firmware),
        h("td", { class: "num" }, c.devices), h("td", { class: "num" }, c.alerting),
        h("td", { class: "num" }, h("meter", { min: 0, max: 1, low: 0.05, high: 0.2, optimum: 0, value: c.alerting / c.devices, "aria-hidden": "true" }), " ", pct(c.alerting, c.devices)),
        h("td", { class: "num" }, (c.open / c.devices).toFixed(2)),
        h("td", { class: "num" }, c.quarantined), h("td", { class: "num" }, c.revoked)))
        : h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No devices enrolled.")))),
    h("h2", {}, `Devices (${devices.length})`),
    h("table", { id: "devices" },
      h("thead", {}, h("tr", {}, ["Device", "Model", "Firmware", "Status", "Open alerts"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, devices.map((d) => h("tr", {},
        h("td", {}, deviceLink(d.id)), h("td", {}, d.model), h("td", { class: "mono" }, d.firmware),
        h("td", {}, statusText(d.status)), h("td", { class: "num" }, d.open_alerts))))));
  current.onAlert = (a, isNew) => { if (isNew) fleetView().catch(showError); };
}

// ---- start

async function start() {
  $("#top").hidden = false;
  try {
    await loadAlerts();
  } catch (e) {
    showError(e);
    if (!getToken()) return;
  }
  startFeed();
  await route();
}

$("#signout").addEventListener("click", () => {
  clearToken();
  state.alerts.clear();
  state.loaded = false;
  history.replaceState(null, "", location.pathname);
  signInView("Signed out.");
});
window.addEventListener("hashchange", () => { if (getToken()) route(); });

if (getToken()) start(); else signInView();
