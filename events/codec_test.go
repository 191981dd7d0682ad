package events_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/halo-sec/halo/events"
)

// sampleBase is the event time of the first sample event.
var sampleBase = time.Date(2026, 11, 27, 5, 10, 39, 123456789, time.UTC)

// sampleID returns a fixed, valid UUIDv7 so that sample encodings and their
// JSON are the same in every run.
func sampleID(n int) events.ID {
	id, err := events.ParseID(fmt.Sprintf("0196f3a2-5c4d-7e8f-9a0b-%012x", n))
	if err != nil {
		panic(err)
	}
	return id
}

// sampleEvents returns one event of every type of the catalogue, in catalogue
// order, with every envelope and payload field set to a non-zero value
// (TestSampleEventsCoverEveryField checks that). The events are fixed: the
// same bytes and the same JSON in every run. auth.failed and clock.tick carry
// no tenant (and clock.tick no device), as they do in production.
func sampleEvents() []events.Event {
	at := func(d time.Duration) int64 { return sampleBase.Add(d).UnixNano() }
	h := func(seed byte, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	payloads := []struct {
		tenant, device string
		p              events.Payload
	}{
		{"acme", "pos-00012", &events.TenantCreated{DisplayName: "ACME Payments \"EU\"", Actor: "admin@acme.example"}},
		{"acme", "pos-00012", &events.TokenAdded{TokenId: "tok_01HZX3", Role: events.Role_ROLE_OPERATOR, TokenHash: h(0x10, 32), Actor: "admin@acme.example"}},
		{"acme", "pos-00012", &events.DeviceEnrolled{
			Model: "Ingenico Move/5000", Firmware: "4.2.1-rc.3", CertSha256: h(0x20, 32), CertSerial: "3f:9a:01",
			NotAfter: at(365 * 24 * time.Hour), Method: events.EnrollMethod_ENROLL_METHOD_CSR, Actor: "enroll-bot",
		}},
		{"acme", "pos-00012", &events.DeviceRevoked{CertSha256: h(0x30, 32), Reason: "device stolen", Actor: "ops@acme.example"}},
		{"", "10.0.0.1", &events.AuthFailed{
			RemoteAddr: "198.51.100.7:40112", Reason: events.AuthFailReason_AUTH_FAIL_REASON_UNKNOWN_CA, CertSha256: h(0x40, 32),
			CertSubject: "CN=pos-99999,O=Evil", Detail: "tls: bad certificate\n\t(unknown authority)",
		}},
		{"acme", "pos-00012", &events.ConnOpened{
			ConnId: "c-7f3a9e", SrcAddr: "10.20.0.17:51234", DstHost: "pay.example.com", DstIp: "203.0.113.10", DstPort: 443,
			Mode: events.ConnMode_CONN_MODE_CONNECT, Sni: "pay.example.com", TlsFp: "t13d1516h2_8daaf6152771_b0da82dd1658",
			Transport: "tcp", Service: "tls", Inbound: true,
		}},
		{"acme", "pos-00012", &events.ConnClosed{
			ConnId: "c-7f3a9e", BytesUp: 4821, BytesDown: 13370, DurationNs: int64(2345 * time.Millisecond),
			Reason: events.CloseReason_CLOSE_REASON_SERVER, Error: "read: connection reset by peer",
			PacketsUp: 17, PacketsDown: 23, State: "SF",
		}},
		{"acme", "pos-00012", &events.ConnBlocked{
			ConnId: "c-80aa01", DstHost: "exfil.example.net", DstIp: "192.0.2.66", DstPort: 8443,
			InterventionId: "iv-000042", Reason: "blocked by alert replay-attack", StrictFp: h(0x50, 32),
		}},
		{"acme", "pos-00012", &events.TxObserved{
			ConnId: "c-7f3a9e", Method: "POST", Host: "pay.example.com", Path: "/v1/charges?x=1&y=<2>", BodySize: 512,
			StrictFp: h(0x60, 32), LooseFp: h(0x70, 32), Status: 409, LatencyNs: int64(87 * time.Millisecond),
			Outcome: events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY, Oversize: true,
		}},
		{"", "", &events.ClockTick{Partition: 3, Partitions: 16}},
		{"acme", "pos-00012", &events.AlertRaised{
			AlertId: "al-replay-7d1c", Detector: "replay-attack", Severity: events.Severity_SEVERITY_CRITICAL, Score: 0.9875,
			WindowStart: at(-time.Minute), WindowEnd: at(0), Evidence: [][]byte{h(0x80, 16), h(0x90, 16)},
			Summary:     "replayed payment to pay.example.com",
			Explanation: "strict fingerprint seen twice after \"201 Created\"; café\u2028terminal \\ 1e-3 <b>",
			Key:         "pay.example.com",
			Features: []*events.Feature{
				{Name: "strict_repeats", Value: 2, Baseline: 0.01},
				{Name: "bytes_up_z", Value: -3.5, Baseline: 1e-7},
			},
		}},
		{"acme", "pos-00012", &events.AlertUpdated{AlertId: "al-replay-7d1c", Count: 3, LastSeen: at(30 * time.Second), Score: 0.99, Evidence: [][]byte{h(0xa0, 16)}, WindowStart: at(0), WindowEnd: at(60 * time.Second)}},
		{"acme", "pos-00012", &events.AlertAcknowledged{AlertId: "al-replay-7d1c", Actor: "analyst@sp.example", Note: "looking"}},
		{"acme", "pos-00012", &events.AlertResolved{AlertId: "al-replay-7d1c", Verdict: events.Verdict_VERDICT_TRUE_POSITIVE, Actor: "analyst@sp.example", Note: "confirmed with merchant"}},
		{"acme", "pos-00012", &events.LabelRecorded{
			Label: "replay", Detail: "C&C", Malicious: true, Start: at(-time.Hour), End: at(time.Hour),
			EventIds: [][]byte{h(0xb0, 16)}, Source: events.LabelSource_LABEL_SOURCE_VERDICT, AlertId: "al-replay-7d1c",
		}},
		{"acme", "pos-00012", &events.PolicyChanged{Version: 7, Document: []byte("replay-attack:\n  critical: quarantine\n"), Sha256: h(0xc0, 32), Actor: "admin@acme.example"}},
		{"acme", "pos-00012", &events.InterventionApplied{
			InterventionId: "iv-000042", Kind: events.InterventionKind_INTERVENTION_KIND_BLOCK,
			Match:  &events.Match{HostGlob: "*.example.net", Cidr: "192.0.2.0/24", Port: 8443, StrictFp: h(0xd0, 32)},
			Reason: "replay of a captured payment", AlertId: "al-replay-7d1c", Actor: "policy", Expires: at(24 * time.Hour), DryRun: true,
		}},
		{"acme", "pos-00012", &events.InterventionLifted{InterventionId: "iv-000042", Reason: "false alarm", Actor: "ops@acme.example"}},
		{"acme", "pos-00012", &events.ModelDeployed{
			ModelId: "m-iforest-0003", Kind: "iforest", Version: 3, Features: []string{"bytes_up", "dst_port_entropy"},
			Threshold: 0.62, Cohort: "Ingenico Move/5000@4.2", ArtifactSha256: h(0xe0, 32),
			Artifact: "models/acme/m-iforest-0003.bin", Actor: "trainer",
		}},
		{"", "", &events.PipelineConfigured{
			Name: "pipeline", WindowNs: int64(10 * time.Second), LatenessNs: int64(2 * time.Second), SuppressionNs: int64(10 * time.Minute),
			Detectors: []string{"beaconing", "replay-attack"}, Version: "v0.15.0",
			DetectorOptions: []*events.DetectorOption{{Detector: "beaconing", Option: "min_interval", Value: "4s"}},
		}},
	}
	out := make([]events.Event, len(payloads))
	for i, p := range payloads {
		t := sampleBase.Add(time.Duration(i) * time.Second)
		out[i] = events.Event{
			ID:       sampleID(i + 1),
			Schema:   events.SchemaVersion,
			Tenant:   p.tenant,
			Device:   p.device,
			Time:     t,
			Recorded: t.Add(1500 * time.Microsecond),
			Seq:      uint64(100 + i),
			Payload:  p.p,
		}
	}
	return out
}

// sampleConnOpened returns a realistic conn.opened event, the edge's most
// frequent event.
func sampleConnOpened() events.Event {
	return events.Event{
		ID:     sampleID(0xc0ffee),
		Schema: events.SchemaVersion,
		Tenant: "acme",
		Device: "POS-00012",
		Time:   sampleBase,
		Payload: &events.ConnOpened{
			ConnId:    "c-7f3a9e2b41d0",
			SrcAddr:   "10.20.0.17:51234",
			DstHost:   "pay.example.com",
			DstIp:     "203.0.113.10",
			DstPort:   443,
			Mode:      events.ConnMode_CONN_MODE_CONNECT,
			Sni:       "pay.example.com",
			TlsFp:     "t13d1516h2_8daaf6152771_b0da82dd1658",
			Transport: "tcp",
		},
	}
}

// diffEvent describes how got differs from want, or returns "". Seq is
// ignored: it is the log position, not part of the encoding.
func diffEvent(got, want events.Event) string {
	var d []string
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("id %s, want %s", got.ID, want.ID))
	}
	if got.Schema != want.Schema {
		d = append(d, fmt.Sprintf("schema %d, want %d", got.Schema, want.Schema))
	}
	if got.Tenant != want.Tenant {
		d = append(d, fmt.Sprintf("tenant %q, want %q", got.Tenant, want.Tenant))
	}
	if got.Device != want.Device {
		d = append(d, fmt.Sprintf("device %q, want %q", got.Device, want.Device))
	}
	if !got.Time.Equal(want.Time) {
		d = append(d, fmt.Sprintf("time %v, want %v", got.Time, want.Time))
	}
	if !got.Recorded.Equal(want.Recorded) || got.Recorded.IsZero() != want.Recorded.IsZero() {
		d = append(d, fmt.Sprintf("recorded %v, want %v", got.Recorded, want.Recorded))
	}
	switch {
	case (got.Payload == nil) != (want.Payload == nil):
		d = append(d, fmt.Sprintf("payload %v, want %v", got.Payload, want.Payload))
	case got.Payload != nil && !proto.Equal(got.Payload, want.Payload):
		d = append(d, fmt.Sprintf("payload\n\t%v\nwant\n\t%v", got.Payload, want.Payload))
	}
	return strings.Join(d, "; ")
}

