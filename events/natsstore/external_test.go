package natsstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natstest"
	"github.com/halo-sec/halo/events/storetest"
)

// The external backend is tested against a separate nats-server process
// (natstest builds it from the nats-server module), so the test needs
// nothing installed.

// externalLog is a nats-server process with JetStream and nkey auth.
type externalLog struct {
	srv  *natstest.Server
	opts storetest.Options
}

func newExternalLog(t *testing.T, o storetest.Options) storetest.Log {
	return &externalLog{srv: natstest.Start(t), opts: o}
}

func (l *externalLog) url() string { return l.srv.URL() }

func (l *externalLog) Open(t *testing.T) events.Store {
	t.Helper()
	s, err := Open(context.Background(), Config{URL: l.url(), CredsFile: l.srv.SeedFile, DuplicateWindow: l.opts.DuplicateWindow, ManageStream: true}, testLogger(t))
	if err != nil {
		t.Fatalf("Open %s: %v", l.url(), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (l *externalLog) Restart(t *testing.T) {
	l.srv.Stop()
	l.srv.Restart(t)
}

// CrashAppend appends from this process and kills the nats-server process,
// which holds the data, with SIGKILL.
func (l *externalLog) CrashAppend(t *testing.T, evs []events.Event, after int) []events.ID {
	s := l.Open(t)
	defer s.Close()
	var acked []events.ID
	for i := range evs {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.Append(ctx, evs[i])
		cancel()
		if err != nil {
			break
		}
		acked = append(acked, evs[i].ID)
		if len(acked) == after {
			l.srv.Kill()
		}
	}
	if len(acked) < after {
		t.Fatalf("only %d acknowledged before the kill", len(acked))
	}
	l.srv.Restart(t)
	return acked
}

func (l *externalLog) PublishRaw(t *testing.T, subject string, data []byte) {
	publishRaw(t, l.url(), l.srv.SeedFile, subject, data)
}

func (l *externalLog) DialWithoutCredentials(t *testing.T) error {
	return dialWithout(t, l.url())
}

func TestExternalContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a nats-server process; run without -short")
	}
	storetest.Run(t, newExternalLog)
}

func TestExternalUnreachable(t *testing.T) {
	_, err := Open(context.Background(), Config{URL: fmt.Sprintf("nats://127.0.0.1:%d", natstest.FreePort(t)), ConnectTimeout: time.Second}, nil)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Open of a dead URL: %v, want an 'unreachable' error", err)
	}
}

// TestExternalMustExist: on an external server without Halo's stream, Open
// with MustExist is ErrNoLog and creates nothing; without it, Open creates
// the stream.
func TestExternalMustExist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a nats-server process; run without -short")
	}
	srv := natstest.Start(t)
	ctx := context.Background()
	cfg := Config{URL: srv.URL(), CredsFile: srv.SeedFile, MustExist: true}
	if _, err := Open(ctx, cfg, testLogger(t)); !errors.Is(err, ErrNoLog) || !strings.Contains(err.Error(), StreamName) {
		t.Fatalf("Open with MustExist of a server without the stream: %v, want ErrNoLog naming %s", err, StreamName)
	}
	if _, err := Open(ctx, cfg, testLogger(t)); !errors.Is(err, ErrNoLog) {
		t.Fatalf("the first Open created the stream: %v", err)
	}
	cfg.MustExist = false
	s, err := Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	cfg.MustExist = true
	s, err = Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Open with MustExist once the stream exists: %v", err)
	}
	s.Close()
}
