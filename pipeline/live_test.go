package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

type tw struct{ t *testing.T }

func (w tw) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func payment(device string, at time.Time, strict string, status uint32) events.Event {
	return events.Event{ID: events.NewID(), Tenant: "acme", Device: device, Time: at.UTC(), Payload: &events.TxObserved{
		ConnId: "c", Method: "POST", Host: "pay.example", Path: "/v1/charge", StrictFp: []byte(strict + "0123456789abcdef")[:16],
		Status: status, Outcome: events.TxOutcome_TX_OUTCOME_FORWARDED,
	}}
}

func startLive(t *testing.T, store Store) (*Live, context.CancelFunc, chan error) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(tw{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := NewLive(Config{}, store, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	select {
	case <-l.Ready():
	case err := <-done:
		t.Fatalf("pipeline: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("pipeline not ready")
	}
	return l, cancel, done
}

func outputs(t *testing.T, s *natsstore.Store, typ events.Type) []events.Event {
	var out []events.Event
	for ev, err := range s.Read(context.Background(), events.Query{Types: []events.Type{typ}}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func waitOutputs(t *testing.T, s *natsstore.Store, typ events.Type, n int) []events.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := outputs(t, s, typ)
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited for %d %s, have %d", n, typ, len(out))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLiveReplayAttackAlertAndBlock(t *testing.T) {
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	_, cancel, done := startLive(t, store)
	now := time.Now()
	if err := store.Append(ctx, payment("pos-1", now, "A", 200)); err != nil {
		t.Fatal(err)
	}
	replay := payment("pos-2", now.Add(time.Second), "A", 200)
	appended := time.Now()
	if err := store.Append(ctx, replay); err != nil {
		t.Fatal(err)
	}
	alerts := waitOutputs(t, store, events.TypeAlertRaised, 1)
	t.Logf("replay-attack alert in the log %v after the replayed transaction was appended", time.Since(appended))
	a := alerts[0].Payload.(*events.AlertRaised)
	if a.Detector != "replay-attack" || a.Severity != events.Severity_SEVERITY_CRITICAL || alerts[0].Device != "pos-2" || !alerts[0].Time.Equal(replay.Time) {
		t.Fatalf("alert %v on %s at %v", a, alerts[0].Device, alerts[0].Time)
	}
	ivs := waitOutputs(t, store, events.TypeInterventionApplied, 1)
	iv := ivs[0].Payload.(*events.InterventionApplied)
	if iv.Kind != events.InterventionKind_INTERVENTION_KIND_BLOCK || string(iv.Match.StrictFp) != string(replay.Payload.(*events.TxObserved).StrictFp) || iv.AlertId != a.AlertId {
		t.Fatalf("intervention %v", iv)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("pipeline stopped with %v", err)
	}
}

// TestRestartLosesNoAlertAndDuplicatesNone kills the pipeline mid-stream
// (cancel, no graceful drain of what is in flight), appends more, restarts,
// and checks every expected alert is in the log exactly once.
func TestRestartLosesNoAlertAndDuplicatesNone(t *testing.T) {
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now().Add(-time.Hour)
	var evs []events.Event
	for i := 0; i < 300; i++ {
		fp := string(rune('a'+i%26)) + string(rune('A'+i/26))
		evs = append(evs, payment("pos-1", now.Add(time.Duration(2*i)*time.Second), fp, 200))
		evs = append(evs, payment("pos-2", now.Add(time.Duration(2*i+1)*time.Second), fp, 200)) // each a replay
	}
	_, cancel, done := startLive(t, store)
	for i := 0; i < 200; i += 10 {
		if err := store.Append(ctx, evs[i:i+10]...); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	if err := store.Append(ctx, evs[200:]...); err != nil {
		t.Fatal(err)
	}
	_, cancel2, done2 := startLive(t, store)
	defer func() { cancel2(); <-done2 }()
	alerts := waitOutputs(t, store, events.TypeAlertRaised, 300)
	time.Sleep(200 * time.Millisecond)
	before := store.Stats().Duplicates
	alerts = outputs(t, store, events.TypeAlertRaised)
	if len(alerts) != 300 {
		t.Fatalf("%d alerts, want 300", len(alerts))
	}
	if d := store.Stats().Duplicates - before; d != 0 {
		t.Fatalf("%d duplicate alert events stored", d)
	}
}