func mustEncode(t testing.TB, e *events.Event) []byte {
	t.Helper()
	b, err := events.Encode(e)
	if err != nil {
		t.Fatalf("Encode(%s %s): %v", e.Type(), e.ID, err)
	}
	return b
}

func mustBatch(t testing.TB, evs []events.Event) []byte {
	t.Helper()
	var b []byte
	for i := range evs {
		var err error
		if b, err = events.AppendBatch(b, &evs[i]); err != nil {
			t.Fatalf("AppendBatch(%s): %v", evs[i].Type(), err)
		}
	}
	return b
}

// oneofName is the name of the Envelope oneof field of type t: the type with
// '.' as '_' (conn.opened -> conn_opened).
func oneofName(t events.Type) protoreflect.Name {
	return protoreflect.Name(strings.ReplaceAll(string(t), ".", "_"))
}

// payloadField returns the Envelope oneof field that carries payloads of type t.
func payloadField(t events.Type) protoreflect.FieldDescriptor {
	return (&events.Envelope{}).ProtoReflect().Descriptor().Fields().ByName(oneofName(t))
}

// envelopeOf builds the generated message for e, the way a non-Go producer
// with the same schema would.
func envelopeOf(e events.Event) *events.Envelope {
	env := &events.Envelope{
		Id:     e.ID[:],
		Schema: e.Schema,
		Tenant: e.Tenant,
		Device: e.Device,
		Time:   e.Time.UnixNano(),
	}
	if !e.Recorded.IsZero() {
		env.Recorded = e.Recorded.UnixNano()
	}
	m := env.ProtoReflect()
	m.Set(payloadField(e.Type()), protoreflect.ValueOfMessage(e.Payload.ProtoReflect()))
	return env
}

