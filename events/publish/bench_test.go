package publish

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

// discardStore accepts every Append at once. It isolates the cost of Emit
// in BenchmarkEmit and serves the unit tests that need no log; everything
// that involves the log runs against a real nats-server.
type discardStore struct{}

func (discardStore) Append(context.Context, ...events.Event) error { return nil }
func (discardStore) Read(context.Context, events.Query) iter.Seq2[events.Event, error] {
	return func(func(events.Event, error) bool) {}
}
func (discardStore) Subscribe(context.Context, events.SubscribeOptions) (events.Subscription, error) {
	return nil, errors.New("discardStore: no subscriptions")
}
func (discardStore) Close() error { return nil }

// hangingStore never answers an Append and ignores its context, like a
// store wedged in a system call.
type hangingStore struct{ discardStore }

func (hangingStore) Append(context.Context, ...events.Event) error { select {} }

// BenchmarkEmit measures Emit alone from GOMAXPROCS goroutines (2 on the
// reference machine) while Run flushes to a sink.
func BenchmarkEmit(b *testing.B) {
	p, err := New(Config{SpoolDir: b.TempDir()}, discardStore{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	go p.Run(context.Background())
	defer p.Close(context.Background())
	const ring = 1024
	evs := make([]events.Event, ring)
	for i := range evs {
		evs[i] = event("acme", fmt.Sprintf("d%d", i%16), i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := p.Emit(evs[i%ring]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func openEmbedded(b *testing.B) *natsstore.Store {
	b.Helper()
	s, err := natsstore.Open(context.Background(), natsstore.Config{DataDir: b.TempDir()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchEvents builds n traffic events over 64 devices (payloads shared:
// they are immutable).
func benchEvents(n int) []events.Event {
	payloads := make([]events.Payload, 64)
	for d := range payloads {
		payloads[d] = event("acme", "x", d).Payload
	}
	now := time.Now().UTC()
	out := make([]events.Event, n)
	for i := range out {
		d := i % 64
		out[i] = events.Event{ID: events.NewID(), Schema: events.SchemaVersion, Tenant: "acme",
			Device: fmt.Sprintf("pos-%d", d), Time: now, Payload: payloads[d]}
	}
	return out
}

// BenchmarkEmitThroughput emits b.N events from 2 goroutines through a
// Publisher into the embedded JetStream log and closes it: events/s end to
// end. Emitters back off for 100 µs on ErrBufferFull, as a producer that
// refuses work would.
func BenchmarkEmitThroughput(b *testing.B) {
	store := openEmbedded(b)
	evs := benchEvents(b.N)
	p, err := New(Config{SpoolDir: b.TempDir()}, store, nil)
	if err != nil {
		b.Fatal(err)
	}
	go p.Run(context.Background())
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	var backoffs [2]int
	for g := range 2 {
		wg.Go(func() {
			for i := g; i < len(evs); i += 2 {
				for {
					err := p.Emit(evs[i])
					if err == nil {
						break
					}
					if !errors.Is(err, ErrBufferFull) {
						b.Error(err)
						return
					}
					backoffs[g]++
					time.Sleep(100 * time.Microsecond)
				}
			}
		})
	}
	wg.Wait()
	if err := p.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	el := time.Since(t0)
	b.StopTimer()
	st := p.Stats()
	if st.Appended != uint64(b.N) {
		b.Fatalf("appended %d of %d", st.Appended, b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	b.ReportMetric(float64(backoffs[0]+backoffs[1]), "backoffs")
}

// BenchmarkAppendDirect is the baseline of BenchmarkEmitThroughput: the same
// events appended straight to the same kind of log in batches of 4096 (what
// the publisher's flusher does), from one goroutine.
func BenchmarkAppendDirect(b *testing.B) {
	store := openEmbedded(b)
	evs := benchEvents(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < len(evs); i += DefaultMaxBatch {
		if err := store.Append(context.Background(), evs[i:min(i+DefaultMaxBatch, len(evs))]...); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
}
