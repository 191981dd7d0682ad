package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

func TestHappyPath(t *testing.T) {
	_, store := startLog(t)
	p := start(t, testConfig(t), store)
	em := startEmitters(p, "acme", 8, 2, 2500, 0, func(err error) bool { t.Errorf("Emit: %v", err); return false })
	em.wg.Wait()
	accepted := em.wait()
	if len(accepted) != 20000 {
		t.Fatalf("accepted %d events, want 20000", len(accepted))
	}
	closeP(t, p)
	st := p.Stats()
	t.Logf("stats: %+v", st)
	if st.Emitted != 20000 || st.Appended != 20000 || st.SpooledEvents != 0 || st.Buffered != 0 {
		t.Errorf("stats %+v: want 20000 emitted and appended, none spooled or buffered", st)
	}
	verifyLog(t, store, "acme", accepted)
}

func TestOutageStop(t *testing.T) { testOutage(t, false) }
func TestOutageKill(t *testing.T) { testOutage(t, true) }

// testOutage stops (or kills) the log while events flow, keeps emitting for
// two seconds, restarts it, and checks that the log ends with exactly one
// copy of every event, in per-device order.
func testOutage(t *testing.T, kill bool) {
	srv, store := startLog(t)
	p := start(t, testConfig(t), store)
	// 4 goroutines × 2 devices, one event per device every millisecond:
	// about 8,000 events/s.
	em := startEmitters(p, "acme", 4, 2, 0, time.Millisecond, func(err error) bool { t.Errorf("Emit: %v", err); return false })
	time.Sleep(500 * time.Millisecond)
	if kill {
		srv.Kill()
	} else {
		srv.Stop()
	}
	down := time.Now()
	waitFor(t, 5*time.Second, "spooling", func() bool { return p.Spooling() && p.Stats().SpoolFiles > 0 })
	time.Sleep(time.Until(down.Add(2 * time.Second)))
	st := p.Stats()
	if !st.Spooling || st.SpoolFiles == 0 || st.SpooledEvents == 0 {
		t.Fatalf("after 2 s of outage: %+v, want spooling with files", st)
	}
	t.Logf("after 2 s down: %d spool files, %d events (%d bytes) spooled, %d appended", st.SpoolFiles, st.SpooledEvents, st.SpooledBytes, st.Appended)
	srv.Restart(t)
	up := time.Now()
	time.Sleep(500 * time.Millisecond)
	accepted := em.wait()
	waitFor(t, 20*time.Second, "the spool to drain", func() bool { s := p.Stats(); return !s.Spooling && s.SpoolFiles == 0 })
	t.Logf("spool drained %v after the restart", time.Since(up).Round(time.Millisecond))
	closeP(t, p)
	st = p.Stats()
	t.Logf("stats: %+v", st)
	if st.Corrupt != 0 || st.Rejected != 0 || st.Refused != 0 {
		t.Errorf("stats %+v: nothing should be corrupt, rejected or refused", st)
	}
	if st.Appended < uint64(len(accepted)) {
		t.Errorf("appended %d < accepted %d", st.Appended, len(accepted))
	}
	verifyLog(t, store, "acme", accepted)
	counts := rawCount(t, srv, "acme")
	n, dups := rawDuplicates(counts)
	t.Logf("raw stream: %d distinct events of %d accepted, %d extra copies stored (dropped by readers)", n, len(accepted), dups)
	if n != len(accepted) {
		t.Errorf("raw stream holds %d distinct events, want %d", n, len(accepted))
	}
}

