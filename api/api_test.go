package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/intervention"
)

var t0 = time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

// env is a running API over a real embedded log, with two tenants: acme
// (operator and viewer tokens, devices pos-1 and pos-2) and globex
// (operator token, device gx-1).
type env struct {
	t       testing.TB
	ctx     context.Context
	store   events.Store
	reg     *identity.Registry
	alerts  *alerts.Set
	ivs     *intervention.Set
	srv     *Server
	http    *httptest.Server
	metrics *prometheus.Registry
	acme    string // operator token
	viewer  string // acme viewer token
	globex  string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{t: t, ctx: ctx, store: store, reg: identity.NewRegistry()}
	if e.acme, err = identity.CreateTenant(ctx, store, e.reg, "", "acme", "Acme", "test"); err != nil {
		t.Fatal(err)
	}
	if e.viewer, err = identity.AddToken(ctx, store, e.reg, "acme", events.Role_ROLE_VIEWER, "test"); err != nil {
		t.Fatal(err)
	}
	if e.globex, err = identity.CreateTenant(ctx, store, e.reg, "", "globex", "Globex", "test"); err != nil {
		t.Fatal(err)
	}
	for _, d := range [][2]string{{"acme", "pos-1"}, {"acme", "pos-2"}, {"globex", "gx-1"}} {
		ev := events.New(d[0], d[1], &events.DeviceEnrolled{Model: "A920", Firmware: "1.2", CertSha256: bytes.Repeat([]byte{1}, 32)})
		if err := store.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
		e.reg.Apply(&ev)
	}
	e.alerts, e.ivs = alerts.NewSet(), intervention.NewSet()
	go e.alerts.Follow(ctx, store)
	go e.ivs.Follow(ctx, store)
	e.metrics = prometheus.NewRegistry()
	e.srv, err = New(Config{Store: store, Registry: e.reg, Alerts: e.alerts, Interventions: e.ivs, Metrics: e.metrics, MaxLimit: 50})
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Run(ctx)
	e.http = httptest.NewServer(e.srv)
	t.Cleanup(e.http.Close)
	return e
}

