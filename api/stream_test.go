package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// sseEvent is one event or comment read from a stream.
type sseEvent struct {
	id, event, data string
	comment         string
}

// sseClient is a connected stream.
type sseClient struct {
	events chan sseEvent
	cancel context.CancelFunc
	status int
	header http.Header
}

// stream connects to url's /v1/alerts/stream with token and, when lastID
// is not "", Last-Event-ID. It returns once the response headers arrived
// and the opening comment was read (the subscriber is then registered).
func stream(t testing.TB, base, token, lastID string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &sseClient{events: make(chan sseEvent, 1024), cancel: cancel, status: res.StatusCode, header: res.Header}
	t.Cleanup(cancel)
	if res.StatusCode != 200 {
		res.Body.Close()
		return c
	}
	opened := make(chan struct{})
	go func() {
		defer res.Body.Close()
		defer close(c.events)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var ev sseEvent
		first := true
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if first {
					first = false
					close(opened)
				} else if ev != (sseEvent{}) {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not open")
	}
	return c
}

// next returns the next alert event, skipping comments unless wantComment.
func (c *sseClient) next(t testing.TB, wantComment bool) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatal("stream ended")
			}
			if ev.comment != "" && ev.data == "" && !wantComment {
				continue
			}
			return ev
		case <-timeout:
			t.Fatal("no event within 10 s")
		}
	}
}

// quiet checks that no alert event arrives within d.
func (c *sseClient) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-c.events:
			if ok && ev.data != "" {
				t.Fatalf("unexpected event %s: %s", ev.id, ev.data)
			}
		case <-timeout:
			return
		}
	}
}

func alertOf(t testing.TB, ev sseEvent) map[string]any {
	t.Helper()
	if ev.event != "alert" {
		t.Fatalf("event type %q, want alert", ev.event)
	}
	var a map[string]any
	if err := json.Unmarshal([]byte(ev.data), &a); err != nil {
		t.Fatalf("data %q: %v", ev.data, err)
	}
	return a
}

func TestStreamTenantIsolation(t *testing.T) {
	e := newEnv(t)
	acme := stream(t, e.http.URL, e.acme, "")
	globex := stream(t, e.http.URL, e.globex, "")
	if ct := acme.header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	e.raise(alertEvent("globex", "gx-1", "gx-al", "replay-attack", events.Severity_SEVERITY_HIGH, t0))
	e.raise(alertEvent("acme", "pos-1", "ac-al", "replay-attack", events.Severity_SEVERITY_HIGH, t0))
	a := alertOf(t, acme.next(t, false))
	if a["id"] != "ac-al" || a["tenant"] != "acme" {
		t.Fatalf("acme stream got %v", a)
	}
	g := alertOf(t, globex.next(t, false))
	if g["id"] != "gx-al" {
		t.Fatalf("globex stream got %v", g)
	}
	// The same JSON as GET /v1/alerts/{id}.
	got := e.expect(200, "GET", "/v1/alerts/ac-al", e.acme, "").body
	gb, _ := json.Marshal(got)
	ab, _ := json.Marshal(a)
	if string(gb) != string(ab) {
		t.Fatalf("stream data %s\n!= GET %s", ab, gb)
	}
	// A resume cursor crafted to reach back before everything still only
	// replays the caller's own alerts.
	replay := stream(t, e.http.URL, e.acme, "0")
	if a := alertOf(t, replay.next(t, false)); a["id"] != "ac-al" {
		t.Fatalf("replay from 0 got %v", a)
	}
	acme.quiet(t, 200*time.Millisecond)
	replay.quiet(t, 100*time.Millisecond)
	// Unauthenticated and bad cursors are refused before streaming.
	if c := stream(t, e.http.URL, "nonsense", ""); c.status != 401 {
		t.Fatalf("bad token: %d", c.status)
	}
	if c := stream(t, e.http.URL, e.acme, "abc"); c.status != 400 {
		t.Fatalf("bad Last-Event-ID: %d", c.status)
	}
}

