package api

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
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
