package detect

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

func tx(tenant, device string, at time.Time, strict, loose string, status uint32, outcome events.TxOutcome) events.Event {
	p := &events.TxObserved{Method: "POST", Host: "pay.example", Path: "/v1/charge", StrictFp: []byte(strict), Status: status, Outcome: outcome}
	if loose != "" {
		p.LooseFp = []byte(loose)
	}
	return events.Event{ID: events.NewID(), Tenant: tenant, Device: device, Time: at, Payload: p}
}

const fwd = events.TxOutcome_TX_OUTCOME_FORWARDED

// feed gives d the events in order and returns its findings.
func feed(d *Replay, evs ...events.Event) []Finding {
	var out []Finding
	for i := range evs {
		out = append(out, d.Event(&evs[i])...)
	}
	return out
}

func TestReplayDetector(t *testing.T) {
	d := NewReplay(ReplayOptions{})
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	run := func(evs ...events.Event) []Finding { return feed(d, evs...) }
	// Legitimate retries after failures: never a finding.
	if f := run(
		tx("acme", "pos-1", t0, "A", "LA", 503, fwd),
		tx("acme", "pos-1", t0.Add(2*time.Second), "A", "LA", 504, fwd),
		tx("acme", "pos-1", t0.Add(5*time.Second), "A", "LA", 0, events.TxOutcome_TX_OUTCOME_ERROR),
		tx("acme", "pos-1", t0.Add(9*time.Second), "A", "LA", 200, fwd),
	); len(f) != 0 {
		t.Fatalf("retries flagged: %+v", f)
	}
	// The same transaction again after its success, from another device.
	first := tx("acme", "pos-1", t0.Add(time.Minute), "B", "LB", 200, fwd)
	again := tx("acme", "pos-7", t0.Add(90*time.Minute), "B", "LB", 200, fwd)
	f := run(first, again)
	if len(f) != 1 || f[0].Severity != events.Severity_SEVERITY_CRITICAL || f[0].Device != "pos-7" ||
		len(f[0].Evidence) != 2 || f[0].Evidence[0] != first.ID || f[0].Evidence[1] != again.ID || string(f[0].Fingerprint) != "B" {
		t.Fatalf("replay: %+v", f)
	}
	// Refused in-line by the edge: still reported.
	if f := run(tx("acme", "pos-7", t0.Add(91*time.Minute), "B", "", 403, events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY)); len(f) != 1 || f[0].Severity != events.Severity_SEVERITY_CRITICAL {
		t.Fatalf("refused replay: %+v", f)
	}
	// Another tenant's identical fingerprint is not a replay.
	if f := run(tx("globex", "pos-9", t0.Add(92*time.Minute), "B", "LB", 200, fwd)); len(f) != 0 {
		t.Fatalf("cross-tenant: %+v", f)
	}
	// A fresh nonce: new strict, same loose, 90 s after the last success
	// of that loose key (the repeat at 90 min): a possible duplicate.
	if f := run(tx("acme", "pos-1", t0.Add(91*time.Minute+30*time.Second), "B2", "LB", 200, fwd)); len(f) != 1 || f[0].Severity != events.Severity_SEVERITY_MEDIUM || f[0].Fingerprint != nil {
		t.Fatalf("loose duplicate: %+v", f)
	}
	// The same amount at the same terminal half an hour later is another
	// customer's payment, not a duplicate (loose_horizon, default 2m).
	if f := run(tx("acme", "pos-1", t0.Add(125*time.Minute), "B3", "LB", 200, fwd)); len(f) != 0 {
		t.Fatalf("a genuine identical payment 33 min later: %+v", f)
	}
	// Beyond the horizon the memory is gone.
	if f := run(tx("acme", "pos-1", t0.Add(26*time.Hour), "B", "LB", 200, fwd)); len(f) != 0 {
		t.Fatalf("beyond horizon: %+v", f)
	}
	if d.Size() > 4 {
		t.Fatalf("memory not evicted: %d entries", d.Size())
	}
}

