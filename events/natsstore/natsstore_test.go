package natsstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/storetest"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"nothing", Config{}, []string{"data directory or a NATS URL"}},
		{"public listen", Config{DataDir: "x", Listen: "0.0.0.0:4222"}, []string{"loopback only"}},
		{"bad listen", Config{DataDir: "x", Listen: "nope"}, []string{"listen address"}},
		{"serve and url", Config{DataDir: "x", URL: "nats://127.0.0.1:4222", Mode: ModeServe}, []string{"exclusive"}},
		{"serve what must exist", Config{DataDir: "x", Mode: ModeServe, MustExist: true}, []string{"MustExist does not apply"}},
		{"several", Config{DataDir: "x", Partitions: 5000, MaxAge: -time.Second, MaxBytes: -1, DuplicateWindow: time.Millisecond},
			[]string{"partitions 5000", "retention age", "retention size", "duplicate window"}},
		{"window above age", Config{DataDir: "x", MaxAge: time.Minute, DuplicateWindow: time.Hour}, []string{"exceeds retention age"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.setDefaults()
			err := c.Validate()
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate: %v, want ErrConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	ok := Config{DataDir: "x", Listen: "[::1]:0"}
	ok.setDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

// TestMustExist: a command that only reads gets ErrNoLog, naming the
// directory, for a data directory that holds no log, and the directory is
// left as it was (a mistyped --data made an empty log before); once a log
// exists there it opens, whether its server runs in another process or
// not.
func TestMustExist(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "typo")
	_, err := Open(ctx, Config{DataDir: dir, MustExist: true}, testLogger(t))
	if !errors.Is(err, ErrNoLog) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open of an empty directory with MustExist: %v, want ErrNoLog naming %s", err, dir)
	}
	if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("Open with MustExist made %s (stat: %v)", dir, serr)
	}
	srv, err := Open(ctx, Config{DataDir: dir, Mode: ModeServe}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	joined, err := Open(ctx, Config{DataDir: dir, MustExist: true}, testLogger(t))
	if err != nil {
		t.Fatalf("Open with MustExist while the log is served: %v", err)
	}
	joined.Close()
	srv.Close()
	alone, err := Open(ctx, Config{DataDir: dir, MustExist: true}, testLogger(t))
	if err != nil {
		t.Fatalf("Open with MustExist of a log no process serves: %v", err)
	}
	if !alone.Embedded() {
		t.Error("the log no process serves was not started in this process")
	}
	alone.Close()
}

func TestServeIsExclusiveAndAutoJoins(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv, err := Open(ctx, Config{DataDir: dir, Mode: ModeServe}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !srv.Embedded() {
		t.Fatal("ModeServe store does not run the server")
	}
	if _, err := Open(ctx, Config{DataDir: dir, Mode: ModeServe}, nil); !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("second ModeServe: %v, want ErrDataDirInUse", err)
	}
	cli, err := Open(ctx, Config{DataDir: dir}, testLogger(t))
	if err != nil {
		t.Fatalf("ModeAuto while served: %v", err)
	}
	if cli.Embedded() || cli.ClientURL() != srv.ClientURL() {
		t.Fatalf("ModeAuto started its own server (%v) or joined %s instead of %s", cli.Embedded(), cli.ClientURL(), srv.ClientURL())
	}
	ev := storetest.Traffic("acme", "pos-1", time.Now(), 1)
	if err := cli.Append(ctx, ev...); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	if got := storetest.ReadAll(t, srv, events.Query{}); len(got) != 1 || got[0].ID != ev[0].ID {
		t.Fatalf("the serving store reads %d events", len(got))
	}
	// Credentials and advertisement are private files.
	for _, f := range []string{SeedFile(dir), dir + "/nats/server.json"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", f, fi.Mode().Perm())
		}
	}
	srv.Close()
	if _, ok := readServerInfo(dir); ok {
		t.Error("server.json left behind after a clean shutdown")
	}
}

func TestSeedReadableByOthersRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(SeedFile(dir), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), Config{DataDir: dir}, nil)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Open with a world-readable seed: %v, want a chmod hint", err)
	}
}

