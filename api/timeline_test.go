package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
)

func TestDeviceTimeline(t *testing.T) {
	e := newEnv(t)
	base := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	at := func(ev events.Event, d time.Duration) events.Event { ev.Time = base.Add(d); return ev }
	opened := at(events.New("acme", "pos-1", &events.ConnOpened{ConnId: "c1", DstHost: "pay.example", DstPort: 443, Mode: events.ConnMode_CONN_MODE_CONNECT}), 2*time.Second)
	tx := at(events.New("acme", "pos-1", &events.TxObserved{ConnId: "c1", Method: "POST", Host: "pay.example", Path: "/auth", Status: 200, Outcome: events.TxOutcome_TX_OUTCOME_FORWARDED, StrictFp: []byte{0xab}}), 3*time.Second)
	closed := at(events.New("acme", "pos-1", &events.ConnClosed{ConnId: "c1", BytesUp: 10, BytesDown: 20, Reason: events.CloseReason_CLOSE_REASON_CLIENT}), 4*time.Second)
	old := at(events.New("acme", "pos-1", &events.ConnOpened{ConnId: "c0", DstHost: "old.example", DstPort: 80}), -2*time.Hour)
	other := at(events.New("acme", "pos-2", &events.ConnOpened{ConnId: "c2", DstHost: "x.example", DstPort: 443}), 2*time.Second)
	gx := at(events.New("globex", "gx-1", &events.ConnOpened{ConnId: "g1", DstHost: "g.example", DstPort: 443}), 2*time.Second)
	// Appended out of time order: the timeline sorts by (time, id).
	if err := e.store.Append(e.ctx, closed, tx, old, other, gx, opened); err != nil {
		t.Fatal(err)
	}
	e.raise(alertEvent("acme", "pos-1", "al-2", "replay-attack", events.Severity_SEVERITY_HIGH, base.Add(5*time.Second)))
	e.raise(alertEvent("acme", "pos-1", "al-1", "beacon", events.Severity_SEVERITY_LOW, base.Add(1*time.Second)))
	e.raise(alertEvent("acme", "pos-2", "al-3", "beacon", events.Severity_SEVERITY_LOW, base.Add(1*time.Second)))
	e.raise(alertEvent("acme", "pos-1", "al-old", "beacon", events.Severity_SEVERITY_LOW, base.Add(-2*time.Hour)))

	r := e.expect(200, "GET", "/v1/devices/pos-1/timeline", e.acme, "") // default: the last hour
	var tl struct {
		Events []struct {
			Time    time.Time       `json:"time"`
			Type    string          `json:"type"`
			ID      string          `json:"id"`
			Summary string          `json:"summary"`
			Payload json.RawMessage `json:"payload"`
		} `json:"events"`
		Alerts []struct {
			ID   string    `json:"id"`
			Time time.Time `json:"time"`
		} `json:"alerts"`
		Truncated bool `json:"truncated"`
	}
	if err := json.Unmarshal(r.raw, &tl); err != nil {
		t.Fatal(err)
	}
	// The device's events in the range, in time order: its enrolment, the three
	// connection events and the two alert.raised events.
	var got []string
	for _, ev := range tl.Events {
		got = append(got, ev.Type)
	}
	want := "alert.raised conn.opened tx.observed conn.closed alert.raised device.enrolled" // enrolled by newEnv, now
	if strings.Join(got, " ") != want || tl.Truncated {
		t.Fatalf("events %v (truncated %v), want %s", got, tl.Truncated, want)
	}
	for i, ev := range []events.Event{opened, tx, closed} {
		g := tl.Events[i+1]
		full, _ := ev.MarshalJSON()
		var env struct {
			Payload json.RawMessage `json:"payload"`
		}
		json.Unmarshal(full, &env)
		if g.ID != ev.ID.String() || !g.Time.Equal(ev.Time) || string(g.Payload) != string(env.Payload) || g.Summary == "" {
			t.Errorf("event %d: %+v\nwant id %s payload %s", i, g, ev.ID, env.Payload)
		}
	}
	if s := tl.Events[1].Summary; !strings.Contains(s, "pay.example:443") {
		t.Errorf("conn.opened summary %q", s)
	}
	if len(tl.Alerts) != 2 || tl.Alerts[0].ID != "al-1" || tl.Alerts[1].ID != "al-2" {
		t.Fatalf("alerts %+v", tl.Alerts)
	}

	// A range, and a limit.
	q := url.Values{"from": {base.Add(3 * time.Second).Format(time.RFC3339)}, "to": {base.Add(5 * time.Second).Format(time.RFC3339)}}
	r = e.expect(200, "GET", "/v1/devices/pos-1/timeline?"+q.Encode(), e.acme, "")
	if evs := r.body["events"].([]any); len(evs) != 2 || len(r.body["alerts"].([]any)) != 0 {
		t.Fatalf("[+3s, +5s): %s", r.raw)
	}
	r = e.expect(200, "GET", "/v1/devices/pos-1/timeline?limit=2", e.acme, "")
	if evs := r.body["events"].([]any); len(evs) != 2 || r.body["truncated"] != true ||
		evs[0].(map[string]any)["type"] != "alert.raised" || evs[1].(map[string]any)["id"] != opened.ID.String() {
		t.Fatalf("limit=2: %s", r.raw)
	}
	if r.body["alerts"].([]any)[0].(map[string]any)["id"] != "al-1" {
		t.Fatalf("limit=2 alerts: %s", r.raw)
	}
	e.expect(200, "GET", "/v1/devices/pos-1/timeline?limit=99999999", e.acme, "") // clamped
	// The old events are found by their own time.
	q = url.Values{"from": {base.Add(-3 * time.Hour).Format(time.RFC3339)}, "to": {base.Add(-time.Hour).Format(time.RFC3339)}}
	r = e.expect(200, "GET", "/v1/devices/pos-1/timeline?"+q.Encode(), e.acme, "")
	if evs := r.body["events"].([]any); len(evs) != 2 || len(r.body["alerts"].([]any)) != 1 {
		t.Fatalf("old range: %s", r.raw)
	}

	// Tenant isolation: another tenant's device is not found; the viewer reads.
	e.expect(404, "GET", "/v1/devices/gx-1/timeline", e.acme, "")
	e.expect(404, "GET", "/v1/devices/pos-1/timeline", e.globex, "")
	e.expect(404, "GET", "/v1/devices/nope/timeline", e.acme, "")
	e.expect(200, "GET", "/v1/devices/pos-1/timeline", e.viewer, "")
	r = e.expect(200, "GET", "/v1/devices/gx-1/timeline", e.globex, "")
	if evs := r.body["events"].([]any); len(evs) != 2 || evs[0].(map[string]any)["id"] != gx.ID.String() {
		t.Fatalf("globex timeline: %s", r.raw)
	}

	for _, bad := range []string{"limit=0", "limit=x", "from=yesterday", "to=2026-01-01", "foo=1", "limit=1&limit=2",
		fmt.Sprintf("from=%s&to=%s", base.Format(time.RFC3339), base.Add(-time.Second).Format(time.RFC3339))} {
		e.expect(400, "GET", "/v1/devices/pos-1/timeline?"+bad, e.acme, "")
	}
	e.expect(400, "GET", "/v1/devices/bad%2Fid/timeline", e.acme, "")
}