// raise appends alert.raised events and waits until the fold has them.
func (e *env) raise(evs ...events.Event) {
	e.t.Helper()
	if err := e.store.Append(e.ctx, evs...); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, ev := range evs {
		p := ev.Payload.(*events.AlertRaised)
		for {
			if _, ok := e.alerts.Get(ev.Tenant, p.AlertId); ok {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("alert %s not folded", p.AlertId)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func alertEvent(tenant, device, id, detector string, sev events.Severity, at time.Time) events.Event {
	ev := events.New(tenant, device, &events.AlertRaised{
		AlertId: id, Detector: detector, Severity: sev, Score: 0.7,
		WindowStart: at.Add(-time.Minute).UnixNano(), WindowEnd: at.UnixNano(),
		Evidence: [][]byte{func() []byte { id := events.NewID(); return id[:] }()},
		Summary:  "summary of " + id, Explanation: "why " + id, Key: "evil.example",
	})
	ev.Time = at
	return ev
}

type response struct {
	code   string // the error code and message of a 4xx/5xx
	msg    string
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (e *env) do(method, path, token, body string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{status: res.StatusCode, header: res.Header, raw: raw}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Fatalf("%s %s: content type %q: %s", method, path, ct, raw)
	}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		e.t.Fatalf("%s %s: body is not a JSON object: %v: %s", method, path, err, raw)
	}
	if res.StatusCode >= 400 {
		eb, _ := out.body["error"].(map[string]any)
		code, _ := eb["code"].(string)
		msg, _ := eb["message"].(string)
		if code == "" || msg == "" || len(out.body) != 1 {
			e.t.Fatalf("%s %s: error body %s, want {\"error\":{\"code\",\"message\"}}", method, path, raw)
		}
		out.code, out.msg = code, msg
	}
	return out
}

// expect checks the status of a request and returns the response.
func (e *env) expect(status int, method, path, token, body string) response {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.raw)
	}
	return r
}

func ids(r response, key string) []string {
	var out []string
	list, _ := r.body[key].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any)["id"].(string))
	}
	return out
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	e.raise(alertEvent("acme", "pos-1", "al-1", "replay-attack", events.Severity_SEVERITY_HIGH, t0))
	r := e.expect(401, "GET", "/v1/alerts", "", "")
	if r.code != "unauthorized" || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("missing token: %s", r.raw)
	}
	e.expect(401, "GET", "/v1/alerts", "halo_000000000000_"+strings.Repeat("x", 43), "")
	e.expect(401, "GET", "/v1/alerts", "nonsense", "")
	e.expect(401, "GET", "/v1/nowhere", "", "")          // auth before routing
	e.expect(401, "POST", "/v1/alerts/al-1/ack", "", "") // writes too
	e.expect(200, "GET", "/v1/openapi.json", "", "")     // the document is public
	e.expect(200, "GET", "/v1/alerts", e.viewer, "")     // viewers read
	e.expect(200, "GET", "/v1/devices/pos-1", e.viewer, "")
	r = e.expect(403, "POST", "/v1/alerts/al-1/ack", e.viewer, "")
	if r.code != "forbidden" {
		t.Fatalf("viewer write: %s", r.raw)
	}
	e.expect(403, "POST", "/v1/devices/pos-1/quarantine", e.viewer, "")
	e.expect(403, "DELETE", "/v1/interventions/iv-x", e.viewer, "")
	e.expect(200, "POST", "/v1/alerts/al-1/ack", e.acme, "")
	// Wrong methods and unknown routes, with a valid token.
	r = e.expect(405, "DELETE", "/v1/alerts", e.acme, "")
	if r.header.Get("Allow") != "GET" || r.code != "method_not_allowed" {
		t.Fatalf("405: %v %s", r.header, r.raw)
	}
	e.expect(404, "GET", "/v1/nowhere", e.acme, "")
	// Metrics count requests by route and status.
	if n := counterValue(e.srv.requests.WithLabelValues("GET /v1/alerts", "401")); n != 3 {
		t.Fatalf("401 count %v", n)
	}
	if n := counterValue(e.srv.requests.WithLabelValues("POST /v1/alerts/{id}/ack", "403")); n != 1 {
		t.Fatalf("403 count %v", n)
	}
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	e.raise(alertEvent("acme", "pos-1", "al-a", "replay-attack", events.Severity_SEVERITY_HIGH, t0),
		alertEvent("globex", "gx-1", "al-g", "replay-attack", events.Severity_SEVERITY_HIGH, t0))
	if got := ids(e.expect(200, "GET", "/v1/alerts", e.acme, ""), "alerts"); len(got) != 1 || got[0] != "al-a" {
		t.Fatalf("acme lists %v", got)
	}
	// Filters and hand-made cursors never reach globex's alerts.
	if got := ids(e.expect(200, "GET", "/v1/alerts?device=gx-1", e.acme, ""), "alerts"); len(got) != 0 {
		t.Fatalf("acme lists globex's device's alerts: %v", got)
	}
	if got := ids(e.expect(200, "GET", "/v1/devices", e.acme, ""), "devices"); strings.Join(got, ",") != "pos-1,pos-2" {
		t.Fatalf("acme devices %v", got)
	}
	for _, c := range [][3]string{
		{"GET", "/v1/alerts/al-g", ""},
		{"POST", "/v1/alerts/al-g/ack", ""},
		{"POST", "/v1/alerts/al-g/resolve", `{"verdict":"benign"}`},
		{"GET", "/v1/devices/gx-1", ""},
		{"POST", "/v1/devices/gx-1/quarantine", ""},
		{"DELETE", "/v1/devices/gx-1/quarantine", ""},
		{"POST", "/v1/interventions", `{"device":"gx-1","host":"evil.example"}`},
	} {
		r := e.expect(404, c[0], c[1], e.acme, c[2])
		if r.code != "not_found" {
			t.Fatalf("%s %s: %s", c[0], c[1], r.raw)
		}
	}
	// globex's intervention cannot be lifted or seen by acme.
	r := e.expect(201, "POST", "/v1/interventions", e.globex, `{"host":"evil.example"}`)
	gid := r.body["id"].(string)
	if got := ids(e.expect(200, "GET", "/v1/interventions", e.acme, ""), "interventions"); len(got) != 0 {
		t.Fatalf("acme sees %v", got)
	}
	e.expect(404, "DELETE", "/v1/interventions/"+gid, e.acme, "")
	if _, ok := e.ivs.Get(gid, time.Now()); !ok {
		t.Fatal("acme lifted globex's block")
	}
	// Nothing acme did touched globex's alert.
	if a, _ := e.alerts.Get("globex", "al-g"); a.Status != alerts.StatusOpen {
		t.Fatalf("globex's alert is %s", a.Status)
	}
}

