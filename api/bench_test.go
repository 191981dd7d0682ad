package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
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

// BenchmarkBuildTimeline measures a 30-minute device timeline with the
// default 24 h warm-up over a tenant of 20 devices sending a few
// connections a minute each (about 230 k events in the read range): the
// read, the replay of the tenant's history through the pipeline's
// processor (windows, features, every detector), and the JSON. The baseline
// is the raw read of the same range in the same run (store.Read with
// decode); processor is the pipeline's processor alone over the same events
// from memory (the replay's share). events/s counts the events read. Goal:
// ≥ 0.5× the raw read rate, as for a full replay (issue 7).
func BenchmarkBuildTimeline(b *testing.B) {
	e := newEnv(b)
	devs := make([]string, 20)
	for i := range devs {
		devs[i] = fmt.Sprintf("pos-%02d", i)
	}
	base := time.Now().UTC().Add(-25 * time.Hour).Truncate(time.Minute)
	traffic(b, e, devs, base, 24*60+30)
	to := base.Add(24*time.Hour + 30*time.Minute)
	from := to.Add(-30 * time.Minute)
	q := events.Query{From: from.Add(-24 * time.Hour), To: to.Add(65 * time.Second), Tenant: "acme"}
	count := func() int {
		n := 0
		for _, err := range e.store.Read(e.ctx, q) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		return n
	}
	n := count()
	b.Run("raw-read", func(b *testing.B) {
		for b.Loop() {
			if count() != n {
				b.Fatal("the range changed")
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	// The pipeline's processor alone over the same events, from memory:
	// the replay's share of the timeline's cost.
	var feed []events.Event
	for ev, err := range e.store.Read(e.ctx, q) {
		if err != nil {
			b.Fatal(err)
		}
		feed = append(feed, ev)
	}
	b.Run("processor", func(b *testing.B) {
		for b.Loop() {
			proc, err := pipeline.NewProcessor(pipeline.Config{})
			if err != nil {
				b.Fatal(err)
			}
			for i := range feed {
				proc.Process(&feed[i])
			}
			proc.Flush()
			proc.Close()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("timeline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tl, err := BuildTimeline(e.ctx, e.store, e.alerts, TimelineRequest{Tenant: "acme", Device: "pos-03", From: from, To: to})
			if err != nil || len(tl.Windows) != 30 {
				b.Fatalf("%v, %d windows", err, len(tl.Windows))
			}
			if _, err := json.Marshal(tl); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/timeline")
	})
}