func TestSpoolFull(t *testing.T) {
	srv, store := startLog(t)
	cfg := testConfig(t)
	cfg.SpoolMaxBytes = 64 << 10
	p := start(t, cfg, store)
	srv.Stop()
	// 2 goroutines, one event every 200 µs each, until the spool refuses.
	em := startEmitters(p, "acme", 2, 1, 0, 200*time.Microsecond, func(err error) bool {
		if !errors.Is(err, ErrSpoolFull) {
			t.Errorf("Emit: %v, want ErrSpoolFull", err)
		}
		return false
	})
	waitFor(t, 15*time.Second, "ErrSpoolFull", func() bool {
		em.mu.Lock()
		defer em.mu.Unlock()
		return em.refused[ErrSpoolFull] == 2
	})
	accepted := em.wait()
	st := p.Stats()
	t.Logf("refusing: %+v", st)
	if !p.SpoolFull() || !st.Spooling {
		t.Fatalf("SpoolFull %v, Spooling %v: want both", p.SpoolFull(), st.Spooling)
	}
	if st.SpoolBytes > cfg.SpoolMaxBytes {
		t.Errorf("spool holds %d bytes, limit %d", st.SpoolBytes, cfg.SpoolMaxBytes)
	}
	if err := p.Emit(event("acme", "late", 0)); !errors.Is(err, ErrSpoolFull) {
		t.Errorf("Emit while full: %v, want ErrSpoolFull", err)
	}

	srv.Restart(t)
	waitFor(t, 20*time.Second, "the spool to drain", func() bool {
		s := p.Stats()
		return !s.SpoolFull && !s.Spooling && s.SpoolFiles == 0 && s.Buffered == 0
	})
	for i := range 10 {
		ev := event("acme", "after", i)
		if err := p.Emit(ev); err != nil {
			t.Fatalf("Emit after the drain: %v", err)
		}
		accepted = append(accepted, ev)
	}
	closeP(t, p)
	t.Logf("stats: %+v", p.Stats())
	verifyLog(t, store, "acme", accepted)
}

