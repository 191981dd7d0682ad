package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

// scanEvents: device probes n ports of one host, all refused.
func scanEvents(device string, at time.Time, n int) []events.Event {
	var out []events.Event
	for i := 0; i < n; i++ {
		conn := fmt.Sprintf("%s-s%d", device, i)
		t := at.Add(time.Duration(i) * time.Millisecond)
		out = append(out,
			events.Event{ID: events.NewID(), Tenant: "acme", Device: device, Time: t, Payload: &events.ConnOpened{ConnId: conn, DstHost: "10.0.0.9", DstIp: "10.0.0.9", DstPort: uint32(1000 + i), Mode: events.ConnMode_CONN_MODE_CONNECT}},
			events.Event{ID: events.NewID(), Tenant: "acme", Device: device, Time: t.Add(time.Microsecond), Payload: &events.ConnClosed{ConnId: conn, Reason: events.CloseReason_CLOSE_REASON_REFUSED}},
		)
	}
	return out
}

// TestLiveWindowsCloseOnTicksAndReplayAgrees runs the live pipeline with
// one-second windows: a scan is detected once the pipeline's own clock
// ticks close the window; then the same log replayed through a fresh
// processor gives byte-identical outputs.
func TestLiveWindowsCloseOnTicksAndReplayAgrees(t *testing.T) {
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg := Config{WindowSize: time.Second, Lateness: 100 * time.Millisecond, TickInterval: 50 * time.Millisecond}
	logger := slog.New(slog.NewTextHandler(tw{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	live, err := NewLive(cfg, store, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- live.Run(lctx) }()
	<-live.Ready()
	now := time.Now()
	if err := store.Append(ctx, scanEvents("pos-9", now, 40)...); err != nil {
		t.Fatal(err)
	}
	if err := store.Append(ctx, payment("pos-1", now, "Q", 200), payment("pos-2", now.Add(10*time.Millisecond), "Q", 200)); err != nil {
		t.Fatal(err)
	}
	alerts := waitOutputs(t, store, events.TypeAlertRaised, 2)
	var dets []string
	for _, a := range alerts {
		dets = append(dets, a.Payload.(*events.AlertRaised).Detector)
	}
	t.Logf("live alerts: %v after %v", dets, time.Since(now).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-done

	// Replay: the same log, in log order, through a fresh processor.
	proc, err := NewProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	var replayed, liveOut []events.Event
	ticks := 0
	for ev, err := range store.Read(ctx, events.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		if IsOutput(ev.Type()) {
			liveOut = append(liveOut, ev)
			continue
		}
		if ev.Type() == events.TypeClockTick {
			ticks++
		}
		replayed = append(replayed, proc.Process(&ev)...)
	}
	if ticks == 0 {
		t.Fatal("the live pipeline recorded no clock ticks")
	}
	canon := func(evs []events.Event) []byte {
		var b []byte
		for _, e := range evs {
			e.Recorded, e.Seq = time.Time{}, 0
			b = e.AppendJSON(b)
			b = append(b, '\n')
		}
		return b
	}
	if len(liveOut) == 0 || !bytes.Equal(canon(liveOut), canon(replayed)) {
		t.Fatalf("live outputs differ from the replay:\nlive:\n%s\nreplay:\n%s", canon(liveOut), canon(replayed))
	}
	found := map[string]bool{}
	for _, a := range alerts {
		found[a.Payload.(*events.AlertRaised).Detector] = true
	}
	if !found["scan"] || !found["replay-attack"] {
		t.Fatalf("alerts from %v, want scan and replay-attack", dets)
	}
}
