package events_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/halo-sec/halo/events"
)

// The requirement: encode + decode of one connection event in under 1 µs
// (BenchmarkEncodeDecodeConnOpened). BenchmarkProtoMarshalUnmarshalConnOpened
// is the baseline: the generated code on the same event, in the same run.

func BenchmarkEncodeConnOpened(b *testing.B) {
	e := sampleConnOpened()
	buf, err := events.AppendEncode(nil, &e)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, err = events.AppendEncode(buf[:0], &e)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeConnOpened(b *testing.B) {
	e := sampleConnOpened()
	buf := mustEncode(b, &e)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeDecodeConnOpened(b *testing.B) {
	e := sampleConnOpened()
	var buf []byte
	b.SetBytes(int64(len(mustEncode(b, &e))))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = events.AppendEncode(buf[:0], &e)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := events.Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProtoMarshalUnmarshalConnOpened is the baseline for
// BenchmarkEncodeDecodeConnOpened: the generated Envelope, proto.MarshalAppend
// and proto.Unmarshal.
func BenchmarkProtoMarshalUnmarshalConnOpened(b *testing.B) {
	env := envelopeOf(sampleConnOpened())
	var buf []byte
	var back events.Envelope
	b.SetBytes(int64(proto.Size(env)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], env)
		if err != nil {
			b.Fatal(err)
		}
		back.Reset()
		if err := proto.Unmarshal(buf, &back); err != nil {
			b.Fatal(err)
		}
	}
}

// batch64 is 64 events of a busy edge: mostly connection and transaction
// events, with the rest of the catalogue mixed in.
func batch64() []events.Event {
	samples := sampleEvents()
	conn := sampleConnOpened()
	evs := make([]events.Event, 64)
	for i := range evs {
		if i%2 == 0 {
			evs[i] = conn
		} else {
			evs[i] = samples[i/2%len(samples)]
		}
	}
	return evs
}

func BenchmarkAppendBatch64(b *testing.B) {
	evs := batch64()
	buf := mustBatch(b, evs)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for i := range evs {
			var err error
			if buf, err = events.AppendBatch(buf, &evs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkDecodeBatch64(b *testing.B) {
	buf := mustBatch(b, batch64())
	dst := make([]events.Event, 0, 64)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		out, unknown, err := events.DecodeBatch(dst[:0], buf)
		if err != nil || unknown != 0 || len(out) != 64 {
			b.Fatalf("%d events, %d unknown, %v", len(out), unknown, err)
		}
	}
}

func BenchmarkMarshalJSON(b *testing.B) {
	e := sampleConnOpened()
	j, _ := e.MarshalJSON()
	b.SetBytes(int64(len(j)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendJSONSamples renders every type of the catalogue into a
// reused buffer, as `halo events` does.
func BenchmarkAppendJSONSamples(b *testing.B) {
	evs := sampleEvents()
	var buf []byte
	n := 0
	for i := range evs {
		n += len(evs[i].AppendJSON(nil))
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for i := range evs {
			buf = evs[i].AppendJSON(buf[:0])
		}
	}
}
