package cli

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/halo-sec/halo/internal/health"
)

// steppedPinger lets the test answer each ping: calls signals that a ping
// started, answers gives its result.
type steppedPinger struct {
	calls   chan struct{}
	answers chan error
}

func (p *steppedPinger) Ping(ctx context.Context) error {
	p.calls <- struct{}{}
	select {
	case err := <-p.answers:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestWatchEventLog(t *testing.T) {
	p := &steppedPinger{calls: make(chan struct{}), answers: make(chan error)}
	reg := health.NewRegistry(roleEventLog)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		watchEventLog(ctx, p, time.Millisecond, reg, slog.New(slog.DiscardHandler))
		close(done)
	}()
	down := errors.New("no responders")
	<-p.calls
	for i, step := range []struct {
		answer error
		want   health.State
	}{
		{down, health.Starting}, // not ready yet: still starting
		{nil, health.Ready},
		{nil, health.Ready},
		{down, health.Unavailable}, // was ready, stopped answering
		{down, health.Unavailable},
		{nil, health.Ready}, // back
	} {
		p.answers <- step.answer
		<-p.calls // the next ping started: the answer was handled
		if got := reg.Report().Roles[roleEventLog]; got != step.want {
			t.Fatalf("step %d (ping error %v): state %q, want %q", i, step.answer, got, step.want)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watchEventLog did not return after cancel")
	}
}
