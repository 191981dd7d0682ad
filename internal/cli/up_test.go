package cli

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
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

// TestUpStopsCleanly: halo up asked to stop once up exits 0, every time.
// The stop signal and the pipeline's own return of nil were ready at once
// and the select took either: a clean stop then failed, now and then, with
// "pipeline: %!w(<nil>)".
func TestUpStopsCleanly(t *testing.T) {
	data := t.TempDir()
	for i := range 6 {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- Main(ctx, []string{"up", "--data", data, "--api-addr", "127.0.0.1:0", "--edge-addr", freeTCPAddr(t)}, &out, &errb)
		}()
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(errb.String(), "halo is up"); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("run %d: halo up not up within 20 s:\n%s", i, errb.String())
			}
		}
		cancel()
		if code := <-done; code != ExitOK || strings.Contains(errb.String(), "%!") {
			t.Fatalf("run %d: exit %d after a stop, want %d:\n%s", i, code, ExitOK, errb.String())
		}
	}
}

// freeTCPAddr is a loopback address with a port free a moment ago.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestUpEdgePortTaken: an edge address in use fails halo up with the
// listener's error, the role named once (it read "edge: edge: listen …").
func TestUpEdgePortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, stderr := run(context.Background(), t, "up", "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--edge-addr", ln.Addr().String())
	if code != ExitFailure || !strings.Contains(stderr, "halo: edge: listen tcp "+ln.Addr().String()) || strings.Contains(stderr, "edge: edge:") {
		t.Fatalf("exit %d, stderr:\n%s\nwant %d and the edge's listen error, the role named once", code, stderr, ExitFailure)
	}
}
