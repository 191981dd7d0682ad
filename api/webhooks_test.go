package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/webhooks"
)

// TestWebhooksEndToEnd registers webhooks through the API, raises alerts in
// the log and checks that a real receiver gets only its tenant's alerts,
// signed, and that the deliveries list shows them.
func TestWebhooksEndToEnd(t *testing.T) {
	e := newEnv(t)
	const secret = "acme-webhook-secret-0123456789"
	var (
		mu  sync.Mutex
		got []map[string]any
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhooks.Verify([]byte(secret), r.Header.Get("X-Halo-Timestamp"), r.Header.Get("X-Halo-Signature"), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), 401)
			return
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	eng, err := webhooks.New(webhooks.Config{Dir: t.TempDir(), BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Store: e.store, Registry: e.reg, Alerts: e.alerts, Interventions: e.ivs, Webhooks: eng})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.Run(ctx) }()
	go func() { defer wg.Done(); eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); eng.Close() })
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e.http = hs

	r := e.expect(201, "POST", "/v1/webhooks", e.acme, `{"url":"`+rcv.URL+`/in","secret":"`+secret+`","filter":{"severity":["HIGH"]}}`)
	if strings.Contains(string(r.raw), secret) || r.body["id"] == "" {
		t.Fatalf("create answered %s", r.raw)
	}
	id := r.body["id"].(string)
	e.expect(201, "POST", "/v1/webhooks", e.globex, `{"url":"`+rcv.URL+`/gx","secret":"globex-webhook-secret-000","filter":{"device":["nope"]}}`)
	e.expect(400, "POST", "/v1/webhooks", e.acme, `{"url":"`+rcv.URL+`","secret":"short"}`)
	e.expect(400, "POST", "/v1/webhooks", e.acme, `{"url":"`+rcv.URL+`","secret":"`+secret+`","extra":1}`)
	e.expect(400, "POST", "/v1/webhooks", e.acme, `{"url":"gopher://x","secret":"`+secret+`"}`)
	e.expect(400, "POST", "/v1/webhooks", e.acme, `{"url":"`+rcv.URL+`","secret":"`+secret+`","filter":{"severity":["urgent"]}}`)
	if r := e.expect(400, "POST", "/v1/webhooks", e.acme, `{"url":"`+rcv.URL+`","secret":"`+secret+`","filter":{"detector":["beconing"]}}`); !strings.Contains(r.msg, `unknown detector "beconing"`) {
		t.Errorf("a filter of an unknown detector: %s", r.msg)
	}
	e.expect(400, "POST", "/v1/webhooks", e.acme, `{"url":"`+rcv.URL+`","secret":"`+secret+`","filter":{"device":["a/b"]}}`)
	e.expect(403, "POST", "/v1/webhooks", e.viewer, `{"url":"`+rcv.URL+`","secret":"`+secret+`"}`)
	list := e.expect(200, "GET", "/v1/webhooks", e.viewer, "")
	if ids(list, "webhooks")[0] != id || len(ids(list, "webhooks")) != 1 || strings.Contains(string(list.raw), secret) {
		t.Fatalf("list %s", list.raw)
	}
	// Tenant isolation: globex cannot see, read or delete acme's webhook.
	e.expect(404, "GET", "/v1/webhooks/"+id+"/deliveries", e.globex, "")
	e.expect(404, "DELETE", "/v1/webhooks/"+id, e.globex, "")

	e.raise(alertEvent("globex", "gx-1", "gx-al", "replay-attack", events.Severity_SEVERITY_HIGH, t0))
	e.raise(alertEvent("acme", "pos-1", "low-al", "dns-tunnel", events.Severity_SEVERITY_LOW, t0))
	e.raise(alertEvent("acme", "pos-1", "hi-al", "replay-attack", events.Severity_SEVERITY_HIGH, t0))
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := e.expect(200, "GET", "/v1/webhooks/"+id+"/deliveries", e.acme, "")
		ds, _ := d.body["deliveries"].([]any)
		if len(ds) == 1 && ds[0].(map[string]any)["status"] == "delivered" {
			dl := ds[0].(map[string]any)
			// At least once: under load a slow first attempt may time out
			// and be retried.
			if dl["alert"] != "hi-al" || dl["type"] != "alert.raised" || dl["attempts"].(float64) < 1 {
				t.Fatalf("delivery %v", dl)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %s", d.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if len(got) == 0 {
		t.Fatal("the receiver got nothing")
	}
	for _, g := range got { // only the high-severity acme alert, maybe more than once (at least once)
		if g["alert"].(map[string]any)["id"] != "hi-al" || g["alert"].(map[string]any)["tenant"] != "acme" {
			t.Fatalf("receiver got %v", got)
		}
	}
	mu.Unlock()
	e.expect(200, "DELETE", "/v1/webhooks/"+id, e.acme, "")
	e.expect(404, "GET", "/v1/webhooks/"+id+"/deliveries", e.acme, "")
}

// TestWebhookCreateWaitsForTheFeed: until the server follows the alert
// changes (Run), a webhook cannot be created, since the changes raised
// before the feed subscribes would never reach it: the API answers 503
// with a reason, and creates it once the feed runs.
func TestWebhookCreateWaitsForTheFeed(t *testing.T) {
	defer func(d time.Duration) { webhookStartWait = d }(webhookStartWait)
	webhookStartWait = 100 * time.Millisecond
	e := newEnv(t)
	eng, err := webhooks.New(webhooks.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	srv, err := New(Config{Store: e.store, Registry: e.reg, Alerts: e.alerts, Interventions: e.ivs, Webhooks: eng})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e.http = hs
	const body = `{"url":"http://127.0.0.1:9/in","secret":"acme-webhook-secret-0123456789"}`
	r := e.expect(503, "POST", "/v1/webhooks", e.acme, body)
	if !strings.Contains(string(r.raw), "not followed yet") {
		t.Fatalf("503 without the reason: %s", r.raw)
	}
	if list := e.expect(200, "GET", "/v1/webhooks", e.acme, ""); len(ids(list, "webhooks")) != 0 {
		t.Fatalf("a refused webhook is listed: %s", list.raw)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	webhookStartWait = 10 * time.Second
	e.expect(201, "POST", "/v1/webhooks", e.acme, body)
	if c, ok := eng.Cursor(); !ok {
		t.Fatalf("the feed started without a cursor (%d)", c)
	}
}