func TestListFiltersAndPagination(t *testing.T) {
	e := newEnv(t)
	var evs []events.Event
	sevs := []events.Severity{events.Severity_SEVERITY_LOW, events.Severity_SEVERITY_HIGH, events.Severity_SEVERITY_CRITICAL}
	for i := range 120 {
		dev := []string{"pos-1", "pos-2"}[i%2]
		det := []string{"replay-attack", "anomaly", "port-scan"}[i%3]
		// Pairs of alerts share a time: the id breaks the tie.
		evs = append(evs, alertEvent("acme", dev, fmt.Sprintf("al-%03d", i), det, sevs[i%3], t0.Add(time.Duration(i/2)*time.Second)))
	}
	e.raise(evs...)

	walk := func(query string, limit int) []string {
		t.Helper()
		var out []string
		seen := map[string]bool{}
		cursor := ""
		for range 200 {
			q := query + fmt.Sprintf("&limit=%d", limit)
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			r := e.expect(200, "GET", "/v1/alerts?"+q, e.acme, "")
			page := ids(r, "alerts")
			if len(page) > limit {
				t.Fatalf("page of %d > %d", len(page), limit)
			}
			for _, id := range page {
				if seen[id] {
					t.Fatalf("%s twice", id)
				}
				seen[id] = true
			}
			out = append(out, page...)
			cursor, _ = r.body["next"].(string)
			if cursor == "" {
				return out
			}
		}
		t.Fatal("cursor walk does not end")
		return nil
	}
	all := walk("", 7)
	if len(all) != 120 || all[0] != "al-119" || all[1] != "al-118" || all[119] != "al-000" {
		t.Fatalf("walked %d alerts: %v...", len(all), all[:3])
	}
	// Clamped limit: 1000 > MaxLimit 50.
	r := e.expect(200, "GET", "/v1/alerts?limit=1000", e.acme, "")
	if n := len(ids(r, "alerts")); n != 50 || r.body["next"] == "" {
		t.Fatalf("limit=1000 returned %d alerts, next %q", n, r.body["next"])
	}
	// Filters.
	crit := walk("severity=critical&device=pos-1", 5)
	for _, id := range crit {
		var n int
		fmt.Sscanf(id, "al-%d", &n)
		if n%3 != 2 || n%2 != 0 {
			t.Fatalf("%s does not match severity=critical&device=pos-1", id)
		}
	}
	if len(crit) != 20 {
		t.Fatalf("%d critical alerts of pos-1, want 20", len(crit))
	}
	if got := walk("detector=anomaly&severity=high,low", 9); len(got) != 40 {
		t.Fatalf("%d anomaly alerts", len(got))
	}
	since := t0.Add(10 * time.Second).Format(time.RFC3339)
	until := t0.Add(20 * time.Second).Format(time.RFC3339)
	if got := walk("since="+since+"&until="+until, 3); len(got) != 20 || got[0] != "al-039" || got[19] != "al-020" {
		t.Fatalf("time range: %v", got)
	}
	e.expect(200, "POST", "/v1/alerts/al-005/ack", e.acme, `{"note":"mine"}`)
	if got := walk("status=acknowledged", 10); len(got) != 1 || got[0] != "al-005" {
		t.Fatalf("acknowledged: %v", got)
	}
	if got := walk("status=open", 10); len(got) != 119 {
		t.Fatalf("%d open", len(got))
	}
	a := e.expect(200, "GET", "/v1/alerts/al-005", e.acme, "").body
	for _, k := range []string{"id", "tenant", "device", "detector", "severity", "score", "status", "time", "summary", "evidence", "explanation", "count", "last_seen", "key", "window"} {
		if _, ok := a[k]; !ok {
			t.Errorf("alert has no %q: %v", k, a)
		}
	}
	if a["status"] != "acknowledged" || a["note"] != "mine" || !strings.HasPrefix(a["acknowledged_by"].(string), "token:") {
		t.Fatalf("acknowledged alert %v", a)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	e.raise(alertEvent("acme", "pos-1", "al-1", "replay-attack", events.Severity_SEVERITY_HIGH, t0))
	cases := []struct {
		status       int
		method, path string
		body, want   string
	}{
		{400, "GET", "/v1/alerts?limit=0", "", "limit"},
		{400, "GET", "/v1/alerts?limit=ten", "", "limit"},
		{400, "GET", "/v1/alerts?since=yesterday", "", "since"},
		{400, "GET", "/v1/alerts?until=2026-13-01T00:00:00Z", "", "until"},
		{400, "GET", "/v1/alerts?since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "", "before until"},
		{400, "GET", "/v1/alerts?status=closed", "", "status"},
		{400, "GET", "/v1/alerts?severity=urgent", "", "severity"},
		{400, "GET", "/v1/alerts?device=bad%20id", "", "device"},
		{400, "GET", "/v1/alerts?cursor=garbage", "", "cursor"},
		{400, "GET", "/v1/alerts?statu=open", "", "unknown query parameter"},
		{400, "GET", "/v1/devices?limit=1", "", `unknown query parameter "limit": GET /v1/devices takes none`},
		{400, "GET", "/v1/interventions?status=active", "", `unknown query parameter "status": GET /v1/interventions takes none`},
		{400, "GET", "/v1/alerts/al-1?verbose=1", "", "takes none"},
		{400, "GET", "/v1/webhooks?x=1", "", "takes none"},
		{400, "GET", "/v1/devices?a=%zz", "", "malformed query string"},
		{400, "GET", "/v1/alerts?limit=1&limit=2", "", "limit"},
		{400, "POST", "/v1/alerts/al-1/resolve", `{"verdict":"maybe"}`, "verdict"},
		{400, "POST", "/v1/alerts/al-1/resolve", `{}`, "verdict is required"},
		{400, "POST", "/v1/alerts/al-1/resolve", ``, "body is required"},
		{400, "POST", "/v1/alerts/al-1/resolve", `{"verdict":`, "malformed JSON"},
		{400, "POST", "/v1/alerts/al-1/resolve", `{"verdict":"benign","colour":"red"}`, `unknown field "colour"`},
		{400, "POST", "/v1/alerts/al-1/resolve", `{"verdict":"benign"} {}`, "after the JSON object"},
		{400, "POST", "/v1/alerts/al-1/resolve", `{"verdict":3}`, `field "verdict"`},
		{400, "POST", "/v1/alerts/al-1/resolve", `[1]`, "JSON object"},
		{400, "POST", "/v1/alerts/al-1/ack", `{"note":` + `"` + strings.Repeat("n", 5000) + `"}`, "note"},
		{413, "POST", "/v1/alerts/al-1/ack", `{"note":"` + strings.Repeat("n", 70<<10) + `"}`, "larger than"},
		{400, "POST", "/v1/devices/pos-1/quarantine", `{"expiry":"forever"}`, "expiry"},
		{400, "POST", "/v1/devices/pos-1/quarantine", `{"expiry":"-1h"}`, "expiry"},
		{400, "POST", "/v1/interventions", `{}`, "block"},
		{400, "POST", "/v1/interventions", `{"cidr":"10.0.0.0/99"}`, "cidr"},
		{400, "POST", "/v1/interventions", `{"host":"*"}`, "matches every destination"},
		{400, "POST", "/v1/interventions", `{"port":70000}`, "port"},
		{400, "POST", "/v1/interventions", `{"fingerprint":"zz"}`, "fingerprint"},
		{400, "POST", "/v1/interventions", `{"host":"[a"}`, "host glob"},
		{400, "GET", "/v1/devices/bad%20id", "", "device id"},
		{404, "GET", "/v1/alerts/al-none", "", "al-none"},
		{404, "DELETE", "/v1/interventions/iv-none", "", "iv-none"},
		{409, "POST", "/v1/alerts/al-1/ack", "", ""}, // set up below: resolved first
	}
	e.expect(200, "POST", "/v1/alerts/al-1/resolve", e.acme, `{"verdict":"false-positive"}`)
	for _, c := range cases {
		r := e.do(c.method, c.path, e.acme, c.body)
		msg := r.msg
		if r.status != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s %.40q: %d %s, want %d with %q", c.method, c.path, c.body, r.status, msg, c.status, c.want)
		}
	}
	e.expect(409, "POST", "/v1/alerts/al-1/resolve", e.acme, `{"verdict":"benign"}`)
}

func TestAckResolveRecordsEvents(t *testing.T) {
	e := newEnv(t)
	e.raise(alertEvent("acme", "pos-1", "al-1", "replay-attack", events.Severity_SEVERITY_CRITICAL, t0),
		alertEvent("acme", "pos-2", "al-2", "anomaly", events.Severity_SEVERITY_LOW, t0))
	if d := e.expect(200, "GET", "/v1/devices/pos-1", e.acme, "").body; d["open_alerts"] != 1.0 {
		t.Fatalf("device before: %v", d)
	}
	a := e.expect(200, "POST", "/v1/alerts/al-1/ack", e.acme, `{"note":"looking"}`).body
	if a["status"] != "acknowledged" {
		t.Fatalf("ack: %v", a)
	}
	e.expect(200, "POST", "/v1/alerts/al-1/ack", e.acme, "") // twice: recorded once
	a = e.expect(200, "POST", "/v1/alerts/al-1/resolve", e.acme, `{"verdict":"true-positive","note":"confirmed replay"}`).body
	if a["status"] != "resolved" || a["verdict"] != "true-positive" {
		t.Fatalf("resolve: %v", a)
	}
	// A GET right after sees the change.
	if g := e.expect(200, "GET", "/v1/alerts/al-1", e.acme, "").body; g["status"] != "resolved" {
		t.Fatalf("get after resolve: %v", g)
	}
	if d := e.expect(200, "GET", "/v1/devices/pos-1", e.acme, "").body; d["open_alerts"] != 0.0 {
		t.Fatalf("device after: %v", d)
	}
	counts := map[events.Type]int{}
	var label *events.LabelRecorded
	for ev, err := range e.store.Read(e.ctx, events.Query{Tenant: "acme", Types: []events.Type{events.TypeAlertAcknowledged, events.TypeAlertResolved, events.TypeLabelRecorded}}) {
		if err != nil {
			t.Fatal(err)
		}
		counts[ev.Type()]++
		if l, ok := ev.Payload.(*events.LabelRecorded); ok {
			label = l
			if ev.Device != "pos-1" {
				t.Fatalf("label on device %q", ev.Device)
			}
		}
		if p, ok := ev.Payload.(*events.AlertAcknowledged); ok && !strings.HasPrefix(p.Actor, "token:") {
			t.Fatalf("actor %q", p.Actor)
		}
	}
	if counts[events.TypeAlertAcknowledged] != 1 || counts[events.TypeAlertResolved] != 1 || counts[events.TypeLabelRecorded] != 1 {
		t.Fatalf("recorded %v", counts)
	}
	if label.Label != "true-positive" || !label.Malicious || label.AlertId != "al-1" || label.Source != events.LabelSource_LABEL_SOURCE_VERDICT ||
		label.Start != t0.Add(-time.Minute).UnixNano() || label.End != t0.UnixNano() || len(label.EventIds) != 1 {
		t.Fatalf("label %+v", label)
	}
}

func TestQuarantineAndBlocks(t *testing.T) {
	e := newEnv(t)
	r := e.expect(201, "POST", "/v1/devices/pos-1/quarantine", e.acme, "")
	qid := r.body["id"].(string)
	if r.body["kind"] != "quarantine" || r.body["device"] != "pos-1" {
		t.Fatalf("quarantine: %s", r.raw)
	}
	if _, ok := e.ivs.Quarantine("acme", "pos-1", time.Now()); !ok {
		t.Fatal("the fold has no quarantine")
	}
	d := e.expect(200, "GET", "/v1/devices/pos-1", e.acme, "").body
	if d["status"] != "quarantined" {
		t.Fatalf("device %v", d)
	}
	// Quarantining again returns the quarantine in force.
	if again := e.expect(200, "POST", "/v1/devices/pos-1/quarantine", e.acme, `{"reason":"again"}`); again.body["id"] != qid {
		t.Fatalf("second quarantine %s", again.raw)
	}
	r = e.expect(201, "POST", "/v1/devices/pos-2/quarantine", e.acme, `{"reason":"suspicious","expiry":"1h"}`)
	if r.body["reason"] != "suspicious" || r.body["expires"] == nil {
		t.Fatalf("quarantine with expiry: %s", r.raw)
	}
	r = e.expect(200, "DELETE", "/v1/devices/pos-1/quarantine", e.acme, "")
	if r.body["released"] != 1.0 || r.body["device"].(map[string]any)["status"] != "active" {
		t.Fatalf("release: %s", r.raw)
	}
	if _, ok := e.ivs.Quarantine("acme", "pos-1", time.Now()); ok {
		t.Fatal("still quarantined in the fold")
	}
	if r := e.expect(200, "DELETE", "/v1/devices/pos-1/quarantine", e.acme, ""); r.body["released"] != 0.0 {
		t.Fatalf("second release: %s", r.raw)
	}

	r = e.expect(201, "POST", "/v1/interventions", e.acme, `{"host":"*.Evil.example","port":443,"reason":"C&C","expiry":"2h"}`)
	bid := r.body["id"].(string)
	m := r.body["match"].(map[string]any)
	if r.body["kind"] != "block" || m["host"] != "*.evil.example" || m["port"] != 443.0 {
		t.Fatalf("block: %s", r.raw)
	}
	if _, ok := e.ivs.Block("acme", "pos-2", intervention.Target{Host: "c2.evil.example", Port: 443}, time.Now()); !ok {
		t.Fatal("the fold does not block")
	}
	r = e.expect(201, "POST", "/v1/interventions", e.acme, `{"device":"pos-2","cidr":"10.1.0.0/16","fingerprint":"0a0b","dry_run":true}`)
	if r.body["dry_run"] != true || r.body["device"] != "pos-2" {
		t.Fatalf("device block: %s", r.raw)
	}
	got := ids(e.expect(200, "GET", "/v1/interventions", e.viewer, ""), "interventions")
	if len(got) != 3 || got[1] != bid {
		t.Fatalf("interventions %v", got)
	}
	e.expect(200, "DELETE", "/v1/interventions/"+bid, e.acme, "")
	e.expect(404, "DELETE", "/v1/interventions/"+bid, e.acme, "")
	if _, ok := e.ivs.Get(bid, time.Now()); ok {
		t.Fatal("block still in force")
	}
	var applied, lifted int
	for ev, err := range e.store.Read(e.ctx, events.Query{Tenant: "acme", Types: intervention.Types}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type() == events.TypeInterventionApplied {
			applied++
		} else {
			lifted++
		}
	}
	if applied != 4 || lifted != 2 {
		t.Fatalf("%d applied, %d lifted in the log", applied, lifted)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