// appendEnvelopeHead appends an envelope's id, schema, tenant and time fields
// with protowire, for hand-built envelopes.
func appendEnvelopeHead(b []byte, id events.ID, tenant string, t time.Time) []byte {
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, id[:])
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, events.SchemaVersion)
	if tenant != "" {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, tenant)
	}
	b = protowire.AppendTag(b, 5, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, uint64(t.UnixNano()))
}

func appendPayload(b []byte, num protowire.Number, p proto.Message) []byte {
	pb, err := proto.Marshal(p)
	if err != nil {
		panic(err)
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, pb)
}

// unknownTypeEnvelope is an envelope from a newer Halo: its payload is in
// field 99, which this build does not know.
func unknownTypeEnvelope(id events.ID) []byte {
	b := appendEnvelopeHead(nil, id, "acme", sampleBase)
	inner := protowire.AppendTag(nil, 1, protowire.BytesType)
	inner = protowire.AppendString(inner, "from the future")
	b = protowire.AppendTag(b, 99, protowire.BytesType)
	return protowire.AppendBytes(b, inner)
}

func TestSampleEventsCoverTheCatalogue(t *testing.T) {
	evs := sampleEvents()
	types := events.Types()
	if len(evs) != len(types) {
		t.Fatalf("sampleEvents has %d events, the catalogue %d types", len(evs), len(types))
	}
	for i, e := range evs {
		if e.Type() != types[i] {
			t.Errorf("sample %d is %s, want %s (catalogue order)", i, e.Type(), types[i])
		}
		if err := e.Validate(); err != nil {
			t.Errorf("sample %s: %v", e.Type(), err)
		}
	}
}

