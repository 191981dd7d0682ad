// The /v1/ API client: bearer-token requests, JSON errors, and the live
// alert feed (SSE on GET /v1/alerts/stream, else polling GET /v1/alerts).

const TOKEN_KEY = "halo.token";

export const getToken = () => sessionStorage.getItem(TOKEN_KEY) || "";
export const setToken = (t) => sessionStorage.setItem(TOKEN_KEY, t);
export const clearToken = () => sessionStorage.removeItem(TOKEN_KEY);

/** ApiError is a failed request: HTTP status, API error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// onUnauthorized is called once per 401 answer (the app returns to sign-in).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

async function errorOf(res) {
  let code = "http_" + res.status, message = res.statusText || "request failed";
  try {
    const body = await res.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch { /* not JSON */ }
  return new ApiError(res.status, code, message);
}

/** request sends one API call and returns its decoded JSON body. */
export async function request(method, path, body, { signal, token = getToken() } = {}) {
  const headers = { Authorization: "Bearer " + token, Accept: "application/json" };
  const init = { method, headers, signal, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "The Halo server could not be reached.");
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401) onUnauthorized(err);
    throw err;
  }
  return res.status === 204 ? null : res.json();
}

export const api = {
  alerts: (q = {}, opts) => request("GET", "/v1/alerts?" + new URLSearchParams(q), undefined, opts),
  alert: (id) => request("GET", "/v1/alerts/" + encodeURIComponent(id)),
  ack: (id, note) => request("POST", "/v1/alerts/" + encodeURIComponent(id) + "/ack", note ? { note } : {}),
  resolve: (id, verdict, note) => request("POST", "/v1/alerts/" + encodeURIComponent(id) + "/resolve", { verdict, note }),
  devices: () => request("GET", "/v1/devices"),
  device: (id) => request("GET", "/v1/devices/" + encodeURIComponent(id)),
  timeline: (id, from) => request("GET", "/v1/devices/" + encodeURIComponent(id) + "/timeline?limit=10000&windows=false&from=" + encodeURIComponent(from)),
  quarantine: (id, reason) => request("POST", "/v1/devices/" + encodeURIComponent(id) + "/quarantine", reason ? { reason } : {}),
  release: (id) => request("DELETE", "/v1/devices/" + encodeURIComponent(id) + "/quarantine"),
  interventions: () => request("GET", "/v1/interventions"),
};

export const POLL_MS = 2000;
const STREAM_RETRY_MS = 30000; // while polling, how often the stream is tried again
const STREAM_SOON_MS = 3000; // ... and how soon after a 503
const RECONNECT_MS = 1000;

/**
 * parseSSE splits text/event-stream text into complete events. It returns
 * the events and the unparsed rest (an incomplete last event).
 */
export function parseSSE(buf) {
  const out = [];
  const blocks = buf.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop();
  for (const block of blocks) {
    const ev = { event: "message", data: [], id: null };
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? "" : line.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") ev.event = value;
      else if (field === "data") ev.data.push(value);
      else if (field === "id") ev.id = value;
    }
    if (ev.data.length) out.push({ event: ev.event, data: ev.data.join("\n"), id: ev.id });
  }
  return { events: out, rest };
}

/**
 * watchAlerts feeds onAlert with every alert raised or changed, until
 * signal aborts. It reads the SSE stream GET /v1/alerts/stream through
 * fetch (EventSource cannot send the bearer token); when the stream is not
 * served or fails, it polls GET /v1/alerts every 2 s and tries the stream
 * again every 30 s. onMode("stream" | "polling" | "down") reports which.
 * query is the list filter used when polling.
 */
export function watchAlerts({ onAlert, onMode, query = () => ({}), signal }) {
  let lastID = null;
  const sleep = (ms) => new Promise((r) => {
    const t = setTimeout(r, ms);
    signal.addEventListener("abort", () => { clearTimeout(t); r(); }, { once: true });
  });

  async function stream() {
    const headers = { Authorization: "Bearer " + getToken(), Accept: "text/event-stream" };
    if (lastID) headers["Last-Event-ID"] = lastID;
    const res = await fetch("/v1/alerts/stream", { headers, signal, cache: "no-store" });
    if (res.status === 401) {
      onUnauthorized(await errorOf(res));
      return "unauthorized";
    }
    const ct = res.headers.get("Content-Type") || "";
    if (!res.ok || !ct.startsWith("text/event-stream") || !res.body) {
      res.body?.cancel();
      // 503: served but not ready yet (the server is loading the log);
      // anything else: not served by this server (yet).
      return res.status === 503 ? "starting" : "unavailable";
    }
    onMode("stream");
    const catchUp = api.alerts({ ...query(), limit: 100 }, { signal }).then((b) => b.alerts.forEach((a) => onAlert(a, false))).catch(() => {});
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const { events, rest } = parseSSE(buf + value);
      buf = rest;
      await catchUp;
      for (const ev of events) {
        if (ev.id !== null) lastID = ev.id;
        if (ev.event !== "alert") continue;
        try { onAlert(JSON.parse(ev.data), true); } catch { /* skip a malformed event */ }
      }
    }
    return "ended";
  }

  async function pollUntil(deadline) {
    onMode("polling");
    while (!signal.aborted && Date.now() < deadline) {
      try {
        const body = await api.alerts({ ...query(), limit: 100 }, { signal });
        body.alerts.forEach((a) => onAlert(a, true));
        onMode("polling");
      } catch (e) {
        if (e.status === 401 || signal.aborted) return;
        onMode("down");
      }
      await sleep(POLL_MS);
    }
  }

  (async () => {
    while (!signal.aborted) {
      let outcome;
      try {
        outcome = await stream();
      } catch {
        outcome = signal.aborted ? "aborted" : "failed";
      }
      if (signal.aborted || outcome === "unauthorized") return;
      if (outcome === "ended") {
        await sleep(RECONNECT_MS); // the server closed a working stream: reconnect
        continue;
      }
      await pollUntil(Date.now() + (outcome === "starting" ? STREAM_SOON_MS : STREAM_RETRY_MS));
    }
  })();
}
