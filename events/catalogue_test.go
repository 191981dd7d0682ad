package events_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/halo-sec/halo/events"
)

// TestCatalogueMatchesProto checks the hand-written catalogue against the
// generated descriptor: one type per field of Envelope.payload, named after
// the field, with that field's message and field number.
func TestCatalogueMatchesProto(t *testing.T) {
	envDesc := events.File_halo_events_v1_events_proto.Messages().ByName("Envelope")
	if envDesc == nil {
		t.Fatal("no Envelope in the generated descriptor")
	}
	if envDesc != (&events.Envelope{}).ProtoReflect().Descriptor() {
		t.Fatal("the file descriptor's Envelope is not the generated type's")
	}
	oneof := envDesc.Oneofs().ByName("payload")
	if oneof == nil {
		t.Fatal("Envelope has no oneof payload")
	}
	types := events.Types()
	inCatalogue := map[events.Type]bool{}
	for _, typ := range types {
		if inCatalogue[typ] {
			t.Errorf("%s twice in Types()", typ)
		}
		inCatalogue[typ] = true
	}

	fields := oneof.Fields()
	if fields.Len() != len(types) {
		t.Errorf("Envelope.payload has %d fields, the catalogue %d types", fields.Len(), len(types))
	}
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		typ := events.Type(strings.ReplaceAll(string(fd.Name()), "_", "."))
		if !inCatalogue[typ] {
			t.Errorf("oneof field %s (%d): type %s is not in Types()", fd.Name(), fd.Number(), typ)
			continue
		}
		if !typ.Valid() {
			t.Errorf("%s: Valid() = false", typ)
		}
		// In catalogue order, which is field-number order.
		if i < len(types) && types[i] != typ {
			t.Errorf("Types()[%d] = %s, oneof field %d is %s", i, types[i], i, typ)
		}
		if fd.Kind() != protoreflect.MessageKind {
			t.Errorf("%s: oneof field kind %v, want a message", typ, fd.Kind())
			continue
		}
		p := events.NewPayload(typ)
		if p == nil {
			t.Errorf("NewPayload(%s) = nil", typ)
			continue
		}
		if got, want := p.ProtoReflect().Descriptor().FullName(), fd.Message().FullName(); got != want {
			t.Errorf("NewPayload(%s) is %s, the oneof field holds %s", typ, got, want)
		}
		if p.EventType() != typ {
			t.Errorf("NewPayload(%s).EventType() = %s", typ, p.EventType())
		}
		if fd.Number() < 16 {
			t.Errorf("%s: payload field number %d; the codec expects payloads from 16 up", typ, fd.Number())
		}

		// The catalogue's field number is the descriptor's: an envelope
		// with only this oneof field set (by the generated code) decodes
		// as this type, and Encode writes this field.
		id := sampleID(1)
		env := &events.Envelope{Id: id[:], Schema: 1, Tenant: "acme", Time: sampleBase.UnixNano()}
		env.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(p.ProtoReflect()))
		b, err := proto.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		e, err := events.Decode(b)
		if err != nil {
			t.Errorf("%s: Decode of a generated envelope: %v", typ, err)
		} else if e.Type() != typ {
			t.Errorf("field %d (%s) decodes as %s", fd.Number(), fd.Name(), e.Type())
		}
		e = events.Event{ID: sampleID(1), Time: sampleBase, Payload: events.NewPayload(typ)}
		var back events.Envelope
		if err := proto.Unmarshal(mustEncode(t, &e), &back); err != nil {
			t.Fatal(err)
		}
		if got := back.ProtoReflect().WhichOneof(oneof); got == nil || got.Number() != fd.Number() {
			t.Errorf("Encode(%s) did not set oneof field %d (%s): %v", typ, fd.Number(), fd.Name(), got)
		}
	}

	// The envelope's own fields are below 16, where the codec expects them.
	want := map[protoreflect.Name]protoreflect.FieldNumber{"id": 1, "schema": 2, "tenant": 3, "device": 4, "time": 5, "recorded": 6}
	all := envDesc.Fields()
	for i := 0; i < all.Len(); i++ {
		fd := all.Get(i)
		if fd.ContainingOneof() != nil {
			continue
		}
		if n, ok := want[fd.Name()]; !ok || n != fd.Number() {
			t.Errorf("Envelope field %s = %d: not what the codec reads (%v)", fd.Name(), fd.Number(), want)
		}
		delete(want, fd.Name())
	}
	if len(want) != 0 {
		t.Errorf("Envelope lacks fields %v", want)
	}
	for name, kind := range map[protoreflect.Name]protoreflect.Kind{"time": protoreflect.Sfixed64Kind, "recorded": protoreflect.Sfixed64Kind, "id": protoreflect.BytesKind} {
		if k := all.ByName(name).Kind(); k != kind {
			t.Errorf("Envelope.%s is %v, the codec writes %v", name, k, kind)
		}
	}
	batch := events.File_halo_events_v1_events_proto.Messages().ByName("Batch")
	if fd := batch.Fields().ByNumber(1); fd == nil || fd.Name() != "events" || !fd.IsList() || fd.Message() != envDesc || batch.Fields().Len() != 1 {
		t.Errorf("Batch is not `repeated Envelope events = 1`")
	}
}