func TestReplayFalsePositivesOnRetries(t *testing.T) {
	// 10,000 payments, each failing 0-3 times before succeeding once, on
	// 50 devices: zero findings.
	d := NewReplay(ReplayOptions{})
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	n := 0
	for i := 0; i < 10000; i++ {
		fp := string(rune(i)) + "-fp"
		dev := "pos-" + string(rune('a'+i%50))
		at := t0.Add(time.Duration(i) * 3 * time.Second)
		for k := 0; k < i%4; k++ {
			ev := tx("acme", dev, at, fp, "", 502, fwd)
			n += len(d.Event(&ev))
			at = at.Add(time.Second)
		}
		ev := tx("acme", dev, at, fp, "", 201, fwd)
		n += len(d.Event(&ev))
	}
	if n != 0 {
		t.Fatalf("%d false positives on legitimate retries", n)
	}
}

func TestRegistry(t *testing.T) {
	ds, err := New([]string{"replay-attack"}, map[string]map[string]string{"replay-attack": {"horizon": "1h"}})
	if err != nil || len(ds) != 1 {
		t.Fatal(err)
	}
	if ds[0].(*Replay).opts.Horizon != time.Hour {
		t.Fatal("option not applied")
	}
	ds, err = New([]string{"replay-attack"}, map[string]map[string]string{"replay-attack": {"loose_horizon": "24h"}})
	if err != nil || ds[0].(*Replay).opts.LooseHorizon != 24*time.Hour {
		t.Fatalf("loose_horizon not applied: %v", err)
	}
	if _, err := New([]string{"replay-attack"}, map[string]map[string]string{"replay-attack": {"loose_horizon": "-1m"}}); err == nil {
		t.Fatal("a negative loose_horizon is accepted")
	}
	if _, err := New([]string{"nope"}, nil); err == nil {
		t.Fatal("unknown detector accepted")
	}
	if Doc("replay-attack") == "" {
		t.Fatal("no doc")
	}
}

// TestReplayWindowOption: the pipeline passes its window size, so a replay
// finding's window is the pipeline's window around the repeat.
func TestReplayWindowOption(t *testing.T) {
	ds, err := New([]string{"replay-attack"}, map[string]map[string]string{"replay-attack": {"window": "10s"}})
	if err != nil {
		t.Fatal(err)
	}
	d := ds[0].(*Replay)
	t0 := time.Date(2026, 11, 27, 10, 0, 7, 0, time.UTC)
	first, again := tx("acme", "a", t0, "fp", "", 200, fwd), tx("acme", "b", t0.Add(5*time.Second), "fp", "", 200, fwd)
	d.Event(&first)
	f := d.Event(&again)
	if len(f) != 1 || !f[0].WindowStart.Equal(t0.Add(3*time.Second)) || f[0].WindowEnd.Sub(f[0].WindowStart) != 10*time.Second {
		t.Fatalf("findings %+v", f)
	}
	if _, err := New([]string{"replay-attack"}, map[string]map[string]string{"replay-attack": {"window": "soon"}}); err == nil {
		t.Fatal("a bad window option is accepted")
	}
}