// TestSampleEventsCoverEveryField makes sure a field added to the schema is
// added to sampleEvents too, so that the round trip and the JSON golden file
// cover it.
func TestSampleEventsCoverEveryField(t *testing.T) {
	var check func(path string, m protoreflect.Message)
	check = func(path string, m protoreflect.Message) {
		fields := m.Descriptor().Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			p := path + "." + string(fd.Name())
			if !m.Has(fd) {
				t.Errorf("%s is not set in sampleEvents", p)
				continue
			}
			if fd.IsList() && fd.Kind() == protoreflect.MessageKind {
				l := m.Get(fd).List()
				for j := 0; j < l.Len(); j++ {
					check(fmt.Sprintf("%s[%d]", p, j), l.Get(j).Message())
				}
			} else if !fd.IsList() && !fd.IsMap() && fd.Kind() == protoreflect.MessageKind {
				check(p, m.Get(fd).Message())
			}
		}
	}
	for _, e := range sampleEvents() {
		check(string(e.Type()), e.Payload.ProtoReflect())
	}
}

func TestRoundTripEveryType(t *testing.T) {
	for _, want := range sampleEvents() {
		t.Run(string(want.Type()), func(t *testing.T) {
			b := mustEncode(t, &want)
			got, err := events.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if d := diffEvent(got, want); d != "" {
				t.Fatalf("round trip: %s", d)
			}
			if got.Seq != 0 {
				t.Errorf("decoded Seq = %d, want 0 (not encoded)", got.Seq)
			}
			if got.Type() != want.Type() {
				t.Errorf("decoded type %s, want %s", got.Type(), want.Type())
			}
			// The decoded payload is a fresh message, not the original.
			if got.Payload == want.Payload {
				t.Error("decoded payload aliases the original")
			}
			// Encoding is deterministic and stable under re-encoding.
			if b2 := mustEncode(t, &got); !bytes.Equal(b, b2) {
				t.Errorf("re-encoding changed the bytes:\n%x\n%x", b, b2)
			}
		})
	}
}

func TestEncodeDefaultsAndOptionalFields(t *testing.T) {
	e := sampleConnOpened()
	e.Schema = 0
	e.Recorded = time.Time{}
	got, err := events.Decode(mustEncode(t, &e))
	if err != nil {
		t.Fatal(err)
	}
	if got.Schema != events.SchemaVersion {
		t.Errorf("Schema = %d, want SchemaVersion (%d) when encoded as zero", got.Schema, events.SchemaVersion)
	}
	if !got.Recorded.IsZero() {
		t.Errorf("Recorded = %v, want zero", got.Recorded)
	}

	// Times keep nanoseconds and come back in UTC whatever the location.
	e = sampleConnOpened()
	e.Time = time.Date(2026, 3, 1, 10, 0, 0, 1, time.FixedZone("CET", 3600))
	got, err = events.Decode(mustEncode(t, &e))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(e.Time) || got.Time.Location() != time.UTC {
		t.Errorf("Time = %v, want %v in UTC", got.Time, e.Time)
	}
}

func TestAppendEncodeAppends(t *testing.T) {
	e := sampleConnOpened()
	prefix := []byte("prefix")
	b, err := events.AppendEncode(append([]byte(nil), prefix...), &e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, prefix) || !bytes.Equal(b[len(prefix):], mustEncode(t, &e)) {
		t.Errorf("AppendEncode did not append the encoding to the buffer")
	}
}

func TestEncodeErrors(t *testing.T) {
	prefix := []byte("keep")
	t.Run("no payload", func(t *testing.T) {
		e := sampleConnOpened()
		e.Payload = nil
		b, err := events.AppendEncode(prefix, &e)
		if !errors.Is(err, events.ErrInvalidEvent) {
			t.Errorf("err = %v, want ErrInvalidEvent", err)
		}
		if !bytes.Equal(b, prefix) {
			t.Errorf("buffer changed on error: %q", b)
		}
	})
	t.Run("too large", func(t *testing.T) {
		e := sampleConnOpened()
		e.Payload = &events.PolicyChanged{Version: 1, Document: make([]byte, events.MaxEventSize)}
		b, err := events.AppendEncode(prefix, &e)
		if !errors.Is(err, events.ErrTooLarge) {
			t.Errorf("err = %v, want ErrTooLarge", err)
		}
		if !bytes.Equal(b, prefix) {
			t.Errorf("buffer changed on error: %d bytes", len(b))
		}
		b, err = events.AppendBatch(prefix, &e)
		if !errors.Is(err, events.ErrTooLarge) {
			t.Errorf("AppendBatch err = %v, want ErrTooLarge", err)
		}
		if !bytes.Equal(b, prefix) {
			t.Errorf("AppendBatch changed the buffer on error: %d bytes", len(b))
		}
	})
	t.Run("largest event", func(t *testing.T) {
		// An event of exactly MaxEventSize bytes encodes, decodes, and
		// fits in a batch (whose length prefix is 3 bytes wide).
		e := sampleConnOpened()
		p := &events.PolicyChanged{Version: 1}
		e.Payload = p
		p.Document = make([]byte, events.MaxEventSize-len(mustEncode(t, &e))-6)
		// Adjust for the length prefixes that grew with the document.
		for n := len(mustEncode(t, &e)); n != events.MaxEventSize; n = len(mustEncode(t, &e)) {
			p.Document = make([]byte, len(p.Document)+events.MaxEventSize-n)
		}
		b := mustEncode(t, &e)
		if len(b) != events.MaxEventSize {
			t.Fatalf("built an event of %d bytes, want %d", len(b), events.MaxEventSize)
		}
		if _, err := events.Decode(b); err != nil {
			t.Fatalf("Decode of a MaxEventSize event: %v", err)
		}
		batch := mustBatch(t, []events.Event{e, e})
		got, unknown, err := events.DecodeBatch(nil, batch)
		if err != nil || unknown != 0 || len(got) != 2 {
			t.Fatalf("DecodeBatch = %d events, %d unknown, %v; want 2, 0, nil", len(got), unknown, err)
		}
		var gen events.Batch
		if err := proto.Unmarshal(batch, &gen); err != nil || len(gen.Events) != 2 {
			t.Fatalf("proto.Unmarshal of the batch: %d events, %v", len(gen.Events), err)
		}
	})
}

