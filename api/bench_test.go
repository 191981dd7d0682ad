package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
)

// BenchmarkListAlerts100k measures GET /v1/alerts through the handler
// (authentication, parsing, the fold's List, JSON) over a tenant with
// 100,000 alerts on 500 devices from 5 detectors, a fifth of them
// acknowledged and a tenth resolved. Goal: p99 < 20 ms.
func BenchmarkListAlerts100k(b *testing.B) {
	e := newEnv(b)
	set := alerts.NewSet()
	sevs := []events.Severity{events.Severity_SEVERITY_INFO, events.Severity_SEVERITY_LOW, events.Severity_SEVERITY_MEDIUM,
		events.Severity_SEVERITY_HIGH, events.Severity_SEVERITY_CRITICAL}
	detectors := []string{"replay-attack", "beacon", "dns-tunnel", "new-destination", "volume"}
	start := time.Now().Add(-100000 * time.Second)
	for i := range 100000 {
		id := fmt.Sprintf("al-%06d", i)
		ev := alertEvent("acme", fmt.Sprintf("pos-%03d", i%500), id, detectors[(i/500)%5], sevs[(i*7)%5], start.Add(time.Duration(i)*time.Second))
		set.Apply(&ev)
		switch {
		case i%10 == 3:
			r := events.New("acme", ev.Device, &events.AlertResolved{AlertId: id, Verdict: events.Verdict_VERDICT_BENIGN, Actor: "bench"})
			set.Apply(&r)
		case i%5 == 1:
			a := events.New("acme", ev.Device, &events.AlertAcknowledged{AlertId: id, Actor: "bench"})
			set.Apply(&a)
		}
	}
	srv, err := New(Config{Store: e.store, Registry: e.reg, Alerts: set, Interventions: e.ivs, RateLimit: -1})
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		"severity=high&status=open&limit=100",
		"device=pos-123",
		"device=pos-123&severity=critical&limit=100",
		"detector=volume&status=resolved&limit=100",
	} {
		b.Run(q, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				req := httptest.NewRequest("GET", "/v1/alerts?"+q, nil)
				req.Header.Set("Authorization", "Bearer "+e.acme)
				w := httptest.NewRecorder()
				t := time.Now()
				srv.ServeHTTP(w, req)
				lat = append(lat, time.Since(t))
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}
