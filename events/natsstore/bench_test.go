package natsstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/halo-sec/halo/events"
)

// Benchmarks compare the Store with raw nats.go on the same embedded server
// (file storage, default sync), with raw messages as large as one encoded
// event. Run: go test ./events/natsstore -run '^$' -bench . -benchtime 200000x

// benchEvent is a realistic conn.opened of about 256 encoded bytes.
func benchEvent(i int) events.Event {
	return events.Event{
		ID: events.NewID(), Tenant: "acme-payments", Device: fmt.Sprintf("POS-%08d", i%5000),
		Time: time.Now().UTC(),
		Payload: &events.ConnOpened{
			ConnId: events.NewID().String(), SrcAddr: "10.20.30.40:51234", DstHost: "api.payments-gateway.example.com",
			DstIp: "203.0.113.10", DstPort: 443, Mode: events.ConnMode_CONN_MODE_CONNECT,
			Sni: "api.payments-gateway.example.com", TlsFp: "t13d1516h2_8daaf6152771_b186095e22b6_0123456789ab",
			Transport: "tcp", Service: "tls",
		},
	}
}

func benchEventSize(b *testing.B) int {
	ev := benchEvent(0)
	enc, err := events.Encode(&ev)
	if err != nil {
		b.Fatal(err)
	}
	return len(enc)
}

func benchStore(b *testing.B) (*Store, *nats.Conn, jetstream.JetStream) {
	b.Helper()
	s, err := Open(context.Background(), Config{DataDir: b.TempDir()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	opt, err := nats.NkeyOptionFromSeed(SeedFile(s.cfg.DataDir))
	if err != nil {
		b.Fatal(err)
	}
	nc, err := nats.Connect(s.ClientURL(), opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	return s, nc, js
}

// rawPublish publishes n messages of size bytes asynchronously and waits for
// every acknowledgement: the baseline of Append.
func rawPublish(b *testing.B, js jetstream.JetStream, n, size int) {
	data := make([]byte, size)
	for i := 0; i < n; i++ {
		if _, err := js.PublishAsync("halo.raw.traffic.0", data, jetstream.WithStallWait(30*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("raw publish did not complete")
	}
}

func BenchmarkAppend(b *testing.B) {
	size := benchEventSize(b)
	b.Run(fmt.Sprintf("raw-publish-%dB", size), func(b *testing.B) {
		_, _, js := benchStore(b)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		b.ResetTimer()
		rawPublish(b, js, b.N, size)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	for _, chunk := range []int{1000} {
		b.Run(fmt.Sprintf("halo-append-chunk%d", chunk), func(b *testing.B) {
			s, _, _ := benchStore(b)
			evs := make([]events.Event, chunk)
			for i := range evs {
				evs[i] = benchEvent(i)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += chunk {
				n := min(chunk, b.N-done)
				for i := 0; i < n; i++ {
					evs[i].ID = events.NewID()
				}
				if err := s.Append(context.Background(), evs[:n]...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkRead(b *testing.B) {
	size := benchEventSize(b)
	b.Run(fmt.Sprintf("raw-fetch-%dB", size), func(b *testing.B) {
		s, _, js := benchStore(b)
		rawPublish(b, js, b.N, size)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		b.ResetTimer()
		cons, err := js.OrderedConsumer(context.Background(), StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"halo.raw.>"}})
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for got < b.N {
			batch, err := cons.Fetch(1000)
			if err != nil {
				b.Fatal(err)
			}
			for m := range batch.Messages() {
				if len(m.Data()) != size {
					b.Fatal("short message")
				}
				got++
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		_ = s
	})
	b.Run("halo-read-decode", func(b *testing.B) {
		s, _, _ := benchStore(b)
		evs := make([]events.Event, 0, 1000)
		for done := 0; done < b.N; done += 1000 {
			evs = evs[:0]
			for i := 0; i < min(1000, b.N-done); i++ {
				evs = append(evs, benchEvent(done+i))
			}
			if err := s.Append(context.Background(), evs...); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(size))
		b.ReportAllocs()
		b.ResetTimer()
		got := 0
		for ev, err := range s.Read(context.Background(), events.Query{}) {
			if err != nil {
				b.Fatal(err)
			}
			if ev.Payload == nil {
				b.Fatal("no payload")
			}
			got++
		}
		if got != b.N {
			b.Fatalf("read %d events, want %d", got, b.N)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