func TestWireCompatibility(t *testing.T) {
	payloadOneof := (&events.Envelope{}).ProtoReflect().Descriptor().Oneofs().ByName("payload")
	for _, e := range sampleEvents() {
		t.Run(string(e.Type()), func(t *testing.T) {
			// Encode -> generated Envelope.
			b := mustEncode(t, &e)
			var env events.Envelope
			if err := proto.Unmarshal(b, &env); err != nil {
				t.Fatalf("proto.Unmarshal of Encode's bytes: %v", err)
			}
			if !bytes.Equal(env.GetId(), e.ID[:]) || env.GetSchema() != e.Schema || env.GetTenant() != e.Tenant ||
				env.GetDevice() != e.Device || env.GetTime() != e.Time.UnixNano() || env.GetRecorded() != e.Recorded.UnixNano() {
				t.Errorf("envelope fields differ: %v", &env)
			}
			m := env.ProtoReflect()
			fd := m.WhichOneof(payloadOneof)
			if fd == nil {
				t.Fatalf("no payload set in %v", &env)
			}
			if want := oneofName(e.Type()); fd.Name() != want {
				t.Fatalf("payload oneof is %s, want %s", fd.Name(), want)
			}
			if p := m.Get(fd).Message().Interface(); !proto.Equal(p, e.Payload) {
				t.Errorf("payload\n\t%v\nwant\n\t%v", p, e.Payload)
			}
			if len(m.GetUnknown()) != 0 {
				t.Errorf("unknown fields in the envelope: %x", m.GetUnknown())
			}

			// Generated Envelope -> Decode.
			gb, err := proto.Marshal(envelopeOf(e))
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.Decode(gb)
			if err != nil {
				t.Fatalf("Decode of proto.Marshal's bytes: %v", err)
			}
			if d := diffEvent(got, e); d != "" {
				t.Errorf("decoded from proto.Marshal: %s", d)
			}
			// Both encoders write fields in number order, so the bytes
			// are the same.
			if !bytes.Equal(gb, b) {
				t.Errorf("Encode and proto.Marshal differ:\n%x\n%x", b, gb)
			}
		})
	}
}

func TestBatchWireCompatibility(t *testing.T) {
	evs := sampleEvents()
	b := mustBatch(t, evs)

	// AppendBatch -> generated Batch.
	var batch events.Batch
	if err := proto.Unmarshal(b, &batch); err != nil {
		t.Fatalf("proto.Unmarshal of AppendBatch's bytes: %v", err)
	}
	if len(batch.Events) != len(evs) {
		t.Fatalf("generated Batch has %d events, want %d", len(batch.Events), len(evs))
	}
	for i, env := range batch.Events {
		if want := envelopeOf(evs[i]); !proto.Equal(env, want) {
			t.Errorf("event %d:\n\t%v\nwant\n\t%v", i, env, want)
		}
	}

	// Generated Batch -> DecodeBatch.
	gen := &events.Batch{}
	for _, e := range evs {
		gen.Events = append(gen.Events, envelopeOf(e))
	}
	gb, err := proto.Marshal(gen)
	if err != nil {
		t.Fatal(err)
	}
	got, unknown, err := events.DecodeBatch(nil, gb)
	if err != nil || unknown != 0 {
		t.Fatalf("DecodeBatch of proto.Marshal's bytes: unknown %d, %v", unknown, err)
	}
	if len(got) != len(evs) {
		t.Fatalf("DecodeBatch: %d events, want %d", len(got), len(evs))
	}
	for i := range got {
		if d := diffEvent(got[i], evs[i]); d != "" {
			t.Errorf("event %d: %s", i, d)
		}
	}

	// Our own bytes decode too, and a one-event batch costs BatchOverhead.
	got, unknown, err = events.DecodeBatch(nil, b)
	if err != nil || unknown != 0 || len(got) != len(evs) {
		t.Fatalf("DecodeBatch(AppendBatch) = %d events, %d unknown, %v", len(got), unknown, err)
	}
	for i := range got {
		if d := diffEvent(got[i], evs[i]); d != "" {
			t.Errorf("event %d: %s", i, d)
		}
	}
	for i := range evs {
		one := mustBatch(t, evs[i:i+1])
		if n := len(mustEncode(t, &evs[i])); len(one) != n+events.BatchOverhead {
			t.Errorf("%s: one-event batch is %d bytes, event %d + BatchOverhead %d", evs[i].Type(), len(one), n, events.BatchOverhead)
		}
	}
}

