package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/events/natstest"
)

// testLogger logs to t.Log at level, and drops what comes after the test.
func testLogger(t testing.TB, level slog.Level) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// startLog starts a nats-server process and opens the store on it the way
// the brief says the edge will.
func startLog(t *testing.T) (*natstest.Server, *natsstore.Store) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a nats-server process; run without -short")
	}
	srv := natstest.Start(t)
	return srv, openStore(t, srv, testLogger(t, slog.LevelWarn))
}

func openStore(t testing.TB, srv *natstest.Server, logger *slog.Logger) *natsstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := natsstore.Open(ctx, natsstore.Config{URL: srv.URL(), CredsFile: srv.SeedFile, ConnectTimeout: time.Second, AckTimeout: 2 * time.Second}, logger)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testConfig notices an outage within half a second and retries the drain
// five times a second; the rest are the defaults.
func testConfig(t *testing.T) Config {
	return Config{SpoolDir: t.TempDir(), AppendTimeout: 500 * time.Millisecond, RetryInterval: 200 * time.Millisecond}
}

// start returns a running publisher, closed (if the test did not) at the end.
func start(t *testing.T, cfg Config, store events.Store) *Publisher {
	t.Helper()
	p, err := New(cfg, store, testLogger(t, slog.LevelInfo))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	t.Cleanup(func() {
		p.Close(context.Background())
		// ErrClosed: the test closed it before Run started.
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Run: %v", err)
		}
	})
	return p
}

func closeP(t *testing.T, p *Publisher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// event returns a traffic event of device whose payload carries seq.
func event(tenant, device string, seq int) events.Event {
	return events.Event{
		ID: events.NewID(), Schema: events.SchemaVersion, Tenant: tenant, Device: device, Time: time.Now().UTC(),
		Payload: &events.ConnClosed{ConnId: fmt.Sprintf("%s-c%d", device, seq), BytesUp: uint64(seq), BytesDown: 4096,
			DurationNs: int64(time.Millisecond), Reason: events.CloseReason_CLOSE_REASON_CLIENT},
	}
}

// emitters emit events from several goroutines, each with its own devices,
// and remember what Emit accepted, in order.
type emitters struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	accepted []events.Event
	refused  map[error]int
}

// startEmitters runs goroutines that each emit one event per device every
// tick (every = 0: as fast as possible) until stop, or n events each when n
// > 0. onErr decides what to do with an Emit error: return false to stop.
func startEmitters(p *Publisher, tenant string, goroutines, devices, n int, every time.Duration, onErr func(error) bool) *emitters {
	e := &emitters{stop: make(chan struct{}), refused: map[error]int{}}
	for g := range goroutines {
		e.wg.Go(func() {
			var mine []events.Event
			defer func() { e.mu.Lock(); e.accepted = append(e.accepted, mine...); e.mu.Unlock() }()
			var tick <-chan time.Time
			if every > 0 {
				tk := time.NewTicker(every)
				defer tk.Stop()
				tick = tk.C
			}
			seq := 0
			for n <= 0 || len(mine) < n {
				if tick != nil {
					select {
					case <-e.stop:
						return
					case <-tick:
					}
				}
				for d := range devices {
					ev := event(tenant, fmt.Sprintf("g%d-d%d", g, d), seq)
					if err := p.Emit(ev); err != nil {
						e.mu.Lock()
						e.refused[err]++
						e.mu.Unlock()
						if !onErr(err) {
							return
						}
						continue
					}
					mine = append(mine, ev)
				}
				seq++
			}
		})
	}
	return e
}

func (e *emitters) wait() []events.Event {
	close(e.stop)
	e.wg.Wait()
	return e.accepted
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verifyLog checks that the log holds every accepted event exactly once,
// nothing else of the tenant, and each device's events in emission order.
func verifyLog(t *testing.T, store *natsstore.Store, tenant string, accepted []events.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := store.Stats().Duplicates
	var got []events.Event
	for ev, err := range store.Read(ctx, events.Query{Tenant: tenant}) {
		if err != nil {
			t.Fatalf("reading the log: %v", err)
		}
		got = append(got, ev)
	}
	dups := store.Stats().Duplicates - before
	want := make(map[events.ID]bool, len(accepted))
	for i := range accepted {
		want[accepted[i].ID] = true
	}
	seen := make(map[events.ID]bool, len(got))
	extra := 0
	for i := range got {
		if seen[got[i].ID] {
			t.Errorf("event %s read twice", got[i].ID)
		}
		seen[got[i].ID] = true
		if !want[got[i].ID] {
			extra++
		}
	}
	missing := 0
	for id := range want {
		if !seen[id] {
			missing++
		}
	}
	if missing > 0 || extra > 0 || len(got) != len(accepted) {
		t.Errorf("log holds %d events, %d accepted: %d missing, %d not emitted", len(got), len(accepted), missing, extra)
	}
	// Per-device order: the emission order of a device is its seq order.
	byDevice := map[string][]events.Event{}
	for _, ev := range got {
		byDevice[ev.Device] = append(byDevice[ev.Device], ev)
	}
	wantDev := map[string][]events.ID{}
	for _, ev := range accepted {
		wantDev[ev.Device] = append(wantDev[ev.Device], ev.ID)
	}
	for dev, ids := range wantDev {
		var gotIDs []events.ID
		for _, ev := range byDevice[dev] {
			gotIDs = append(gotIDs, ev.ID)
		}
		if len(gotIDs) != len(ids) {
			continue // already reported
		}
		for i := range ids {
			if ids[i] != gotIDs[i] {
				t.Errorf("device %s: event %d of the log is %s, emitted %d-th was %s: order broken", dev, i, gotIDs[i], i, ids[i])
				break
			}
		}
	}
	t.Logf("log: %d events of %s read back, %d duplicate copies dropped by the reader", len(got), tenant, dups)
}

// rawCount reads every message of the stream without de-duplication and
// counts the copies of each event id of tenant.
func rawCount(t *testing.T, srv *natstest.Server, tenant string) map[events.ID]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opt, err := nats.NkeyOptionFromSeed(srv.SeedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.URL(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, natsstore.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[events.ID]int{}
	if info.State.Msgs == 0 {
		return counts
	}
	cons, err := js.OrderedConsumer(ctx, natsstore.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for last < info.State.LastSeq {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			last = meta.Sequence.Stream
			evs, _, err := events.DecodeBatch(nil, msg.Data())
			if err != nil {
				t.Fatalf("raw message %d: %v", last, err)
			}
			for _, ev := range evs {
				if ev.Tenant == tenant {
					counts[ev.ID]++
				}
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("raw read stalled at message %d of %d", last, info.State.LastSeq)
		}
	}
	return counts
}

func rawDuplicates(counts map[events.ID]int) (events, copies int) {
	for _, n := range counts {
		events++
		copies += n
	}
	return events, copies - events
}
