package pipeline

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenEvents is a fixed history of one tenant: ordinary traffic from a
// cohort of devices with heartbeats to a shared server, one device
// beaconing to a rare host, one scanning, one flooding, one failing auth,
// one hitting a block, and a replayed payment. Ids and times are fixed.
func goldenEvents() []events.Event {
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	n := 0
	id := func() events.ID { n++; return events.DerivedID("golden", fmt.Sprint(n)) }
	var out []events.Event
	add := func(dev string, at time.Time, p events.Payload) {
		out = append(out, events.Event{ID: id(), Tenant: "acme", Device: dev, Time: at, Payload: p})
	}
	conn := func(dev string, at time.Time, host string, port uint32, reason events.CloseReason, up uint64) {
		c := fmt.Sprintf("%s-%d", dev, n)
		add(dev, at, &events.ConnOpened{ConnId: c, DstHost: host, DstIp: "198.51.100.7", DstPort: port, Mode: events.ConnMode_CONN_MODE_CONNECT})
		add(dev, at.Add(200*time.Millisecond), &events.ConnClosed{ConnId: c, BytesUp: up, BytesDown: 2 * up, DurationNs: int64(200 * time.Millisecond), Reason: reason})
	}
	ok := events.CloseReason_CLOSE_REASON_CLIENT
	for m := 0; m < 6; m++ { // six minutes
		base := t0.Add(time.Duration(m) * time.Minute)
		for d := 0; d < 12; d++ {
			dev := fmt.Sprintf("pos-%02d", d)
			for k := 0; k < 4; k++ {
				conn(dev, base.Add(time.Duration(d*100+k*15000)*time.Millisecond), "mgmt.example", 443, ok, 900)
			}
		}
		// pos-03 beacons every 20 s to a host nobody else uses.
		for k := 0; k < 3; k++ {
			conn("pos-03", base.Add(time.Duration(5000+k*20000)*time.Millisecond), "c2.evil.example", 8443, ok, 120)
		}
	}
	// pos-07 scans 60 ports in minute 2, all refused.
	for p := 0; p < 60; p++ {
		conn("pos-07", t0.Add(2*time.Minute+time.Duration(p*300)*time.Millisecond), "10.0.0.50", uint32(20+p), events.CloseReason_CLOSE_REASON_REFUSED, 0)
	}
	// pos-09 floods one target in minute 3.
	for k := 0; k < 150; k++ {
		conn("pos-09", t0.Add(3*time.Minute+time.Duration(k*200)*time.Millisecond), "victim.example", 80, ok, 1000)
	}
	// pos-05: refused handshakes, then blocked attempts, in minute 4.
	for k := 0; k < 6; k++ {
		add("pos-05", t0.Add(4*time.Minute+time.Duration(k)*time.Second), &events.AuthFailed{RemoteAddr: "192.0.2.5:40000", Reason: events.AuthFailReason_AUTH_FAIL_REASON_REVOKED})
		add("pos-05", t0.Add(4*time.Minute+time.Duration(10+k)*time.Second), &events.ConnBlocked{ConnId: fmt.Sprint("b", k), DstHost: "ads.example", DstPort: 443, InterventionId: "iv-manual-1", Reason: "blocked"})
	}
	// A payment replayed from another device.
	fp := []byte("0123456789abcdef")
	add("pos-01", t0.Add(90*time.Second), &events.TxObserved{Method: "POST", Host: "pay.example", Path: "/v1/charge", StrictFp: fp, Status: 200, Outcome: events.TxOutcome_TX_OUTCOME_FORWARDED})
	add("pos-11", t0.Add(150*time.Second), &events.TxObserved{Method: "POST", Host: "pay.example", Path: "/v1/charge", StrictFp: fp, Status: 200, Outcome: events.TxOutcome_TX_OUTCOME_FORWARDED})
	// In a log they arrive in time order, as the edge records them.
	slices.SortStableFunc(out, func(a, b events.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return a.ID.Compare(b.ID)
	})
	return out
}

func runGolden(t *testing.T, evs []events.Event) []byte {
	proc, err := NewProcessor(Config{DetectorOptions: map[string]map[string]string{"new-destination": {"learning": "2m"}, "anomaly": {"min_cold_span": "1m"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	var outs []events.Event
	for i := range evs {
		outs = append(outs, proc.Process(&evs[i])...)
	}
	outs = append(outs, proc.Flush()...)
	var b bytes.Buffer
	for _, o := range outs {
		b.Write(o.AppendJSON(nil))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestGoldenAlerts pins the alerts and interventions of a fixed history.
// Rewrite with: go test ./pipeline -run TestGoldenAlerts -update
func TestGoldenAlerts(t *testing.T) {
	got := runGolden(t, goldenEvents())
	path := filepath.Join("testdata", "alerts.golden.jsonl")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("outputs differ from %s (run with -update if the change is intended):\n%s", path, got)
	}
	// The same history fed in a second time (a replay) gives the same bytes.
	if again := runGolden(t, goldenEvents()); !bytes.Equal(again, got) {
		t.Fatal("a second run of the same history differs")
	}
	for _, det := range []string{"scan", "flood", "auth-failures", "blocked-attempts", "beaconing", "replay-attack"} {
		if !bytes.Contains(got, []byte(`"detector":"`+det+`"`)) {
			t.Errorf("no %s alert in the golden history", det)
		}
	}
	if bytes.Contains(got, []byte(`"key":"beacon:mgmt.example"`)) {
		t.Error("the cohort's shared heartbeat server was reported as beaconing")
	}
}