func TestDecodeBatchAppendsToDst(t *testing.T) {
	evs := sampleEvents()
	b := mustBatch(t, evs[:3])
	dst := []events.Event{evs[5]}
	out, unknown, err := events.DecodeBatch(dst, b)
	if err != nil || unknown != 0 {
		t.Fatal(unknown, err)
	}
	if len(out) != 4 || out[0].ID != evs[5].ID {
		t.Fatalf("DecodeBatch did not append to dst: %d events", len(out))
	}
	for i := range 3 {
		if d := diffEvent(out[i+1], evs[i]); d != "" {
			t.Errorf("event %d: %s", i, d)
		}
	}

	// An empty batch is valid and holds no events.
	out, unknown, err = events.DecodeBatch(dst, nil)
	if err != nil || unknown != 0 || len(out) != 1 {
		t.Errorf("DecodeBatch(empty) = %d events, %d unknown, %v", len(out), unknown, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := sampleConnOpened()
	gb := mustEncode(t, &good)
	id := good.ID
	conn := good.Payload
	closed := &events.ConnClosed{ConnId: "c-1", BytesUp: 1}
	env := func(mod func(*events.Envelope)) []byte {
		e := envelopeOf(good)
		mod(e)
		b, err := proto.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name  string
		in    []byte
		wants []error
	}{
		{"garbage", []byte("this is not a protobuf message at all"), []error{events.ErrCorrupt}},
		{"bad tag", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []error{events.ErrCorrupt}},
		{"field zero", []byte{0x00, 0x01}, []error{events.ErrCorrupt}},
		{"empty", nil, []error{events.ErrCorrupt}},
		{"truncated", gb[:len(gb)-1], []error{events.ErrCorrupt}},
		{"oversize", append(gb, make([]byte, events.MaxEventSize)...), []error{events.ErrTooLarge}},
		{"zero id", env(func(e *events.Envelope) { e.Id = make([]byte, 16) }), []error{events.ErrCorrupt}},
		{"no id", env(func(e *events.Envelope) { e.Id = nil }), []error{events.ErrCorrupt}},
		{"short id", env(func(e *events.Envelope) { e.Id = id[:15] }), []error{events.ErrCorrupt}},
		{"long id", env(func(e *events.Envelope) { e.Id = append(id[:], 0) }), []error{events.ErrCorrupt}},
		{"missing time", env(func(e *events.Envelope) { e.Time = 0 }), []error{events.ErrCorrupt}},
		{"missing payload", env(func(e *events.Envelope) { e.Payload = nil }), []error{events.ErrCorrupt}},
		{"two payloads", appendPayload(appendPayload(appendEnvelopeHead(nil, id, "acme", sampleBase), 21, conn), 22, closed), []error{events.ErrCorrupt}},
		{"same payload twice", appendPayload(gb, 21, conn), []error{events.ErrCorrupt}},
		{"unknown then known payload", appendPayload(unknownTypeEnvelope(id), 21, conn), []error{events.ErrCorrupt}},
		{"tenant with dot", env(func(e *events.Envelope) { e.Tenant = "acme.eu" }), []error{events.ErrCorrupt, events.ErrInvalidTenant}},
		{"tenant too long", env(func(e *events.Envelope) { e.Tenant = strings.Repeat("a", 65) }), []error{events.ErrCorrupt, events.ErrInvalidTenant}},
		{"tenant invalid utf-8", append(protowire.AppendString(protowire.AppendTag(nil, 3, protowire.BytesType), "ac\xffme"), gb...), []error{events.ErrCorrupt, events.ErrInvalidTenant}},
		{"empty tenant field", append(protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), nil), gb...), []error{events.ErrCorrupt, events.ErrInvalidTenant}},
		{"device invalid utf-8", append(protowire.AppendString(protowire.AppendTag(nil, 4, protowire.BytesType), "pos-\xc3"), gb...), []error{events.ErrCorrupt, events.ErrInvalidDevice}},
		{"device with slash", env(func(e *events.Envelope) { e.Device = "pos/1" }), []error{events.ErrCorrupt, events.ErrInvalidDevice}},
		{"device with space", env(func(e *events.Envelope) { e.Device = "pos 1" }), []error{events.ErrCorrupt, events.ErrInvalidDevice}},
		{"schema too high", env(func(e *events.Envelope) { e.Schema = 1<<16 + 1 }), []error{events.ErrCorrupt}},
		{"payload is garbage", appendEnvelopeHead(protowire.AppendBytes(protowire.AppendTag(nil, 21, protowire.BytesType), []byte{0xff, 0xff}), id, "acme", sampleBase), []error{events.ErrCorrupt}},
		{"payload invalid utf-8", func() []byte {
			b := appendEnvelopeHead(nil, id, "acme", sampleBase)
			p := protowire.AppendTag(nil, 1, protowire.BytesType)
			p = protowire.AppendString(p, "c-\xff")
			b = protowire.AppendTag(b, 21, protowire.BytesType)
			return protowire.AppendBytes(b, p)
		}(), []error{events.ErrCorrupt}},
		{"unknown type", unknownTypeEnvelope(id), []error{events.ErrUnknownType}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := events.Decode(tc.in)
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", e)
			}
			for _, want := range tc.wants {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want errors.Is %v", err, want)
				}
			}
			if e.Payload != nil {
				t.Errorf("Decode returned a payload with an error: %v", e.Payload)
			}
		})
	}
}

