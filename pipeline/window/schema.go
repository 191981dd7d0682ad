package window

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/halo-sec/halo/events"
)

// Column positions in Schema.
const (
	ColTenant         = iota // utf8: the event's tenant, null for none
	ColDevice                // utf8: the event's device, null for none
	ColTime                  // timestamp[ns, UTC]: event time
	ColID                    // fixed_size_binary[16]: event id
	ColType                  // dictionary<int8, utf8>: event type, index = Type* constant
	ColConnID                // utf8: connection id (conn.*, tx.observed)
	ColDstHost               // utf8: destination host (conn.opened, conn.blocked, joined conn.closed, tx.observed Host)
	ColDstIP                 // utf8: destination IP (conn.opened, conn.blocked, joined conn.closed)
	ColDstPort               // uint32: destination port (conn.opened, conn.blocked, joined conn.closed)
	ColMode                  // dictionary<int8, utf8>: events.ConnMode (conn.opened, joined conn.closed)
	ColSNI                   // utf8: TLS server name (conn.opened, joined conn.closed)
	ColTLSFp                 // utf8: ClientHello fingerprint (conn.opened, joined conn.closed)
	ColBytesUp               // uint64 (conn.closed)
	ColBytesDown             // uint64 (conn.closed)
	ColDurationNs            // int64 (conn.closed)
	ColCloseReason           // dictionary<int8, utf8>: events.CloseReason (conn.closed)
	ColConnState             // utf8: source connection state, e.g. Zeek conn_state (conn.closed)
	ColMethod                // utf8: HTTP method (tx.observed)
	ColStatus                // uint32: HTTP status (tx.observed)
	ColOutcome               // dictionary<int8, utf8>: events.TxOutcome (tx.observed)
	ColStrictFp              // binary: strict transaction fingerprint (tx.observed, conn.blocked)
	ColLooseFp               // binary: loose transaction fingerprint (tx.observed)
	ColLatencyNs             // int64 (tx.observed)
	ColAuthReason            // dictionary<int8, utf8>: events.AuthFailReason (auth.failed)
	ColInterventionID        // utf8: intervention that blocked (conn.blocked)
	NumCols
)

// Row types: the index of a row's type in the ColType dictionary.
const (
	TypeConnOpened  int8 = iota // conn.opened
	TypeConnClosed              // conn.closed
	TypeConnBlocked             // conn.blocked
	TypeTxObserved              // tx.observed
	TypeAuthFailed              // auth.failed
)

// TypeNames is the ColType dictionary: TypeNames[TypeConnOpened] ==
// "conn.opened", and so on.
var TypeNames = []string{
	string(events.TypeConnOpened), string(events.TypeConnClosed), string(events.TypeConnBlocked),
	string(events.TypeTxObserved), string(events.TypeAuthFailed),
}

// Dictionaries of the enum columns. The index of a value is the protobuf
// enum number (events.CloseReason_CLOSE_REASON_REFUSED is index 6 of
// CloseReasonNames, "refused"); a number this build does not know is stored
// as 0, "unspecified". Names are the enum names without their prefix, lower
// case, with '-' for '_'.
var (
	ModeNames        = enumNames(events.ConnMode(0).Descriptor())
	CloseReasonNames = enumNames(events.CloseReason(0).Descriptor())
	OutcomeNames     = enumNames(events.TxOutcome(0).Descriptor())
	AuthReasonNames  = enumNames(events.AuthFailReason(0).Descriptor())
)

// enumNames lists an enum's short names indexed by number; the enums of the
// catalogue are dense from 0, which the dictionary encoding relies on.
func enumNames(d protoreflect.EnumDescriptor) []string {
	vals := d.Values()
	prefix := ""
	if vals.Len() > 0 {
		if n := string(vals.Get(0).Name()); strings.HasSuffix(n, "_UNSPECIFIED") {
			prefix = strings.TrimSuffix(n, "UNSPECIFIED")
		}
	}
	out := make([]string, vals.Len())
	for i := range out {
		v := vals.Get(i)
		if int(v.Number()) != i {
			panic("window: enum " + string(d.FullName()) + " is not dense from 0")
		}
		out[i] = strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(string(v.Name()), prefix)), "_", "-")
	}
	return out
}

var (
	dictInt8 = func() *arrow.DictionaryType {
		return &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	}
	timestampType = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
	idType        = &arrow.FixedSizeBinaryType{ByteWidth: 16}
)

// Schema is the schema of every window's record batch. Columns that do not
// apply to a row's type are null, and so are empty strings and fingerprints.
var Schema = arrow.NewSchema([]arrow.Field{
	{Name: "tenant", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "device", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "time", Type: timestampType},
	{Name: "id", Type: idType},
	{Name: "type", Type: dictInt8()},
	{Name: "conn_id", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "dst_host", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "dst_ip", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "dst_port", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "mode", Type: dictInt8(), Nullable: true},
	{Name: "sni", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "tls_fp", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "bytes_up", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "bytes_down", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "duration_ns", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "close_reason", Type: dictInt8(), Nullable: true},
	{Name: "conn_state", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "method", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "status", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "outcome", Type: dictInt8(), Nullable: true},
	{Name: "strict_fp", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "loose_fp", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "latency_ns", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "auth_reason", Type: dictInt8(), Nullable: true},
	{Name: "intervention_id", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// colTypes holds the type of each column of Schema: a window's build asks
// for a dozen, and Schema.Field copies the whole field (name, metadata)
// to return one.
var colTypes = func() (t [NumCols]arrow.DataType) {
	for i := range t {
		t[i] = Schema.Field(i).Type
	}
	return t
}()

// dictionaries holds the fixed dictionary of every dictionary column.
type dictionaries [NumCols]arrow.Array

// newDictionaries returns the dictionaries of an Assembler's windows: Go
// memory, never released (the all-null arrays, which are never released
// either, refer to them: see nullArrays). Their Data's reference counts
// are immortal: a window's dictionary columns hold them without taking a
// reference (newData), which cost two atomic operations a column on a
// count the assembler's goroutine and the consumers' passed back and forth
// between their cores. Each Assembler has its own, so that assemblers
// running side by side do not share what consumers still take and drop
// (an array's Dictionary(), slices).
func newDictionaries() *dictionaries {
	mem := memory.NewGoAllocator() // see above
	var d dictionaries
	for col, names := range map[int][]string{
		ColType: TypeNames, ColMode: ModeNames, ColCloseReason: CloseReasonNames,
		ColOutcome: OutcomeNames, ColAuthReason: AuthReasonNames,
	} {
		b := array.NewStringBuilder(mem)
		b.AppendValues(names, nil)
		d[col] = b.NewArray()
		b.Release()
		immortalize(d[col].Data().(*array.Data))
	}
	return &d
}

// enumIndex maps a protobuf enum number to its dictionary index (0 when this
// build does not know it).
func enumIndex(n int32, names []string) int8 {
	if n < 0 || int(n) >= len(names) {
		return 0
	}
	return int8(n)
}
