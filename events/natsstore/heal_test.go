package natsstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/storetest"
)

// failWrites makes the stream's next writes fail for real, as a full disk
// does: a file size limit (RLIMIT_FSIZE) just above its first block, past
// which write(2) fails with EFBIG (Go ignores SIGXFSZ). It returns the
// function that lifts the limit.
func failWrites(t *testing.T, dir string) (lift func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	blk := filepath.Join(dir, "nats", "jetstream", "jetstream", "$G", "streams", StreamName, "msgs", "1.blk")
	fi, err := os.Stat(blk)
	if err != nil {
		t.Fatalf("the stream's first block: %v", err)
	}
	limit := syscall.Rlimit{Cur: uint64(fi.Size()) + 4096, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	lifted := false
	lift = func() {
		if !lifted {
			lifted = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(lift)
	return lift
}

// openFailing opens a served log, appends 20 events, and makes the next
// writes fail (failWrites) with an append that does.
func openFailing(t *testing.T) (s *Store, dir string, before []events.Event, lift func()) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	s, err := Open(ctx, Config{DataDir: dir, Mode: ModeServe, AckTimeout: 2 * time.Second}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	before = storetest.Traffic("acme", "pos-1", time.Now(), 20)
	if err := s.Append(ctx, before...); err != nil {
		t.Fatal(err)
	}
	lift = failWrites(t, dir)
	if err := s.Append(ctx, storetest.Traffic("acme", "pos-2", time.Now(), 2000)...); err == nil {
		t.Fatal("an append past the file size limit was acknowledged")
	}
	return s, dir, before, lift
}

// TestStorageWriteFailureSticks: once nats-server's file store has failed
// a write, it fails every later one, even once writes could succeed: why
// the store restarts its server (TestStorageWriteFailureHeals). Meanwhile
// Ping fails, so /healthz says the event log is unavailable (it said
// ready).
func TestStorageWriteFailureSticks(t *testing.T) {
	defer func(d time.Duration) { healInterval = d }(healInterval)
	healInterval = time.Hour // no restart in this test
	s, _, _, lift := openFailing(t)
	ctx := context.Background()
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "storage failed a write") {
		t.Fatalf("Ping after a failed write: %v, want the storage failure", err)
	}
	lift()
	if err := s.Append(ctx, storetest.Traffic("acme", "pos-3", time.Now(), 1)...); err == nil {
		t.Fatal("an append after the failed write was acknowledged without a restart: the store need not heal")
	}
}

// TestStorageWriteFailureHeals: the store restarts its server once writes
// can succeed (not before: it serves reads meanwhile); appends are then
// acknowledged again, and every event acknowledged before the failure is
// still there.
func TestStorageWriteFailureHeals(t *testing.T) {
	defer func(d time.Duration) { healInterval = d }(healInterval)
	healInterval = 200 * time.Millisecond
	s, _, before, lift := openFailing(t)
	ctx := context.Background()
	// While writes still fail, the server is left running: reads are
	// served (a stopped server would serve nothing).
	time.Sleep(3 * healInterval)
	if n := s.Stats().StorageRestarts; n != 0 {
		t.Errorf("%d restarts while writes still fail, want none", n)
	}
	if got := storetest.ReadAll(t, s, events.Query{}); len(got) != len(before) {
		t.Errorf("read %d events while writes fail, want the %d acknowledged", len(got), len(before))
	}
	lift()
	after := storetest.Traffic("acme", "pos-3", time.Now(), 5)
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = s.Append(ctx, after...); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("appending after the failure: %v", err)
	}
	if s.Stats().StorageRestarts == 0 {
		t.Error("appends succeed again, but the server was not restarted")
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after the restart: %v", err)
	}
	got := map[events.ID]bool{}
	for _, ev := range storetest.ReadAll(t, s, events.Query{}) {
		got[ev.ID] = true
	}
	for _, ev := range append(before, after...) {
		if !got[ev.ID] {
			t.Fatalf("event %s, acknowledged, is not in the log after the restart", ev.ID)
		}
	}
}
