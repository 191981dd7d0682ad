package api

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
)

// limitedServer is a second server over e's folds with a rate limit.
func (e *env) limitedServer(perSecond float64, burst int) *httptest.Server {
	e.t.Helper()
	srv, err := New(Config{Store: e.store, Registry: e.reg, Alerts: e.alerts, Interventions: e.ivs, RateLimit: perSecond, RateBurst: burst})
	if err != nil {
		e.t.Fatal(err)
	}
	go srv.Run(e.ctx)
	hs := httptest.NewServer(srv)
	e.t.Cleanup(hs.Close)
	return hs
}

func TestRateLimitBurst(t *testing.T) {
	e := newEnv(t)
	e.http = e.limitedServer(0, 0) // the defaults: 50/s, bursts of 100
	var limited, ok int
	var last response
	for range 160 {
		r := e.do("GET", "/v1/devices", e.acme, "")
		switch r.status {
		case 200:
			ok++
		case 429:
			limited++
			last = r
		default:
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
	}
	if limited == 0 || ok < 100 {
		t.Fatalf("160 requests at once: %d ok, %d limited; want >= 100 ok and some 429s", ok, limited)
	}
	if last.code != CodeRateLimited {
		t.Fatalf("429 body: %s", last.raw)
	}
	if s, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", last.header.Get("Retry-After"))
	}
	// Another token of the same tenant, and another tenant, have their own buckets.
	e.expect(200, "GET", "/v1/devices", e.viewer, "")
	e.expect(200, "GET", "/v1/devices", e.globex, "")
	// Unauthenticated requests get 401, never 429.
	e.expect(401, "GET", "/v1/devices", "", "")
	e.expect(401, "GET", "/v1/devices", "halo_000000000000_"+"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "")
	// Public routes are not limited.
	e.expect(200, "GET", "/v1/openapi.json", "", "")
}

func TestRateLimitSteady(t *testing.T) {
	e := newEnv(t)
	// A small burst so that only the refill rate lets a steady client through.
	e.http = e.limitedServer(50, 5)
	tick := time.NewTicker(50 * time.Millisecond) // 20 requests/s
	defer tick.Stop()
	for i := range 40 {
		<-tick.C
		if r := e.do("GET", "/v1/alerts", e.acme, ""); r.status != 200 {
			t.Fatalf("request %d at 20/s: %d %s", i, r.status, r.raw)
		}
	}
}

func TestRateLimitSeparateTokens(t *testing.T) {
	e := newEnv(t)
	e.http = e.limitedServer(1, 3)
	for range 3 {
		e.expect(200, "GET", "/v1/devices", e.acme, "")
	}
	e.expect(429, "GET", "/v1/devices", e.acme, "")
	for range 3 {
		e.expect(200, "GET", "/v1/devices", e.viewer, "")
	}
	e.expect(429, "GET", "/v1/devices", e.viewer, "")
	tok, err := identity.AddToken(e.ctx, e.store, e.reg, "acme", events.Role_ROLE_OPERATOR, "test")
	if err != nil {
		t.Fatal(err)
	}
	e.expect(200, "GET", "/v1/devices", tok, "")
}

func TestRateLimitStreamCountsConnection(t *testing.T) {
	e := newEnv(t)
	e.http = e.limitedServer(0.01, 2)
	// Streams answer 503 until the hub has loaded the log: wait for it with
	// another tenant's token, so as to spend nothing from acme's bucket.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c := stream(t, e.http.URL, e.globex, "")
		c.cancel()
		if c.status == 200 {
			break
		}
		if c.status != 503 || time.Now().After(deadline) {
			t.Fatalf("stream: %d", c.status)
		}
	}
	c := stream(t, e.http.URL, e.acme, "") // takes 1 of acme's 2
	if c.status != 200 {
		t.Fatalf("stream: %d", c.status)
	}
	for i := range 3 {
		e.raise(alertEvent("acme", "pos-1", fmt.Sprintf("al-%d", i), "replay-attack", events.Severity_SEVERITY_HIGH, t0.Add(time.Duration(i)*time.Second)))
		c.next(t, false)
	}
	// The three events delivered took nothing: one request is left.
	e.expect(200, "GET", "/v1/alerts", e.acme, "")
	e.expect(429, "GET", "/v1/alerts", e.acme, "")
}

func TestTokenLimiterForgetsIdleBuckets(t *testing.T) {
	l := newTokenLimiter(50, 100)
	now := time.Unix(1e9, 0)
	for i := range 1000 {
		if ok, _ := l.allow("tok"+strconv.Itoa(i), now); !ok {
			t.Fatal("first request refused")
		}
	}
	if n := l.size(); n != 1000 {
		t.Fatalf("%d buckets", n)
	}
	// Once every bucket has refilled, the next request sweeps them away.
	l.allow("tok-new", now.Add(l.idle))
	if n := l.size(); n != 1 {
		t.Fatalf("%d buckets after the idle period, want 1", n)
	}
	// A bucket in use is kept.
	if ok, _ := l.allow("tok-new", now.Add(2*l.idle-time.Millisecond)); !ok {
		t.Fatal("refused")
	}
	l.allow("other", now.Add(2*l.idle))
	if n := l.size(); n != 2 {
		t.Fatalf("%d buckets, want 2", n)
	}
}

func TestTokenLimiter(t *testing.T) {
	l := newTokenLimiter(50, 100)
	now := time.Unix(1e9, 0)
	refused := 0
	var wait time.Duration
	for range 150 {
		if ok, d := l.allow("a", now); !ok {
			refused, wait = refused+1, d
		}
	}
	if refused != 50 || wait <= 0 || wait > time.Second {
		t.Fatalf("150 at once: %d refused (want 50), wait %v", refused, wait)
	}
	// Steady 20/s, even with a burst of 1, is never refused.
	l = newTokenLimiter(50, 1)
	for i := range 1000 {
		if ok, _ := l.allow("b", now.Add(time.Duration(i)*50*time.Millisecond)); !ok {
			t.Fatalf("request %d at 20/s refused", i)
		}
	}
	if newTokenLimiter(-1, 1) != nil {
		t.Fatal("a negative rate should disable the limit")
	}
	var wg sync.WaitGroup // concurrent use (run with -race)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				l.allow(strconv.Itoa(i*j%17), now.Add(time.Duration(j)*time.Millisecond))
			}
		}()
	}
	wg.Wait()
}