// TestLeftoverSpool: one publisher spools while the log is down and is
// closed; a new one drains those files on start, before its own events.
func TestLeftoverSpool(t *testing.T) {
	srv, store := startLog(t)
	srv.Stop()
	cfg := testConfig(t)
	p1 := start(t, cfg, store)
	em := startEmitters(p1, "acme", 4, 1, 250, 0, func(err error) bool { t.Errorf("Emit: %v", err); return false })
	em.wg.Wait()
	accepted := em.wait()
	if _, err := New(cfg, store, nil); !errors.Is(err, ErrSpoolInUse) || !strings.Contains(err.Error(), fmt.Sprintf("(pid %d)", os.Getpid())) {
		t.Errorf("second publisher on the spool: %v, want ErrSpoolInUse naming the holder", err)
	}
	closeP(t, p1)
	st := p1.Stats()
	t.Logf("first publisher closed: %+v", st)
	if st.SpoolFiles == 0 || st.SpooledEvents != 1000 || st.Appended != 0 {
		t.Fatalf("first publisher: %+v, want 1000 events spooled, none appended", st)
	}

	srv.Restart(t)
	p2, err := New(cfg, store, testLogger(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got := p2.Stats(); got.SpoolFiles != st.SpoolFiles || !got.Spooling {
		t.Fatalf("new publisher sees %+v, want %d spool files and spooling", got, st.SpoolFiles)
	}
	// New events emitted before the drain even starts come after the old.
	for i := range 100 {
		ev := event("acme", "g0-d0", 1000+i)
		if err := p2.Emit(ev); err != nil {
			t.Fatal(err)
		}
		accepted = append(accepted, ev)
	}
	done := make(chan error, 1)
	go func() { done <- p2.Run(context.Background()) }()
	waitFor(t, 20*time.Second, "the spool to drain", func() bool { s := p2.Stats(); return !s.Spooling && s.SpoolFiles == 0 })
	closeP(t, p2)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st2 := p2.Stats()
	t.Logf("second publisher: %+v", st2)
	if st2.Drained < 1000 {
		t.Errorf("drained %d events, want at least 1000", st2.Drained)
	}
	verifyLog(t, store, "acme", accepted)
}

// TestCorruptSpoolFiles: torn, bit-flipped and garbage spool files are moved
// aside and counted, a complete file whose rename was interrupted is
// recovered, and the others drain.
func TestCorruptSpoolFiles(t *testing.T) {
	_, store := startLog(t)
	cfg := testConfig(t)
	sp, err := openSpool(cfg.SpoolDir, 1<<30, 4096, testLogger(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	var batches [][]events.Event
	for b := range 5 {
		var evs []events.Event
		for i := range 20 {
			evs = append(evs, event("acme", "d", b*20+i))
		}
		if _, _, err := sp.write(evs, true, true); err != nil {
			t.Fatal(err)
		}
		batches = append(batches, evs)
	}
	sp.close()
	path := func(seq uint64) string { return filepath.Join(cfg.SpoolDir, spoolName(seq)) }
	mutate := func(seq uint64, f func([]byte) []byte) {
		b, err := os.ReadFile(path(seq))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path(seq), f(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mutate(2, func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }) // bit rot
	mutate(3, func(b []byte) []byte { return b[:len(b)-7] })           // torn
	// Batch 5 was fully written but the crash came before its rename.
	if err := os.Rename(path(5), path(5)+tmpExt); err != nil {
		t.Fatal(err)
	}
	// A torn temporary file, and garbage under a spool name.
	if err := os.WriteFile(path(6)+tmpExt, []byte(spoolMagic+"\x01\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path(9), []byte("not a spool file at all, but named like one"), 0o600); err != nil {
		t.Fatal(err)
	}

	p := start(t, cfg, store)
	waitFor(t, 10*time.Second, "the spool to drain", func() bool { s := p.Stats(); return !s.Spooling && s.SpoolFiles == 0 })
	closeP(t, p)
	st := p.Stats()
	t.Logf("stats: %+v", st)
	if st.Corrupt != 4 {
		t.Errorf("%d corrupt spool files counted, want 4 (bit rot, torn, torn tmp, garbage)", st.Corrupt)
	}
	moved, _ := os.ReadDir(filepath.Join(cfg.SpoolDir, corruptDir))
	var names []string
	for _, e := range moved {
		names = append(names, e.Name())
	}
	if len(names) != 4 {
		t.Errorf("corrupt/ holds %v, want 4 files", names)
	}
	var want []events.Event
	for _, b := range []int{0, 3, 4} {
		want = append(want, batches[b]...)
	}
	verifyLog(t, store, "acme", want)
}

// TestRejectedEvent: an event that passes Validate but that the log refuses
// (too large to encode) is set aside, counted, and does not hold back the
// events around it, whether it is appended directly or from the spool.
func TestRejectedEvent(t *testing.T) {
	srv, store := startLog(t)
	cfg := testConfig(t)
	p := start(t, cfg, store)
	huge := event("acme", "d", 999)
	huge.Payload = &events.TxObserved{ConnId: "c", Method: "POST", Host: "pay.example", Path: "/" + strings.Repeat("x", events.MaxEventSize)}
	var accepted []events.Event
	emit := func(evs ...events.Event) {
		for _, ev := range evs {
			if err := p.Emit(ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 3 {
		accepted = append(accepted, event("acme", "d", i))
	}
	emit(accepted...)
	emit(huge)
	more := []events.Event{event("acme", "d", 3), event("acme", "d", 4)}
	emit(more...)
	accepted = append(accepted, more...)
	waitFor(t, 5*time.Second, "the rejection", func() bool { return p.Stats().Rejected == 1 })

	// Through the spool.
	srv.Stop()
	waitFor(t, 5*time.Second, "spooling", func() bool { emit(event("acme", "e", 0)); return p.Spooling() })
	huge2 := huge
	huge2.ID = events.NewID()
	emit(huge2)
	waitFor(t, 5*time.Second, "the second rejection", func() bool { return p.Stats().Rejected == 2 })
	srv.Restart(t)
	waitFor(t, 20*time.Second, "the spool to drain", func() bool { return !p.Spooling() })
	closeP(t, p)
	files, _ := os.ReadDir(filepath.Join(cfg.SpoolDir, rejectedDir))
	if len(files) != 2 {
		t.Fatalf("rejected/ holds %d files, want 2", len(files))
	}
	b, _ := os.ReadFile(filepath.Join(cfg.SpoolDir, rejectedDir, files[0].Name()))
	if !strings.Contains(string(b), huge.ID.String()) || !strings.Contains(string(b), "too large") {
		t.Errorf("rejected file: %.200s", b)
	}
	var got int
	for ev, err := range store.Read(context.Background(), events.Query{Tenant: "acme", Device: "d"}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID == huge.ID || ev.ID == huge2.ID {
			t.Errorf("the oversize event reached the log")
		}
		got++
	}
	if got != len(accepted) {
		t.Errorf("device d has %d events in the log, want %d", got, len(accepted))
	}
}

func TestEmitRefuses(t *testing.T) {
	cfg := Config{SpoolDir: t.TempDir()}
	p, err := New(cfg, discardStore{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := event("acme", "d", 0)
	bad.Tenant = "no spaces"
	if err := p.Emit(bad); !errors.Is(err, events.ErrInvalidTenant) {
		t.Errorf("bad tenant: %v", err)
	}
	noDevice := event("acme", "", 0)
	if err := p.Emit(noDevice); !errors.Is(err, events.ErrInvalidEvent) {
		t.Errorf("traffic event without a device: %v", err)
	}
	future := event("acme", "d", 0)
	future.Time = time.Now().Add(time.Hour)
	if err := p.Emit(future); !errors.Is(err, events.ErrInvalidEvent) {
		t.Errorf("event an hour ahead: %v", err)
	}
	if err := p.Emit(event("acme", "d", 1)); err != nil {
		t.Fatal(err)
	}
	// Close without Run flushes; twice is fine; then everything refuses.
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Appended != 1 || st.Emitted != 1 {
		t.Errorf("stats %+v: want 1 emitted and appended", st)
	}
	if err := p.Emit(event("acme", "d", 2)); !errors.Is(err, ErrClosed) {
		t.Errorf("Emit after Close: %v", err)
	}
	if err := p.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	// The spool is free again.
	p2, err := New(cfg, discardStore{}, nil)
	if err != nil {
		t.Fatalf("New after Close: %v", err)
	}
	p2.Close(context.Background())
}

func TestBufferFull(t *testing.T) {
	cfg := Config{SpoolDir: t.TempDir(), MaxBatch: 10, MaxBuffered: 25}
	p, err := New(cfg, discardStore{}, nil) // not running: nothing flushes
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for i := range 25 {
		if err := p.Emit(event("acme", "d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Emit(event("acme", "d", 25)); !errors.Is(err, ErrBufferFull) {
		t.Fatalf("Emit beyond MaxBuffered: %v, want ErrBufferFull", err)
	}
	if st := p.Stats(); st.Buffered != 25 || st.Refused != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestCloseWhileLogHangs: Close with a short deadline while the log does not
// answer saves the buffer to the spool, exceeding its limit if need be.
func TestCloseWhileLogHangs(t *testing.T) {
	cfg := Config{SpoolDir: t.TempDir(), SpoolMaxBytes: 100, AppendTimeout: time.Hour}
	p, err := New(cfg, hangingStore{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go p.Run(context.Background())
	for i := range 100 {
		if err := p.Emit(event("acme", "d", i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // a flush is now stuck in Append
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := p.Stats()
	t.Logf("Close took %v: %+v", time.Since(t0), st)
	if time.Since(t0) > 2*time.Second {
		t.Errorf("Close took %v with a 300ms deadline", time.Since(t0))
	}
	if st.SpooledEvents != 100 || st.SpoolFiles == 0 {
		t.Errorf("want all 100 events spooled: %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{FlushInterval: 2 * time.Second, MaxBatch: -1, AppendTimeout: -1, SpoolMaxBytes: -1, RetryInterval: -1}.Validate()
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("Validate: %v", err)
	}
	for _, want := range []string{"spool directory", "flush interval", "max batch", "append timeout", "spool size", "retry interval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not mention %q", err, want)
		}
	}
	if err := (Config{SpoolDir: "x"}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if _, err := New(Config{SpoolDir: t.TempDir()}, nil, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil store: %v", err)
	}
}
