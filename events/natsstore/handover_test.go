package natsstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/storetest"
)

// newLogDir makes an event log in a data directory and closes it.
func newLogDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), Config{DataDir: dir, Mode: ModeServe}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), storetest.Traffic("acme", "pos-1", time.Now(), 3)...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return dir
}

// TestHandover: a command that started the data directory's server for
// itself (halo up was down) hands it over when halo up starts: halo up
// starts instead of failing, and the command's store fails what it does
// next, its subscription too, with ErrHandedOver naming who took over.
func TestHandover(t *testing.T) {
	defer func(g time.Duration) { handoverGrace = g }(handoverGrace)
	handoverGrace = 100 * time.Millisecond
	ctx := context.Background()
	dir := newLogDir(t)
	cmd, err := Open(ctx, Config{DataDir: dir, Holder: "halo events tail", Yield: true}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cmd.Close()
	if !cmd.Embedded() {
		t.Fatal("the command did not start its own server")
	}
	sub, err := cmd.Subscribe(ctx, events.SubscribeOptions{NewOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	next := make(chan error, 1)
	go func() {
		_, err := sub.Next(ctx)
		next <- err
	}()

	up, err := Open(ctx, Config{DataDir: dir, Mode: ModeServe, Holder: "halo up"}, testLogger(t))
	if err != nil {
		t.Fatalf("halo up while a command held the data directory: %v", err)
	}
	defer up.Close()
	if !up.Embedded() {
		t.Fatal("halo up does not serve the data directory")
	}
	if got := storetest.ReadAll(t, up, events.Query{}); len(got) != 3 {
		t.Fatalf("halo up reads %d events, want the 3 of the log", len(got))
	}

	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrHandedOver) || !errors.Is(err, events.ErrClosed) || !strings.Contains(err.Error(), "halo up (pid ") {
			t.Errorf("%s after the handover: %v, want ErrHandedOver (and events.ErrClosed) naming halo up", what, err)
		}
	}
	select {
	case err := <-next:
		check("the subscription's Next", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription's Next still waits 10 s after the handover")
	}
	check("Append", cmd.Append(ctx, storetest.Traffic("acme", "pos-2", time.Now(), 1)...))
	for _, err := range cmd.Read(ctx, events.Query{}) {
		check("Read", err)
		break
	}

	// Commands from now on go through halo up's server.
	again, err := Open(ctx, Config{DataDir: dir, Holder: "halo events ls", Yield: true, MustExist: true}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Embedded() {
		t.Error("a command after the handover started its own server instead of joining halo up's")
	}
}

// TestNoHandoverFromServers: a halo up, or a role run alone, keeps the data
// directory it serves; a halo up starting then fails at once, naming it,
// and the holder goes on.
func TestNoHandoverFromServers(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		holder string
		cfg    Config
	}{
		{"halo up", Config{Mode: ModeServe}},
		{"halo edge", Config{Yield: false}},
	} {
		t.Run(tc.holder, func(t *testing.T) {
			dir := newLogDir(t)
			cfg := tc.cfg
			cfg.DataDir, cfg.Holder = dir, tc.holder
			holder, err := Open(ctx, cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Close()
			start := time.Now()
			_, err = Open(ctx, Config{DataDir: dir, Mode: ModeServe, Holder: "halo up"}, testLogger(t))
			if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), tc.holder+" (pid ") {
				t.Fatalf("halo up on a directory %s serves: %v, want ErrDataDirInUse naming it", tc.holder, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("halo up took %v to fail, want at once", d)
			}
			if err := holder.Append(ctx, storetest.Traffic("acme", "pos-2", time.Now(), 1)...); err != nil {
				t.Errorf("the holder after the refused halo up: %v", err)
			}
		})
	}
}

// TestClientFollowsServerRestart: a client of the data directory's server
// (halo events tail while halo up runs) reconnects to it after it restarts
// on another port, and its subscription goes on delivering; it retried
// the old port forever before, and heard nothing more.
func TestClientFollowsServerRestart(t *testing.T) {
	ctx := context.Background()
	dir := newLogDir(t)
	up, err := Open(ctx, Config{DataDir: dir, Mode: ModeServe, Holder: "halo up"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	client, err := Open(ctx, Config{DataDir: dir, Holder: "halo events tail", Yield: true}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if client.Embedded() {
		t.Fatal("the client started its own server")
	}
	sub, err := client.Subscribe(ctx, events.SubscribeOptions{NewOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	oldURL := up.ClientURL()
	up.Close()

	up, err = Open(ctx, Config{DataDir: dir, Mode: ModeServe, Holder: "halo up"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if up.ClientURL() == oldURL {
		t.Fatalf("the restarted server listens where it did (%s): the test shows nothing", oldURL)
	}
	ev := storetest.Traffic("acme", "pos-9", time.Now(), 1)
	if err := up.Append(ctx, ev...); err != nil {
		t.Fatal(err)
	}
	nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		d, err := sub.Next(nctx)
		if err != nil {
			t.Fatalf("the client's subscription after the server restarted: %v", err)
		}
		if len(d.Events) > 0 {
			if d.Events[0].ID != ev[0].ID {
				t.Fatalf("delivered %s, want the event appended after the restart %s", d.Events[0].ID, ev[0].ID)
			}
			return
		}
	}
}

// TestHandoverGrace: a command that ends within handoverGrace of halo up
// starting is let finish, not asked: halo up starts after it, and the
// command saw no error.
func TestHandoverGrace(t *testing.T) {
	defer func(g time.Duration) { handoverGrace = g }(handoverGrace)
	handoverGrace = 20 * time.Second // far beyond the command's time, however loaded the machine
	ctx := context.Background()
	dir := newLogDir(t)
	cmd, err := Open(ctx, Config{DataDir: dir, Holder: "halo tenants create", Yield: true}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cmd.Close()
	ended := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		err := cmd.Append(ctx, storetest.Traffic("acme", "pos-2", time.Now(), 1)...)
		cmd.Close()
		ended <- err
	}()
	up, err := Open(ctx, Config{DataDir: dir, Mode: ModeServe, Holder: "halo up"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if err := <-ended; err != nil {
		t.Errorf("the command that ended within the grace: %v", err)
	}
	if got := storetest.ReadAll(t, up, events.Query{}); len(got) != 4 {
		t.Errorf("halo up reads %d events, want the 3 of the log and the command's 1", len(got))
	}
}

// TestClientSaysItStillWaits: a client whose server is gone (halo up
// stopped) says every unreachableNote that it is still retrying; it said
// "connection lost" once, then nothing, however long it waited.
func TestClientSaysItStillWaits(t *testing.T) {
	defer func(d time.Duration) { unreachableNote = d }(unreachableNote)
	unreachableNote = 200 * time.Millisecond
	ctx := context.Background()
	dir := newLogDir(t)
	up, err := Open(ctx, Config{DataDir: dir, Mode: ModeServe}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	client, err := Open(ctx, Config{DataDir: dir}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	up.Close()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "event log still unreachable; retrying"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no word from the client within 10 s of losing its server:\n%s", logs.String())
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
