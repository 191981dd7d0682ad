package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/halo-sec/halo/events"
)

// Seed corpora beyond these f.Add seeds live in testdata/fuzz/FuzzDecode and
// testdata/fuzz/FuzzDecodeBatch.

// decodeErrorKnown reports whether err is one of the errors Decode documents.
func decodeErrorKnown(err error) bool {
	return errors.Is(err, events.ErrCorrupt) || errors.Is(err, events.ErrTooLarge) || errors.Is(err, events.ErrUnknownType)
}

// normalized is e as it comes back from a re-encoding: Encode writes
// SchemaVersion for a zero schema.
func normalized(e events.Event) events.Event {
	if e.Schema == 0 {
		e.Schema = events.SchemaVersion
	}
	return e
}

// checkReencode encodes a decoded event, decodes it again and checks the
// result equals it; it returns the canonical encoding.
func checkReencode(t *testing.T, e events.Event, inLen int) []byte {
	t.Helper()
	b, err := events.Encode(&e)
	if err != nil {
		// Re-encoding adds at most the schema field an input may lack.
		if errors.Is(err, events.ErrTooLarge) && inLen > events.MaxEventSize-8 {
			return nil
		}
		t.Fatalf("a decoded event does not re-encode: %v\n%+v", err, e)
	}
	e2, err := events.Decode(b)
	if err != nil {
		t.Fatalf("a re-encoded event does not decode: %v\n%x", err, b)
	}
	if d := diffEvent(e2, normalized(e)); d != "" {
		t.Fatalf("re-encoding changed the event: %s", d)
	}
	// The re-encoding is canonical: encoding again gives the same bytes.
	b2, err := events.Encode(&e2)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("encoding is not stable: %v\n%x\n%x", err, b, b2)
	}
	// Whatever decodes has a valid JSON view.
	if j, err := e.MarshalJSON(); err != nil || !json.Valid(j) {
		t.Fatalf("invalid JSON view of a decoded event: %v\n%s", err, j)
	}
	return b
}

func fuzzSeeds() (evs []events.Event, encs [][]byte) {
	evs = append(sampleEvents(), sampleConnOpened())
	for i := range evs {
		b, err := events.Encode(&evs[i])
		if err != nil {
			panic(err)
		}
		encs = append(encs, b)
	}
	return evs, encs
}

func FuzzDecode(f *testing.F) {
	_, encs := fuzzSeeds()
	for _, b := range encs {
		f.Add(b)
	}
	id := sampleID(7)
	f.Add(unknownTypeEnvelope(id))
	f.Add(appendPayload(encs[5], 22, &events.ConnClosed{ConnId: "x"})) // two payloads
	f.Add(encs[5][:len(encs[5])/2])
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x10})

	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := events.Decode(data)
		if err != nil {
			if !decodeErrorKnown(err) {
				t.Fatalf("undocumented error: %v", err)
			}
			if e.Payload != nil {
				t.Fatalf("error %v with a payload", err)
			}
			return
		}
		if e.ID.IsZero() || e.Payload == nil || !e.Type().Valid() {
			t.Fatalf("decoded an event without id or known payload: %+v", e)
		}
		if e.Tenant != "" && events.ValidateTenant(e.Tenant) != nil || e.Device != "" && events.ValidateDevice(e.Device) != nil {
			t.Fatalf("decoded an invalid tenant or device: %q %q", e.Tenant, e.Device)
		}
		checkReencode(t, e, len(data))
	})
}

func FuzzDecodeBatch(f *testing.F) {
	evs, encs := fuzzSeeds()
	var all []byte
	for i := range evs {
		b, err := events.AppendBatch(nil, &evs[i])
		if err != nil {
			panic(err)
		}
		f.Add(b)
		all = append(all, b...)
	}
	f.Add(all)
	withUnknown := protowire.AppendBytes(protowire.AppendTag(append([]byte(nil), all[:len(all)/3]...), 1, protowire.BytesType), unknownTypeEnvelope(sampleID(7)))
	f.Add(withUnknown)
	// Minimal length prefixes, as proto.Marshal writes them.
	var minimal []byte
	for _, b := range encs[:4] {
		minimal = protowire.AppendBytes(protowire.AppendTag(minimal, 1, protowire.BytesType), b)
	}
	f.Add(minimal)
	f.Add([]byte{})

	sentinel := sampleConnOpened()
	f.Fuzz(func(t *testing.T, data []byte) {
		dst := make([]events.Event, 1, 8)
		dst[0] = sentinel
		out, unknown, err := events.DecodeBatch(dst, data)
		if len(out) == 0 || out[0].ID != sentinel.ID {
			t.Fatal("DecodeBatch lost dst's events")
		}
		if err != nil {
			if !errors.Is(err, events.ErrCorrupt) && !errors.Is(err, events.ErrTooLarge) {
				t.Fatalf("undocumented error: %v", err)
			}
			if len(out) != 1 || unknown != 0 {
				t.Fatalf("error %v, yet %d events appended, %d unknown", err, len(out)-1, unknown)
			}
			return
		}
		got := out[1:]
		if unknown < 0 {
			t.Fatalf("unknown = %d", unknown)
		}
		var re []byte
		for i := range got {
			if got[i].Payload == nil || got[i].ID.IsZero() {
				t.Fatalf("event %d has no payload or id", i)
			}
			if got[i].Seq != 0 {
				t.Fatalf("event %d has Seq %d", i, got[i].Seq)
			}
			if re, err = events.AppendBatch(re, &got[i]); err != nil {
				if errors.Is(err, events.ErrTooLarge) {
					return // an element at the size limit that lacked a schema field
				}
				t.Fatalf("event %d does not re-encode: %v", i, err)
			}
		}
		again, unknown2, err := events.DecodeBatch(nil, re)
		if err != nil || unknown2 != 0 {
			t.Fatalf("re-encoded batch: %d unknown, %v", unknown2, err)
		}
		if len(again) != len(got) {
			t.Fatalf("re-encoded batch has %d events, want %d", len(again), len(got))
		}
		for i := range again {
			if d := diffEvent(again[i], normalized(got[i])); d != "" {
				t.Fatalf("event %d: %s", i, d)
			}
		}
	})
}