// TestCatalogueHasNoMaps: map fields have no deterministic wire order, and
// the JSON view does not render them, so the schema must not have any.
func TestCatalogueHasNoMaps(t *testing.T) {
	msgs := events.File_halo_events_v1_events_proto.Messages()
	for i := 0; i < msgs.Len(); i++ {
		m := msgs.Get(i)
		for j := 0; j < m.Fields().Len(); j++ {
			if fd := m.Fields().Get(j); fd.IsMap() {
				t.Errorf("%s is a map", fd.FullName())
			}
		}
	}
}

func TestTypeKinds(t *testing.T) {
	types := events.Types()
	seen := map[events.Type]int{}
	kinds := events.Kinds()
	if len(kinds) == 0 {
		t.Fatal("no kinds")
	}
	for _, k := range kinds {
		if k == "" || strings.ContainsAny(k, ".*> \t\r\n") {
			t.Errorf("kind %q is not a NATS subject token", k)
		}
		ts := events.TypesOfKind(k)
		if len(ts) == 0 {
			t.Errorf("TypesOfKind(%q) is empty", k)
		}
		for _, typ := range ts {
			seen[typ]++
			if got := typ.Kind(); got != k {
				t.Errorf("%s is in TypesOfKind(%q) but its Kind is %q", typ, k, got)
			}
		}
		if !slices.IsSortedFunc(ts, func(a, b events.Type) int {
			return slices.Index(types, a) - slices.Index(types, b)
		}) {
			t.Errorf("TypesOfKind(%q) = %v, not in catalogue order", k, ts)
		}
	}
	if len(slices.Compact(slices.Clone(kinds))) != len(kinds) {
		t.Errorf("Kinds() has duplicates: %v", kinds)
	}
	for _, typ := range types {
		if seen[typ] != 1 {
			t.Errorf("%s is in %d kinds' TypesOfKind, want exactly 1", typ, seen[typ])
		}
		// Kind and TypesOfKind round trip.
		if !slices.Contains(events.TypesOfKind(typ.Kind()), typ) {
			t.Errorf("%s not in TypesOfKind(%s.Kind() = %q)", typ, typ, typ.Kind())
		}
	}
	want := map[events.Type]string{
		events.TypeConnOpened:          events.KindTraffic,
		events.TypeTxObserved:          events.KindTraffic,
		events.TypeAuthFailed:          events.KindTraffic,
		events.TypeDeviceEnrolled:      events.KindIdentity,
		events.TypeClockTick:           events.KindClock,
		events.TypeAlertResolved:       events.KindAlert,
		events.TypeLabelRecorded:       events.KindLabel,
		events.TypeInterventionApplied: events.KindControl,
	}
	for typ, k := range want {
		if got := typ.Kind(); got != k {
			t.Errorf("%s.Kind() = %q, want %q", typ, got, k)
		}
	}

	// Unknown types and kinds.
	for _, typ := range []events.Type{"", "conn", "conn.reopened", "conn_opened", "CONN.OPENED"} {
		if typ.Valid() || typ.Kind() != "" || events.NewPayload(typ) != nil {
			t.Errorf("unknown type %q: Valid %v, Kind %q, NewPayload %v", typ, typ.Valid(), typ.Kind(), events.NewPayload(typ))
		}
	}
	if ts := events.TypesOfKind("nope"); len(ts) != 0 {
		t.Errorf("TypesOfKind(nope) = %v", ts)
	}

	// The returned slices are copies.
	types[0] = "mutated"
	if events.Types()[0] == "mutated" {
		t.Error("Types() returns the catalogue's own slice")
	}
	ts := events.TypesOfKind(events.KindTraffic)
	ts[0] = "mutated"
	if events.TypesOfKind(events.KindTraffic)[0] == "mutated" {
		t.Error("TypesOfKind returns the catalogue's own slice")
	}
}

func TestNewPayloadIsFresh(t *testing.T) {
	for _, typ := range events.Types() {
		a, b := events.NewPayload(typ), events.NewPayload(typ)
		if a == b {
			t.Errorf("NewPayload(%s) returned the same message twice", typ)
		}
		if proto.Size(a) != 0 {
			t.Errorf("NewPayload(%s) is not empty", typ)
		}
	}
}

// TestGeneratedCodeIsFresh compiles events.proto with protoc (when it is
// installed) and compares the result with the descriptor embedded in
// events.pb.go, so a schema change without regenerating fails here and not in
// production. Regenerate with protoc-gen-go (see the header of events.pb.go).
func TestGeneratedCodeIsFresh(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc not installed")
	}
	out := filepath.Join(t.TempDir(), "events.pb")
	cmd := exec.Command(protoc, "-I", "proto", "--descriptor_set_out="+out, "halo/events/v1/events.proto")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, msg)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.File) != 1 {
		t.Fatalf("protoc produced %d files", len(set.File))
	}
	fromProto := set.File[0]
	generated := protodesc.ToFileDescriptorProto(events.File_halo_events_v1_events_proto)
	for _, fd := range []*descriptorpb.FileDescriptorProto{fromProto, generated} {
		fd.SourceCodeInfo = nil
		clearJSONNames(fd.MessageType)
	}
	if !proto.Equal(fromProto, generated) {
		t.Errorf("events.pb.go is stale: regenerate it from proto/halo/events/v1/events.proto\nproto:     %v\ngenerated: %v",
			prototext.Format(fromProto), prototext.Format(generated))
	}
}

// clearJSONNames drops json_name, which protoc fills in for plugins only.
func clearJSONNames(msgs []*descriptorpb.DescriptorProto) {
	for _, m := range msgs {
		for _, f := range m.Field {
			f.JsonName = nil
		}
		clearJSONNames(m.NestedType)
	}
}
