package features_test

import (
	"bytes"
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/storetest"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/pipeline/window"
)

var update = flag.Bool("update", false, "rewrite golden files and docs/features.md")

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// step is one entry of a log: an event, or a clock tick of a partition.
type step struct {
	ev   *events.Event
	tick int // partition + 1 when a tick
	at   time.Time
}

// cohorts maps devices to cohorts for the tests.
func cohorts(tenant, device string) string {
	switch device {
	case "pos-3":
		return "P3/2.0"
	case "":
		return "none"
	}
	return "P2/1.4.2"
}

// run feeds the log to a fresh assembler, calling Closed (and computing the
// windows it returns) after the steps for which closeAfter is true, and
// returns the vectors in the order computed.
func run(t testing.TB, mem memory.Allocator, log []step, parts int, closeAfter func(i int) bool) []features.Vector {
	t.Helper()
	a, err := window.New(window.Config{}, parts, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	st, err := features.NewState(features.StateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []features.Vector
	collect := func() {
		for _, w := range a.Closed() {
			out = append(out, features.Compute(w, cohorts, st)...)
			w.Release()
		}
	}
	for i, s := range log {
		if s.ev != nil {
			a.Add(s.ev)
		} else if err := a.Tick(s.tick-1, s.at); err != nil {
			t.Fatal(err)
		}
		if closeAfter(i) {
			collect()
		}
	}
	a.Flush()
	collect()
	return out
}

func evLog(evs []events.Event) []step {
	out := make([]step, len(evs))
	for i := range evs {
		out[i] = step{ev: &evs[i]}
	}
	return out
}

// tableBytes serializes the vectors' table with Arrow IPC.
func tableBytes(t testing.TB, vs []features.Vector) []byte {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tb := features.TableWith(mem, vs)
	defer tb.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(features.TableSchema), ipc.WithAllocator(mem))
	if err := w.Write(tb); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ev makes an event with an id derived from its content.
func ev(tenant, device string, at time.Duration, p events.Payload) events.Event {
	return events.Event{ID: events.DerivedID("features-test", tenant, device, fmt.Sprint(at), string(p.EventType())), Schema: events.SchemaVersion,
		Tenant: tenant, Device: device, Time: t0.Add(at), Payload: p}
}

// fixture is the fixed event set of the golden test: storetest.Traffic of
// three devices of two tenants over three windows, plus hand-made new
// destinations and TLS fingerprints, blocked, refused, failed and cut
// connections, transaction errors and repeats, and auth failures, in time
// order (ties broken by tenant, device, and order of creation).
func fixture() []events.Event {
	var evs []events.Event
	traffic := func(tenant, device string, at time.Duration, n int) {
		for i, e := range storetest.Traffic(tenant, device, t0.Add(at), n) {
			e.ID = events.DerivedID("fixture-traffic", tenant, device, fmt.Sprint(i))
			evs = append(evs, e)
		}
	}
	traffic("acme", "pos-1", time.Second, 45)
	traffic("acme", "pos-2", 2*time.Second, 30)
	traffic("beta", "pos-1", 3*time.Second, 12)
	traffic("acme", "pos-1", 70*time.Second, 15)
	traffic("acme", "pos-2", 125*time.Second, 9)

	opened := func(conn, host, ip string, port uint32, mode events.ConnMode, fp string) *events.ConnOpened {
		return &events.ConnOpened{ConnId: conn, DstHost: host, DstIp: ip, DstPort: port, Mode: mode, TlsFp: fp, Sni: host}
	}
	closed := func(conn string, up, down uint64, dur time.Duration, r events.CloseReason, state string) *events.ConnClosed {
		return &events.ConnClosed{ConnId: conn, BytesUp: up, BytesDown: down, DurationNs: int64(dur), Reason: r, State: state}
	}
	add := func(tenant, device string, at time.Duration, p events.Payload) {
		evs = append(evs, ev(tenant, device, at, p))
	}
	tls := events.ConnMode_CONN_MODE_CONNECT
	// Window 10:00: pos-1 talks TLS to the payment host with fingerprint A,
	// one refused and one timed-out connection, an exfiltration-like upload.
	add("acme", "pos-1", 10*time.Second, opened("t1", "pay.example.com", "203.0.113.10", 443, tls, "fpA"))
	add("acme", "pos-1", 11*time.Second, closed("t1", 90000, 1000, 3*time.Second, events.CloseReason_CLOSE_REASON_CLIENT, ""))
	add("acme", "pos-1", 12*time.Second, opened("t2", "down.example.com", "203.0.113.20", 443, tls, "fpA"))
	add("acme", "pos-1", 12*time.Second+time.Millisecond, closed("t2", 0, 0, time.Millisecond, events.CloseReason_CLOSE_REASON_REFUSED, ""))
	add("acme", "pos-1", 13*time.Second, opened("t3", "slow.example.com", "203.0.113.30", 8443, tls, ""))
	add("acme", "pos-1", 18*time.Second, closed("t3", 0, 0, 5*time.Second, events.CloseReason_CLOSE_REASON_TIMEOUT, ""))
	// pos-2: blocked attempt, auth failure, transactions with errors and repeats.
	add("acme", "pos-2", 20*time.Second, &events.ConnBlocked{ConnId: "b1", DstHost: "evil.example", DstIp: "192.0.2.66", DstPort: 8080, InterventionId: "iv-1", Reason: "blocked host"})
	add("acme", "pos-2", 21*time.Second, &events.AuthFailed{RemoteAddr: "198.51.100.1:5000", Reason: events.AuthFailReason_AUTH_FAIL_REASON_EXPIRED})
	add("acme", "pos-2", 22*time.Second, opened("h1", "pay.example.com", "203.0.113.10", 80, events.ConnMode_CONN_MODE_HTTP, ""))
	for i, tx := range []*events.TxObserved{
		{ConnId: "h1", Method: "POST", Host: "pay.example.com", Path: "/v1/charge", StrictFp: []byte("S1"), LooseFp: []byte("L1"), Status: 200, Outcome: events.TxOutcome_TX_OUTCOME_FORWARDED},
		{ConnId: "h1", Method: "POST", Host: "pay.example.com", Path: "/v1/charge", StrictFp: []byte("S1"), LooseFp: []byte("L1"), Status: 409, Outcome: events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY},
		{ConnId: "h1", Method: "POST", Host: "pay.example.com", Path: "/v1/charge", StrictFp: []byte("S2"), LooseFp: []byte("L1"), Status: 503, Outcome: events.TxOutcome_TX_OUTCOME_FORWARDED},
		{ConnId: "h1", Method: "POST", Host: "pay.example.com", Path: "/v1/charge", StrictFp: []byte("S3"), Status: 502, Outcome: events.TxOutcome_TX_OUTCOME_ERROR},
	} {
		add("acme", "pos-2", 23*time.Second+time.Duration(i)*time.Millisecond, tx)
	}
	add("acme", "pos-2", 24*time.Second, closed("h1", 800, 1600, 2*time.Second, events.CloseReason_CLOSE_REASON_SERVER, ""))
	// Installation-wide and tenant-wide auth failures (no device).
	add("acme", "", 25*time.Second, &events.AuthFailed{RemoteAddr: "198.51.100.2:5000", Reason: events.AuthFailReason_AUTH_FAIL_REASON_UNKNOWN_CA})
	add("", "", 26*time.Second, &events.AuthFailed{RemoteAddr: "198.51.100.3:5000", Reason: events.AuthFailReason_AUTH_FAIL_REASON_NO_CERT})
	// pos-3 (another cohort): an imported scan of one IP, no host names.
	for i := range 12 {
		conn := fmt.Sprintf("z%d", i)
		state := []string{"REJ", "S0", "SF", "RSTOS0"}[i%4]
		add("acme", "pos-3", 30*time.Second+time.Duration(i)*time.Millisecond, opened(conn, "", "10.9.8.7", uint32(20+i), events.ConnMode_CONN_MODE_IMPORTED, ""))
		add("acme", "pos-3", 40*time.Second+time.Duration(i)*time.Millisecond, closed(conn, 60, 40, time.Duration(i)*time.Millisecond, events.CloseReason_CLOSE_REASON_UNSPECIFIED, state))
	}
	// Window 10:01: pos-1 reaches a new host with a new fingerprint B; pos-2,
	// same cohort, does the same in the same window: new for both. pos-1's
	// TLS connection is cut by an intervention.
	add("acme", "pos-1", 80*time.Second, opened("t4", "new.example", "203.0.113.40", 8443, tls, "fpB"))
	add("acme", "pos-2", 81*time.Second, opened("t5", "new.example", "203.0.113.40", 8443, tls, "fpB"))
	add("acme", "pos-1", 82*time.Second, opened("t6", "pay.example.com", "203.0.113.10", 443, tls, "fpA"))
	add("acme", "pos-1", 83*time.Second, closed("t6", 500, 700, 900*time.Millisecond, events.CloseReason_CLOSE_REASON_BLOCKED, ""))
	// Window 10:02: the fingerprint and host are known now; pos-3 rescans.
	add("acme", "pos-2", 130*time.Second, opened("t7", "new.example", "203.0.113.40", 8443, tls, "fpB"))
	add("acme", "pos-3", 131*time.Second, opened("z99", "", "10.9.8.7", 20, events.ConnMode_CONN_MODE_IMPORTED, ""))
	add("acme", "pos-3", 132*time.Second, opened("z100", "", "10.9.8.7", 9999, events.ConnMode_CONN_MODE_IMPORTED, ""))
	// pos-1 closes t4 (opened in the previous window): joined across windows.
	add("acme", "pos-1", 133*time.Second, closed("t4", 5000, 100, 53*time.Second, events.CloseReason_CLOSE_REASON_CLIENT, ""))
	sortLog(evs)
	return evs
}

// sortLog puts events in time order, keeping the order of equal times.
func sortLog(evs []events.Event) {
	slices.SortStableFunc(evs, func(x, y events.Event) int { return x.Time.Compare(y.Time) })
}