// A device's repeat of a success whose response never reached it (its
// connection closed by the client mid-response) is its retry: refused by
// the shield, no finding; forwarded again (shield off), a possible double
// charge (medium), not a replay. Another device's repeat stays a replay.
func TestReplayRetryOfALostResponse(t *testing.T) {
	d := NewReplay(ReplayOptions{})
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	withConn := func(ev events.Event, conn string) events.Event {
		ev.Payload.(*events.TxObserved).ConnId = conn
		return ev
	}
	closed := func(device, conn string, at time.Time, reason events.CloseReason) events.Event {
		return events.Event{ID: events.NewID(), Tenant: "acme", Device: device, Time: at, Payload: &events.ConnClosed{ConnId: conn, Reason: reason}}
	}
	run := func(evs ...events.Event) []Finding { return feed(d, evs...) }
	if f := run(
		withConn(tx("acme", "pos-1", t0, "P", "", 200, fwd), "c1"),
		closed("pos-1", "c1", t0.Add(time.Second), events.CloseReason_CLOSE_REASON_CLIENT),
		tx("acme", "pos-1", t0.Add(12*time.Second), "P", "", 403, events.TxOutcome_TX_OUTCOME_REFUSED_RETRY),
	); len(f) != 0 {
		t.Fatalf("a retry the shield refused as such: %+v", f)
	}
	f := run(tx("acme", "pos-1", t0.Add(20*time.Second), "P", "", 200, fwd))
	if len(f) != 1 || f[0].Severity != events.Severity_SEVERITY_MEDIUM || !strings.HasPrefix(f[0].Key, "retry:") {
		t.Fatalf("a retry forwarded again: %+v, want one medium retry finding", f)
	}
	if f := run(tx("acme", "pos-2", t0.Add(30*time.Second), "P", "", 200, fwd)); len(f) != 1 || f[0].Severity != events.Severity_SEVERITY_CRITICAL {
		t.Fatalf("another device's repeat: %+v, want a critical replay", f)
	}
	// A response that was delivered (closed by the server): a repeat is a
	// replay, even from the same device.
	if f := run(
		withConn(tx("acme", "pos-1", t0.Add(time.Minute), "Q", "", 200, fwd), "c2"),
		closed("pos-1", "c2", t0.Add(61*time.Second), events.CloseReason_CLOSE_REASON_SERVER),
		tx("acme", "pos-1", t0.Add(70*time.Second), "Q", "", 200, fwd),
	); len(f) != 1 || f[0].Severity != events.Severity_SEVERITY_CRITICAL {
		t.Fatalf("a repeat after a delivered success: %+v", f)
	}
	// A success whose conn.closed never came is forgotten with it; the
	// connections of forgotten successes are swept in bulk.
	run(withConn(tx("acme", "pos-1", t0.Add(2*time.Minute), "R", "", 200, fwd), "c3"))
	run(tx("acme", "pos-9", t0.Add(30*time.Hour), "S", "", 500, fwd))
	if d.Size() != 0 {
		t.Fatalf("%d fingerprints left after the horizon", d.Size())
	}
	for i := range 3000 {
		at := t0.Add(31*time.Hour + time.Duration(i)*time.Second)
		run(withConn(tx("acme", "pos-1", at, fmt.Sprint("T", i), "", 200, fwd), fmt.Sprint("k", i)))
	}
	run(tx("acme", "pos-9", t0.Add(60*time.Hour), "U", "", 500, fwd))
	if len(d.byConn) > 2*len(d.strict)+1024 {
		t.Fatalf("%d connections remembered for %d fingerprints", len(d.byConn), len(d.strict))
	}
}

// TestUnknownOptions: an option a detector does not read is an error naming
// the ones it does (a mistyped beaconing.min_intervl=4s was accepted and
// left the setting at its default); every option a detector declares is
// read: an invalid value of it is an error naming it (model_dir, a
// directory made when needed, takes any path).
func TestUnknownOptions(t *testing.T) {
	_, err := New([]string{"beaconing"}, map[string]map[string]string{"beaconing": {"min_intervl": "4s"}})
	if err == nil || !strings.Contains(err.Error(), `detector beaconing: unknown option "min_intervl" (known: horizon, max_cv, min_count, min_interval)`) {
		t.Fatalf("a mistyped option: %v", err)
	}
	for _, name := range Names() {
		opts := Options(name)
		if len(opts) == 0 && name != "anomaly" {
			// Every detector has options today; one with none must say
			// so here.
			t.Errorf("detector %s declares no options", name)
		}
		for _, o := range opts {
			if o == "model_dir" {
				continue
			}
			_, err := New([]string{name}, map[string]map[string]string{name: {o: "!bad"}})
			if err == nil || !strings.Contains(err.Error(), o) {
				t.Errorf("%s.%s=!bad: %v, want an error naming %s (does the detector read it?)", name, o, err, o)
			}
		}
	}
}