func TestDecodeSkipsUnknownEnvelopeFields(t *testing.T) {
	e := sampleConnOpened()
	b := mustEncode(t, &e)
	// Fields 7..15 are envelope fields of a newer schema; a reader skips them.
	var extra []byte
	extra = protowire.AppendTag(extra, 7, protowire.VarintType)
	extra = protowire.AppendVarint(extra, 12345)
	extra = protowire.AppendTag(extra, 8, protowire.BytesType)
	extra = protowire.AppendString(extra, "newer")
	extra = protowire.AppendTag(extra, 9, protowire.Fixed32Type)
	extra = protowire.AppendFixed32(extra, 42)
	// A payload-range field with a non-bytes wire type is not a payload.
	extra = protowire.AppendTag(extra, 40, protowire.VarintType)
	extra = protowire.AppendVarint(extra, 1)
	for _, in := range [][]byte{append(append([]byte(nil), extra...), b...), append(append([]byte(nil), b...), extra...)} {
		got, err := events.Decode(in)
		if err != nil {
			t.Fatalf("Decode with newer envelope fields: %v", err)
		}
		if d := diffEvent(got, e); d != "" {
			t.Error(d)
		}
	}
	// A malformed unknown field is still corrupt.
	bad := append(append([]byte(nil), b...), protowire.AppendTag(nil, 8, protowire.BytesType)...)
	bad = append(bad, 0x05, 'a')
	if _, err := events.Decode(bad); !errors.Is(err, events.ErrCorrupt) {
		t.Errorf("truncated unknown field: err = %v, want ErrCorrupt", err)
	}
}