func TestStreamSettings(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: dir, Partitions: 32, MaxAge: 720 * time.Hour, MaxBytes: 1 << 30, DuplicateWindow: 5 * time.Minute, ManageStream: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, age time.Duration, bytes int64, dup time.Duration) {
		t.Helper()
		info, err := s.stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := info.Config
		if c.MaxAge != age || c.MaxBytes != bytes || c.Duplicates != dup || c.Storage != jetstream.FileStorage {
			t.Fatalf("stream config age %v bytes %d dup %v storage %v; want %v %d %v file", c.MaxAge, c.MaxBytes, c.Duplicates, c.Storage, age, bytes, dup)
		}
		if s.Partitions() != 32 {
			t.Fatalf("partitions %d, want 32", s.Partitions())
		}
	}
	check(s, 720*time.Hour, 1<<30, 5*time.Minute)
	s.Close()
	// A command that does not manage the stream leaves its settings alone,
	// and keeps the partition count it was created with.
	s, err = Open(ctx, Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(s, 720*time.Hour, 1<<30, 5*time.Minute)
	s.Close()
	// halo up with other settings changes retention, not partitions.
	s, err = Open(ctx, Config{DataDir: dir, MaxAge: 24 * time.Hour, ManageStream: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, 24*time.Hour, -1, 2*time.Minute)
	ev := storetest.Traffic("acme", "pos-1", time.Now(), 1)[0]
	if err := s.Append(ctx, ev); err != nil {
		t.Fatal(err)
	}
	got := storetest.ReadAll(t, s, events.Query{})
	if len(got) != 1 {
		t.Fatalf("read %d", len(got))
	}
	want := events.Subject("acme", ev.Type(), "pos-1", 32)
	if sub := subjectOf(t, s, got[0].Seq); sub != want {
		t.Fatalf("stored on %s, want %s", sub, want)
	}
}

func subjectOf(t *testing.T, s *Store, seq uint64) string {
	m, err := s.stream.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	return m.Subject
}

func TestStats(t *testing.T) {
	log := newEmbeddedLog(t, storetest.Options{})
	s := log.Open(t).(*Store)
	evs := storetest.Traffic("acme", "pos-1", time.Now(), 10)
	if err := s.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), evs[3]); err != nil {
		t.Fatal(err)
	}
	log.PublishRaw(t, "halo.acme.traffic.0", []byte("junk"))
	storetest.ReadAll(t, s, events.Query{})
	st := s.Stats()
	if st.Appended != 11 || st.Duplicates != 1 || st.Corrupt != 1 {
		t.Fatalf("stats %+v, want 11 appended, 1 duplicate, 1 corrupt", st)
	}
	// With Query.Repeats the read yields the repeat too (and counts
	// nothing); a TimeSorter that drops repeats gives the events once.
	all := storetest.ReadAll(t, s, events.Query{Repeats: true})
	if len(all) != 11 || s.Stats().Duplicates != 1 {
		t.Fatalf("a read with Repeats gave %d events (stats %+v), want 11", len(all), s.Stats())
	}
	for _, max := range []int{4, 100} { // runs on disk, in memory
		sorter := events.NewTimeSorter(t.TempDir(), max)
		sorter.DropRepeats = true
		for _, ev := range all {
			if err := sorter.Add(ev); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		for _, err := range sorter.Sorted() {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 10 || sorter.Repeats() != 1 {
			t.Fatalf("buffer %d: %d events out of the sorter, %d repeats dropped; want 10 and 1", max, n, sorter.Repeats())
		}
		sorter.Close()
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestBulkAppendStaysNearTimeOrder: one Append of time-ordered traffic of
// many devices over half a minute (an import) reaches the log at most
// MaxBatchSpan out of event-time order across partitions, although events
// of one partition are packed into shared messages.
func TestBulkAppendStaysNearTimeOrder(t *testing.T) {
	log := newEmbeddedLog(t, storetest.Options{})
	s := log.Open(t).(*Store)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	var evs []events.Event
	for i := 0; i < 3000; i++ { // one event every 10 ms, round-robin over 40 devices
		evs = append(evs, storetest.Traffic("acme", fmt.Sprintf("pos-%d", i%40), t0.Add(time.Duration(i)*10*time.Millisecond), 1)...)
	}
	if err := s.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	got := storetest.ReadAll(t, s, events.Query{})
	if len(got) != len(evs) {
		t.Fatalf("read %d events, appended %d", len(got), len(evs))
	}
	span := s.cfg.MaxBatchSpan
	var latest time.Time
	msgs := map[uint64]bool{}
	for _, e := range got {
		msgs[e.Seq] = true
		if latest.Sub(e.Time) > span {
			t.Fatalf("event at %v came after one at %v: %v out of order, bound %v", e.Time.Sub(t0), latest.Sub(t0), latest.Sub(e.Time), span)
		}
		if e.Time.After(latest) {
			latest = e.Time
		}
	}
	// Still packed: far fewer messages than events.
	if len(msgs) > len(evs)/4 {
		t.Errorf("%d messages for %d events: the batching is lost", len(msgs), len(evs))
	}
	t.Logf("%d events in %d messages", len(evs), len(msgs))
}

// TestSparseImportStillPacked: one device's history, an event every 10 s
// with a label after every other record (a labeled Zeek log), is packed
// into few messages — a lone partition's batch may outgrow the span, and
// labels travel apart — while the device's traffic keeps its order.
func TestSparseImportStillPacked(t *testing.T) {
	log := newEmbeddedLog(t, storetest.Options{})
	s := log.Open(t).(*Store)
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	var evs []events.Event
	for i := 0; i < 1000; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		evs = append(evs, storetest.Traffic("acme", "10.0.0.7", at, 1)...)
		if i%2 == 0 {
			evs = append(evs, events.Event{ID: events.NewID(), Tenant: "acme", Device: "10.0.0.7", Time: at,
				Payload: &events.LabelRecorded{Label: "Malicious", Malicious: true, Start: at.UnixNano(), End: at.UnixNano() + 1}})
		}
	}
	if err := s.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	got := storetest.ReadAll(t, s, events.Query{})
	if len(got) != len(evs) {
		t.Fatalf("read %d of %d", len(got), len(evs))
	}
	msgs := map[uint64]bool{}
	var last time.Time
	for _, e := range got {
		msgs[e.Seq] = true
		if e.Type() != events.TypeLabelRecorded {
			if e.Time.Before(last) {
				t.Fatalf("traffic out of order: %v after %v", e.Time, last)
			}
			last = e.Time
		}
	}
	if len(msgs) > len(evs)/50 {
		t.Fatalf("%d messages for %d events", len(msgs), len(evs))
	}
}