func TestStreamResumeNoLossNoDuplicates(t *testing.T) {
	e := newEnv(t)
	c := stream(t, e.http.URL, e.viewer, "")
	for i := range 3 {
		e.raise(alertEvent("acme", "pos-1", fmt.Sprintf("al-%d", i), "replay-attack", events.Severity_SEVERITY_HIGH, t0.Add(time.Duration(i)*time.Second)))
	}
	first := c.next(t, false)
	second := c.next(t, false)
	if alertOf(t, first)["id"] != "al-0" || alertOf(t, second)["id"] != "al-1" {
		t.Fatalf("order: %s %s", first.data, second.data)
	}
	c.cancel() // disconnect after the second event

	// Changes while disconnected: an acknowledgement and two new alerts.
	e.expect(200, "POST", "/v1/alerts/al-0/ack", e.acme, "")
	for i := 3; i < 5; i++ {
		e.raise(alertEvent("acme", "pos-2", fmt.Sprintf("al-%d", i), "dns-tunnel", events.Severity_SEVERITY_LOW, t0.Add(time.Duration(i)*time.Second)))
	}
	// Keep raising while reconnecting: nothing may fall in the gap between
	// the replay and the live feed.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 5; i < 25; i++ {
			ev := alertEvent("acme", "pos-2", fmt.Sprintf("al-%d", i), "dns-tunnel", events.Severity_SEVERITY_LOW, t0.Add(time.Duration(i)*time.Second))
			if err := e.store.Append(e.ctx, ev); err != nil {
				t.Error(err)
			}
		}
	}()
	r := stream(t, e.http.URL, e.viewer, second.id)
	var got []string
	last, _ := strconv.ParseUint(second.id, 10, 64)
	for len(got) < 24 {
		ev := r.next(t, false)
		id, err := strconv.ParseUint(ev.id, 10, 64)
		if err != nil || id <= last {
			t.Fatalf("event id %q after %d: not increasing", ev.id, last)
		}
		last = id
		a := alertOf(t, ev)
		got = append(got, fmt.Sprintf("%s/%s", a["id"], a["status"]))
	}
	<-done
	want := []string{"al-2/open", "al-0/acknowledged"}
	for i := 3; i < 25; i++ {
		want = append(want, fmt.Sprintf("al-%d/open", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("resumed stream:\n got %v\nwant %v", got, want)
	}
	r.quiet(t, 200*time.Millisecond)

	// ?last_event_id= works as the header does (EventSource's first
	// connection cannot set headers).
	req, _ := http.NewRequest("GET", e.http.URL+"/v1/alerts/stream?last_event_id="+second.id, nil)
	req.Header.Set("Authorization", "Bearer "+e.acme)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			if !strings.Contains(sc.Text(), `"id":"al-2"`) {
				t.Fatalf("query resume starts with %s", sc.Text())
			}
			break
		}
	}
}