func TestDecodeUnknownType(t *testing.T) {
	id := sampleID(99)
	raw := unknownTypeEnvelope(id)

	// The generated code reads it too, keeping the payload as unknown bytes.
	var env events.Envelope
	if err := proto.Unmarshal(raw, &env); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
	if env.GetPayload() != nil || len(env.ProtoReflect().GetUnknown()) == 0 {
		t.Errorf("generated Envelope: payload %v, unknown %x", env.GetPayload(), env.ProtoReflect().GetUnknown())
	}

	e, err := events.Decode(raw)
	if !errors.Is(err, events.ErrUnknownType) {
		t.Fatalf("Decode: err = %v, want ErrUnknownType", err)
	}
	if errors.Is(err, events.ErrCorrupt) {
		t.Errorf("an unknown type is not corrupt: %v", err)
	}
	if e.ID != id || e.Tenant != "acme" || !e.Time.Equal(sampleBase) || e.Payload != nil {
		t.Errorf("envelope of the unknown event not filled in: %+v", e)
	}

	// In a batch it is skipped and counted; the other events are kept.
	evs := sampleEvents()
	b := mustBatch(t, evs[:2])
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, raw)
	b = append(b, mustBatch(t, evs[2:4])...)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, unknownTypeEnvelope(sampleID(100)))
	got, unknown, err := events.DecodeBatch(nil, b)
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	if unknown != 2 {
		t.Errorf("unknown = %d, want 2", unknown)
	}
	if len(got) != 4 {
		t.Fatalf("DecodeBatch kept %d events, want 4", len(got))
	}
	for i := range got {
		if d := diffEvent(got[i], evs[i]); d != "" {
			t.Errorf("event %d: %s", i, d)
		}
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	evs := sampleEvents()
	good := mustBatch(t, evs[:3])
	elem := func(b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), b)
	}
	zero := sampleConnOpened()
	zb := mustEncode(t, &zero)
	var zeroID events.Envelope
	if err := proto.Unmarshal(zb, &zeroID); err != nil {
		t.Fatal(err)
	}
	zeroID.Id = make([]byte, 16)
	zeroIDBytes, err := proto.Marshal(&zeroID)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"garbage", []byte("not a batch, not at all"), events.ErrCorrupt},
		{"truncated", good[:len(good)-1], events.ErrCorrupt},
		{"wrong field", append(append([]byte(nil), good...), protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), zb)...), events.ErrCorrupt},
		{"wrong wire type", append(append([]byte(nil), good...), protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1)...), events.ErrCorrupt},
		{"corrupt element", append(append([]byte(nil), good...), elem([]byte("garbage"))...), events.ErrCorrupt},
		{"zero id element", append(append([]byte(nil), good...), elem(zeroIDBytes)...), events.ErrCorrupt},
		{"oversize", append(append([]byte(nil), good...), elem(make([]byte, events.MaxBatchSize))...), events.ErrTooLarge},
		{"oversize element", append(append([]byte(nil), good...), elem(append(zb, make([]byte, events.MaxEventSize)...))...), events.ErrTooLarge},
	}
	sentinel := evs[7]
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]events.Event, 1, 64)
			dst[0] = sentinel
			out, unknown, err := events.DecodeBatch(dst, tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if len(out) != 1 || out[0].ID != sentinel.ID {
				t.Errorf("a failed DecodeBatch appended events: %d", len(out))
			}
			if unknown != 0 {
				t.Errorf("unknown = %d on error", unknown)
			}
		})
	}
}

// TestDecodeTruncated decodes every prefix of every sample: only the full
// encoding may succeed, nothing may panic.
func TestDecodeTruncated(t *testing.T) {
	for _, e := range sampleEvents() {
		b := mustEncode(t, &e)
		for n := 0; n < len(b); n++ {
			got, err := events.Decode(b[:n])
			if err == nil {
				t.Fatalf("%s: prefix of %d/%d bytes decoded: %+v", e.Type(), n, len(b), got)
			}
			if !errors.Is(err, events.ErrCorrupt) {
				t.Fatalf("%s: prefix of %d/%d bytes: err = %v, want ErrCorrupt", e.Type(), n, len(b), err)
			}
		}
		if _, err := events.Decode(b); err != nil {
			t.Fatalf("%s: full encoding: %v", e.Type(), err)
		}
	}

	// Batch prefixes: an error, or (cut exactly between elements) the
	// events before the cut.
	evs := sampleEvents()
	var b []byte
	ends := map[int]int{0: 0} // prefix length -> events it holds
	for i := range evs {
		var err error
		if b, err = events.AppendBatch(b, &evs[i]); err != nil {
			t.Fatal(err)
		}
		ends[len(b)] = i + 1
	}
	for n := 0; n <= len(b); n++ {
		got, unknown, err := events.DecodeBatch(nil, b[:n])
		want, whole := ends[n]
		switch {
		case whole && (err != nil || len(got) != want || unknown != 0):
			t.Fatalf("batch prefix %d/%d: %d events, %d unknown, %v; want %d events", n, len(b), len(got), unknown, err, want)
		case !whole && !errors.Is(err, events.ErrCorrupt):
			t.Fatalf("batch prefix %d/%d: %d events, err = %v, want ErrCorrupt", n, len(b), len(got), err)
		}
	}
}

// TestDecodeFlippedBytes corrupts every byte of an encoding in turn: Decode
// returns an event or an error, never panics, and a decoded event
// re-encodes.
func TestDecodeFlippedBytes(t *testing.T) {
	for _, e := range sampleEvents() {
		b := mustEncode(t, &e)
		c := make([]byte, len(b))
		for i := range b {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				copy(c, b)
				c[i] ^= x
				got, err := events.Decode(c)
				if err != nil {
					continue
				}
				if _, err := events.Encode(&got); err != nil {
					t.Fatalf("%s: byte %d ^ %#x decoded but does not re-encode: %v", e.Type(), i, x, err)
				}
			}
		}
	}
}
