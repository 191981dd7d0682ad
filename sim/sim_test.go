package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/internal/roles"
	"github.com/halo-sec/halo/replay"
)

// startEdge runs the real edge role on an embedded log, resolving
// *.sim.halo.test to loopback.
func startEdge(t *testing.T) (*natsstore.Store, string, string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- roles.Edge(ctx, store, roles.EdgeOptions{DataDir: dir, Addr: "127.0.0.1:0",
			StaticHosts: map[string]netip.Addr{"*.sim.halo.test": netip.MustParseAddr("127.0.0.1")}}, slog.New(slog.DiscardHandler), func(a string) { addr <- a })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		store.Close()
	})
	select {
	case a := <-addr:
		return store, dir, a
	case err := <-done:
		t.Fatalf("edge: %v", err)
	}
	return nil, "", ""
}

// TestFleetThroughTheEdge runs a small fleet with a replay and a badcert
// attack through the real edge and checks what the log holds: every
// device enrolled with its own certificate and cohort, one tx.observed per
// plain answer the simulator saw, both replays refused in-line, the
// revoked certificate's handshakes refused, and labels in the format halo
// replay reads.
func TestFleetThroughTheEdge(t *testing.T) {
	store, dir, edge := startEdge(t)
	ctx := context.Background()
	var labels bytes.Buffer
	attacks, _ := ParseAttacks("replay@2s:2,badcert@3s:device-4")
	s, err := New(Config{Edge: edge, Store: store, DataDir: dir, Tenant: "acme", Devices: 4, Duration: 8 * time.Second,
		Rate: 3, Attacks: attacks, Labels: &labels, RecordLabels: true, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	t.Logf("%s (plain answers %d, 2xx %d, refused %v)", st, st.PlainAnswered, st.Plain2xx, st.RefusedBy)
	if st.RefusedBy["replay_refused"] != 2 || st.RefusedBy["unauthorized"] != 12 {
		t.Fatalf("refusals by code %v: want 2 replay_refused, 12 unauthorized (10 revoked and 2 foreign certificates)", st.RefusedBy)
	}
	if s.Token() == "" || st.DevicesUp != 4 || st.AttacksSent != 2 || st.PlainAnswered == 0 || st.Approved == 0 {
		t.Fatalf("token %q, stats %+v", s.Token(), st)
	}

	reg, err := identity.Load(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	cohorts := map[string]bool{}
	for _, id := range s.DeviceIDs() {
		d, ok := reg.Device(id)
		if !ok || d.Tenant != "acme" || d.Model == "" {
			t.Fatalf("device %s: %+v %v", id, d, ok)
		}
		cohorts[d.Cohort()] = true
		if id == "acme-pos-00004" && len(d.Certs) != 2 { // badcert: the revoked one and its successor
			t.Fatalf("badcert device has %d certificates", len(d.Certs))
		}
	}
	if len(cohorts) != 2 {
		t.Fatalf("4 devices in %d cohorts, want 2", len(cohorts))
	}

	var tx, tx2xx, refused int
	byDevice := map[string]int{}
	authFailed := 0
	for ev, err := range store.Read(ctx, events.Query{Tenant: "acme"}) {
		if err != nil {
			t.Fatal(err)
		}
		switch p := ev.Payload.(type) {
		case *events.TxObserved:
			tx++
			byDevice[ev.Device]++
			if p.Outcome == events.TxOutcome_TX_OUTCOME_FORWARDED && p.Status >= 200 && p.Status <= 299 {
				tx2xx++
			}
			if p.Outcome == events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY {
				refused++
			}
		case *events.AuthFailed:
			if ev.Device == "acme-pos-00004" && p.Reason == events.AuthFailReason_AUTH_FAIL_REASON_REVOKED {
				authFailed++
			}
		}
	}
	if tx2xx != int(st.Plain2xx) || tx < int(st.PlainAnswered) {
		t.Fatalf("log: %d tx.observed (%d forwarded 2xx); simulator: %d plain answers (%d 2xx)", tx, tx2xx, st.PlainAnswered, st.Plain2xx)
	}
	if len(byDevice) != 4 {
		t.Fatalf("transactions of %d devices, want 4: %v", len(byDevice), byDevice)
	}
	if refused != 2 {
		t.Fatalf("%d replays refused by the edge, want 2 (same device, another device)", refused)
	}
	if authFailed != 10 {
		t.Fatalf("%d handshakes with the revoked certificate refused, want 10", authFailed)
	}

	// Labels: what halo replay --labels reads.
	var got []replay.Label
	for _, l := range strings.Split(strings.TrimSpace(labels.String()), "\n") {
		var lb replay.Label
		if err := json.Unmarshal([]byte(l), &lb); err != nil {
			t.Fatalf("label %q: %v", l, err)
		}
		for _, k := range []string{`"tenant":`, `"device":`, `"label":`, `"start":`, `"end":`} {
			if !strings.Contains(l, k) {
				t.Fatalf("label %q lacks %s", l, k)
			}
		}
		got = append(got, lb)
	}
	want := map[string]string{"acme-pos-00002|replay": "", "acme-pos-00003|replay": "", "acme-pos-00004|badcert": ""}
	if len(got) != len(want) {
		t.Fatalf("labels %+v", got)
	}
	for _, l := range got {
		if _, ok := want[l.Device+"|"+l.Label]; !ok || l.Tenant != "acme" || l.Start.IsZero() || l.End.Before(l.Start) {
			t.Fatalf("unexpected label %+v", l)
		}
	}
	// RecordLabels: the same labels in the log, as label.recorded of the
	// simulator, where halo replay and halo export find them.
	var recorded []string
	for ev, err := range store.Read(ctx, events.Query{Types: []events.Type{events.TypeLabelRecorded}}) {
		if err != nil {
			t.Fatal(err)
		}
		p := ev.Payload.(*events.LabelRecorded)
		if ev.Tenant != "acme" || !p.Malicious || p.Source != events.LabelSource_LABEL_SOURCE_SIMULATOR {
			t.Fatalf("label.recorded %v of %s", p, ev.Tenant)
		}
		recorded = append(recorded, ev.Device+"|"+p.Label)
	}
	if len(recorded) != len(want) || st.LabelsRecorded != int64(len(want)) || st.LabelErrors != 0 {
		t.Fatalf("recorded %v (stats: %d recorded, %d errors), want %d", recorded, st.LabelsRecorded, st.LabelErrors, len(want))
	}
	for _, r := range recorded {
		if _, ok := want[r]; !ok {
			t.Fatalf("recorded %s, want one of %v", r, want)
		}
	}
}

// TestEdgeMustResolveTheDomain: an edge that cannot resolve the
// simulator's names is reported with the flag that fixes it.
func TestEdgeMustResolveTheDomain(t *testing.T) {
	store, dir, edge := startEdge(t)
	s, err := New(Config{Edge: edge, Store: store, DataDir: dir, Tenant: "acme", Devices: 2, Duration: 5 * time.Second, Domain: "elsewhere.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--edge-resolve '*.elsewhere.invalid=127.0.0.1'") {
		t.Fatalf("err %v", err)
	}
}