// TestStreamResumeBeyondHistory resumes from a cursor older than the
// history kept in memory: every alert changed since arrives once, in its
// latest state.
func TestStreamResumeBeyondHistory(t *testing.T) {
	e := newEnv(t)
	srv, err := New(Config{Store: e.store, Registry: e.reg, Alerts: e.alerts, Interventions: e.ivs, StreamHistory: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go srv.Run(ctx)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	c := stream(t, hs.URL, e.acme, "")
	e.raise(alertEvent("acme", "pos-1", "old-0", "replay-attack", events.Severity_SEVERITY_HIGH, t0))
	first := c.next(t, false)
	c.cancel()
	for i := 1; i < 5; i++ {
		e.raise(alertEvent("acme", "pos-1", fmt.Sprintf("old-%d", i), "replay-attack", events.Severity_SEVERITY_HIGH, t0.Add(time.Duration(i)*time.Second)))
	}
	// A live subscriber sees the acknowledgement once the stream has folded
	// it; only then is the old-cursor resume below deterministic.
	live := stream(t, hs.URL, e.acme, "")
	e.expect(200, "POST", "/v1/alerts/old-1/ack", e.acme, "")
	for a := alertOf(t, live.next(t, false)); a["id"] != "old-1" || a["status"] != "acknowledged"; a = alertOf(t, live.next(t, false)) {
	}
	live.cancel()
	e.raise(alertEvent("globex", "gx-1", "gx-0", "replay-attack", events.Severity_SEVERITY_HIGH, t0))
	r := stream(t, hs.URL, e.acme, first.id)
	var got []string
	for len(got) < 4 {
		a := alertOf(t, r.next(t, false))
		got = append(got, fmt.Sprintf("%s/%s", a["id"], a["status"]))
	}
	want := []string{"old-2/open", "old-3/open", "old-4/open", "old-1/acknowledged"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	r.quiet(t, 200*time.Millisecond)
}

func TestStreamHeartbeatAndShutdown(t *testing.T) {
	e := newEnv(t)
	srv, err := New(Config{Store: e.store, Registry: e.reg, Alerts: e.alerts, Interventions: e.ivs, StreamHeartbeat: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	ran := make(chan struct{})
	go func() { srv.Run(ctx); close(ran) }()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	c := stream(t, hs.URL, e.acme, "")
	if ev := c.next(t, true); ev.comment != "ping" {
		t.Fatalf("want a ping comment, got %+v", ev)
	}
	if ev := c.next(t, true); ev.comment != "ping" {
		t.Fatalf("want a second ping, got %+v", ev)
	}
	cancel() // the server stops: the stream ends with a final comment
	for ev := range c.events {
		if strings.HasPrefix(ev.comment, "disconnected: server shutting down") {
			<-ran
			if c := stream(t, hs.URL, e.acme, ""); c.status != 503 {
				t.Fatalf("stream after shutdown: %d", c.status)
			}
			return
		}
	}
	t.Fatal("stream ended without the shutdown comment")
}

func TestStreamSlowConsumerDisconnected(t *testing.T) {
	e := newEnv(t)
	healthy := stream(t, e.http.URL, e.acme, "")
	// A subscriber that never reads, with room for 2 changes.
	var slow *subscription
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		if slow, err = e.srv.hub.subscribe(e.ctx, "acme", 0, false, 2); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 4 {
		e.raise(alertEvent("acme", "pos-1", fmt.Sprintf("al-%d", i), "replay-attack", events.Severity_SEVERITY_HIGH, t0.Add(time.Duration(i)*time.Second)))
	}
	select {
	case <-slow.done:
		if slow.reason != dropSlow {
			t.Fatalf("reason %q", slow.reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow subscriber not disconnected")
	}
	for i := range 4 { // the others are not held back
		if a := alertOf(t, healthy.next(t, false)); a["id"] != fmt.Sprintf("al-%d", i) {
			t.Fatalf("healthy stream got %v", a["id"])
		}
	}
	if v := gaugeValue(t, e, "halo_api_stream_subscribers"); v != 1 {
		t.Fatalf("halo_api_stream_subscribers = %v, want 1", v)
	}
	// Over HTTP, the final comment says why.
	if !strings.Contains(dropSlow, "Last-Event-ID") {
		t.Fatal("the slow-consumer comment must tell how to resume")
	}
}

func gaugeValue(t *testing.T, e *env, name string) float64 {
	t.Helper()
	mfs, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// BenchmarkStreamFanout1000 raises one alert per iteration and measures
// its delivery latency to each of 1,000 connected stream subscribers (from
// before the append to the log to the data line read by the client).
func BenchmarkStreamFanout1000(b *testing.B) {
	const subscribers = 1000
	e := newEnv(b)
	tr := &http.Transport{MaxIdleConnsPerHost: subscribers}
	client := &http.Client{Transport: tr}
	var (
		start atomic.Int64
		mu    sync.Mutex
		lat   []time.Duration
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{}, subscribers)
	for range subscribers {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+"/v1/alerts/stream", nil)
		req.Header.Set("Authorization", "Bearer "+e.acme)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			opened := false
			for sc.Scan() {
				line := sc.Text()
				if !opened && line == "" {
					opened = true
					ready <- struct{}{}
				}
				if strings.HasPrefix(line, "data: ") {
					d := time.Duration(time.Now().UnixNano() - start.Load())
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}
		}()
	}
	for range subscribers {
		<-ready
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mu.Lock()
		want := len(lat) + subscribers
		mu.Unlock()
		start.Store(time.Now().UnixNano())
		ev := alertEvent("acme", "pos-1", fmt.Sprintf("bench-%d", i), "replay-attack", events.Severity_SEVERITY_HIGH, t0)
		if err := e.store.Append(e.ctx, ev); err != nil {
			b.Fatal(err)
		}
		for {
			mu.Lock()
			n := len(lat)
			mu.Unlock()
			if n >= want {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(float64(p(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