// traffic appends minutes of ordinary traffic of the devices from t0 on: a
// few connections a minute to shared hosts, and returns the events.
func traffic(t testing.TB, e *env, devices []string, t0 time.Time, minutes int) []events.Event {
	t.Helper()
	var out []events.Event
	for m := 0; m < minutes; m++ {
		for d, dev := range devices {
			for c := 0; c < 3+(m+d)%3; c++ {
				at := t0.Add(time.Duration(m)*time.Minute + time.Duration(d*997+c*9000)*time.Millisecond)
				conn := fmt.Sprintf("%s-%d-%d", dev, m, c)
				opened := events.New("acme", dev, &events.ConnOpened{ConnId: conn, DstHost: []string{"mgmt.example", "pay.example", "updates.example"}[(c+d)%3], DstPort: 443, Mode: events.ConnMode_CONN_MODE_CONNECT})
				opened.Time = at
				closed := events.New("acme", dev, &events.ConnClosed{ConnId: conn, BytesUp: uint64(800 + 37*((m*d+c)%11)), BytesDown: uint64(4000 + 91*((m+c)%7)), DurationNs: int64(300 * time.Millisecond), Reason: events.CloseReason_CLOSE_REASON_CLIENT})
				closed.Time = at.Add(300 * time.Millisecond)
				out = append(out, opened, closed)
			}
		}
	}
	for i := 0; i < len(out); i += 10000 {
		if err := e.store.Append(e.ctx, out[i:min(i+10000, len(out))]...); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestBuildTimelineIsTheAPIs: GET /v1/devices/{id}/timeline answers exactly
// BuildTimeline's JSON for the same range; the windows are the pipeline
// processor's own, with the cohort model's scores once the warm-up holds
// enough history to train it, in the cohort the device was enrolled in
// before the warm-up.
func TestBuildTimelineIsTheAPIs(t *testing.T) {
	e := newEnv(t)
	base := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Minute)
	devs := []string{"pos-7", "pos-8"}
	var enrolled []events.Event
	for _, d := range devs { // enrolled two days before: outside the 24h warm-up
		ev := events.New("acme", d, &events.DeviceEnrolled{Model: "A920", Firmware: "9.9", CertSha256: bytes.Repeat([]byte{2}, 32)})
		ev.Time = base.Add(-48 * time.Hour)
		enrolled = append(enrolled, ev)
		e.reg.Apply(&ev)
	}
	if err := e.store.Append(e.ctx, enrolled...); err != nil {
		t.Fatal(err)
	}
	// 2 devices × 110 minutes: the cohort's model is trained at 200 windows.
	evs := traffic(t, e, devs, base, 110)
	e.raise(alertEvent("acme", "pos-7", "al-7", "anomaly", events.Severity_SEVERITY_MEDIUM, base.Add(105*time.Minute)))
	from, to := base.Add(100*time.Minute), base.Add(110*time.Minute)

	q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	r := e.expect(200, "GET", "/v1/devices/pos-7/timeline?"+q.Encode(), e.acme, "")
	tl, err := BuildTimeline(e.ctx, e.store, e.alerts, TimelineRequest{Tenant: "acme", Device: "pos-7", From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.TrimSpace(r.raw); !bytes.Equal(got, b) {
		t.Fatalf("the API's timeline differs from BuildTimeline's:\nAPI   %.600s\nbuild %.600s", got, b)
	}

	// Ten windows of one minute, scored by the cohort's model, in the
	// enrolled cohort; the events they hold are the listed conn events.
	if len(tl.Windows) != 10 || tl.WindowSeconds != 60 || tl.Truncated {
		t.Fatalf("%d windows (window %vs, truncated %v), want 10", len(tl.Windows), tl.WindowSeconds, tl.Truncated)
	}
	conns, inWindows := 0, 0
	for _, ev := range tl.Events {
		if strings.HasPrefix(ev.Type, "conn.") {
			conns++
		}
	}
	for i, w := range tl.Windows {
		inWindows += w.Events
		if !w.Start.Equal(from.Add(time.Duration(i)*time.Minute)) || w.Cohort != "acme/A920/9.9" || len(w.Features) == 0 ||
			len(w.Scores) != 1 || w.Scores[0].Detector != "anomaly" || w.Scores[0].Threshold <= 0 || w.Scores[0].Score <= 0 {
			t.Fatalf("window %d: %+v", i, w)
		}
	}
	if conns == 0 || inWindows != conns {
		t.Fatalf("windows hold %d events, the timeline lists %d conn events", inWindows, conns)
	}
	if len(tl.Alerts) != 1 || tl.Alerts[0].ID != "al-7" {
		t.Fatalf("alerts %+v", tl.Alerts)
	}

	// The same windows as the pipeline's processor run over the history.
	proc, err := pipeline.NewProcessor(pipeline.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	var direct []TimelineWindow
	proc.ObserveWindows(func(w pipeline.DeviceWindow) {
		if w.Device == "pos-7" && !w.Start.Before(from) && w.Start.Before(to) {
			direct = append(direct, windowView(w))
		}
	})
	for _, ev := range append(enrolled, evs...) {
		proc.Process(&ev)
	}
	proc.Flush()
	if !reflect.DeepEqual(direct, tl.Windows) {
		t.Fatalf("the processor's windows differ:\n%+v\n%+v", direct, tl.Windows)
	}

	// windows=false: the same events and alerts, no windows.
	q.Set("windows", "false")
	var bare Timeline
	if err := json.Unmarshal(e.expect(200, "GET", "/v1/devices/pos-7/timeline?"+q.Encode(), e.acme, "").raw, &bare); err != nil {
		t.Fatal(err)
	}
	if len(bare.Windows) != 0 || !reflect.DeepEqual(bare.Events, tl.Events) || len(bare.Alerts) != 1 {
		t.Fatalf("windows=false: %d windows, %d events (want %d)", len(bare.Windows), len(bare.Events), len(tl.Events))
	}
	q.Set("windows", "maybe")
	e.expect(400, "GET", "/v1/devices/pos-7/timeline?"+q.Encode(), e.acme, "")

	// Without the warm-up there is no model yet: windows, no scores.
	short, err := BuildTimeline(e.ctx, e.store, e.alerts, TimelineRequest{Tenant: "acme", Device: "pos-7", From: from, To: to, Pipeline: pipeline.Config{Warmup: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if len(short.Windows) != 10 || len(short.Windows[0].Scores) != 0 || len(short.Events) != len(tl.Events) {
		t.Fatalf("1m warm-up: %d windows, scores %+v", len(short.Windows), short.Windows[0].Scores)
	}
	// The limit bounds windows too.
	lim, err := BuildTimeline(e.ctx, e.store, e.alerts, TimelineRequest{Tenant: "acme", Device: "pos-7", From: from, To: to, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(lim.Windows) != 3 || len(lim.Events) != 3 || !lim.Truncated || !lim.Windows[0].Start.Equal(from) {
		t.Fatalf("limit 3: %d windows, %d events, truncated %v", len(lim.Windows), len(lim.Events), lim.Truncated)
	}
	// Another tenant's device has an empty timeline here.
	other, err := BuildTimeline(e.ctx, e.store, e.alerts, TimelineRequest{Tenant: "globex", Device: "pos-7", From: from, To: to})
	if err != nil || len(other.Events)+len(other.Windows)+len(other.Alerts) != 0 {
		t.Fatalf("globex/pos-7: %+v, %v", other, err)
	}
	for _, bad := range []TimelineRequest{{Device: "pos-7", From: from, To: to}, {Tenant: "acme", Device: "pos-7", From: to, To: from},
		{Tenant: "acme", Device: "pos-7", From: from, To: to, Pipeline: pipeline.Config{WindowSize: time.Millisecond}}} {
		if _, err := BuildTimeline(e.ctx, e.store, e.alerts, bad); !errors.Is(err, ErrTimelineRequest) {
			t.Errorf("%+v: %v, want ErrTimelineRequest", bad, err)
		}
	}
}
