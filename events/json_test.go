package events_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/halo-sec/halo/events"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const jsonGolden = "testdata/events.golden.jsonl"

// sampleJSONL is the JSON of sampleEvents, one line per event.
func sampleJSONL(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, e := range sampleEvents() {
		b, err := e.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON(%s): %v", e.Type(), err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// TestJSONGolden pins the JSON view: tools and people read it, so a change
// must be deliberate. Rewrite with: go test ./events -run TestJSONGolden -update
func TestJSONGolden(t *testing.T) {
	got := sampleJSONL(t)
	if *update {
		if err := os.MkdirAll(filepath.Dir(jsonGolden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(jsonGolden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", jsonGolden)
	}
	want, err := os.ReadFile(jsonGolden)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("%s line %d differs:\n got: %s\nwant: %s", jsonGolden, i+1, g, w)
		}
	}
	t.Errorf("JSON differs from %s; if the change is intended, rerun with -update", jsonGolden)
}

func TestJSONIsDeterministic(t *testing.T) {
	a, b := sampleJSONL(t), sampleJSONL(t)
	if !bytes.Equal(a, b) {
		t.Error("MarshalJSON of the same events gave different bytes")
	}
	e := sampleConnOpened()
	m, _ := e.MarshalJSON()
	if got := e.AppendJSON([]byte("x")); string(got) != "x"+string(m) {
		t.Errorf("AppendJSON does not append MarshalJSON's bytes:\n%s\n%s", got, m)
	}
	// Event is marshalled by encoding/json through its MarshalJSON (value
	// receiver), in a struct or a slice.
	j, err := json.Marshal([]events.Event{e})
	if err != nil || string(j) != "["+string(m)+"]" {
		t.Errorf("json.Marshal([]Event) = %s, %v", j, err)
	}
}

// TestJSONShape reads every line back with encoding/json and checks the
// conventions of the JSON view field by field.
func TestJSONShape(t *testing.T) {
	evs := sampleEvents()
	lines := bytes.Split(bytes.TrimSuffix(sampleJSONL(t), []byte("\n")), []byte("\n"))
	if len(lines) != len(evs) {
		t.Fatalf("%d lines for %d events", len(lines), len(evs))
	}
	for i, line := range lines {
		e := evs[i]
		if !json.Valid(line) {
			t.Errorf("%s: invalid JSON: %s", e.Type(), line)
			continue
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Errorf("%s: %v", e.Type(), err)
			continue
		}
		want := map[string]any{
			"id":     e.ID.String(),
			"type":   string(e.Type()),
			"schema": json.Number(fmt.Sprint(e.Schema)),
			"tenant": e.Tenant,
			"device": e.Device,
			"seq":    json.Number(fmt.Sprint(e.Seq)),
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: %q = %#v, want %#v", e.Type(), k, m[k], v)
			}
		}
		for _, k := range []string{"time", "recorded"} {
			want := e.Time
			if k == "recorded" {
				want = e.Recorded
			}
			s, _ := m[k].(string)
			got, err := time.Parse(time.RFC3339Nano, s)
			if err != nil || !got.Equal(want) || !strings.HasSuffix(s, "Z") {
				t.Errorf("%s: %q = %q (%v), want %v as RFC 3339 UTC", e.Type(), k, s, err, want)
			}
		}
		if len(m) != 9 {
			t.Errorf("%s: %d top-level keys, want 9: %v", e.Type(), len(m), m)
		}
		p, ok := m["payload"].(map[string]any)
		if !ok {
			t.Errorf("%s: payload is %T", e.Type(), m["payload"])
			continue
		}
		checkJSONMessage(t, string(e.Type()), p, e.Payload.ProtoReflect())
	}
}

// checkJSONMessage checks the JSON object j against the message m: every
// field present under its proto name, with the JSON view's conventions.
func checkJSONMessage(t *testing.T, path string, j map[string]any, m protoreflect.Message) {
	t.Helper()
	fields := m.Descriptor().Fields()
	if len(j) != fields.Len() {
		t.Errorf("%s: %d keys, want %d (every field)", path, len(j), fields.Len())
	}
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		p := path + "." + string(fd.Name())
		got, ok := j[string(fd.Name())]
		if !ok {
			t.Errorf("%s missing", p)
			continue
		}
		if fd.IsList() {
			arr, ok := got.([]any)
			l := m.Get(fd).List()
			if !ok || len(arr) != l.Len() {
				t.Errorf("%s = %#v, want a list of %d", p, got, l.Len())
				continue
			}
			for k := range arr {
				checkJSONValue(t, fmt.Sprintf("%s[%d]", p, k), arr[k], fd, l.Get(k))
			}
			continue
		}
		checkJSONValue(t, p, got, fd, m.Get(fd))
	}
}

func checkJSONValue(t *testing.T, path string, got any, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	t.Helper()
	var want any
	switch fd.Kind() {
	case protoreflect.BoolKind:
		want = v.Bool()
	case protoreflect.StringKind:
		want = v.String()
	case protoreflect.BytesKind:
		want = hex.EncodeToString(v.Bytes())
	case protoreflect.EnumKind:
		// TX_OUTCOME_REFUSED_REPLAY -> "refused-replay".
		name := string(fd.Enum().Values().ByNumber(v.Enum()).Name())
		prefix := strings.ToUpper(camelToSnake(string(fd.Enum().Name()))) + "_"
		if !strings.HasPrefix(name, prefix) {
			t.Fatalf("%s: enum value %s lacks prefix %s", path, name, prefix)
		}
		want = strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, prefix)), "_", "-")
	case protoreflect.Sfixed64Kind:
		s, _ := got.(string)
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || ts.UnixNano() != v.Int() || !strings.HasSuffix(s, "Z") {
			t.Errorf("%s = %#v (%v), want instant %v as RFC 3339 UTC", path, got, err, time.Unix(0, v.Int()).UTC())
		}
		return
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Int32Kind, protoreflect.Int64Kind:
		want = json.Number(v.String())
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		n, ok := got.(json.Number)
		f, err := n.Float64()
		if !ok || err != nil || f != v.Float() {
			t.Errorf("%s = %#v, want %v", path, got, v.Float())
		}
		return
	case protoreflect.MessageKind:
		obj, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s = %#v, want an object", path, got)
			return
		}
		checkJSONMessage(t, path, obj, v.Message())
		return
	default:
		t.Fatalf("%s: kind %v not covered by this test", path, fd.Kind())
	}
	if got != want {
		t.Errorf("%s = %#v, want %#v", path, got, want)
	}
}

func camelToSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestJSONConventions(t *testing.T) {
	evs := sampleEvents()
	byType := map[events.Type]map[string]any{}
	for _, e := range evs {
		b, _ := e.MarshalJSON()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		byType[e.Type()] = m["payload"].(map[string]any)
	}
	spot := []struct {
		typ   events.Type
		field string
		want  any
	}{
		{events.TypeTxObserved, "outcome", "refused-replay"},
		{events.TypeAuthFailed, "reason", "unknown-ca"},
		{events.TypeTokenAdded, "role", "operator"},
		{events.TypeAlertResolved, "verdict", "true-positive"},
		{events.TypeInterventionApplied, "kind", "block"},
		{events.TypeConnOpened, "mode", "connect"},
		{events.TypeTxObserved, "strict_fp", "60676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b3239"},
		{events.TypeDeviceEnrolled, "not_after", "2027-11-27T05:10:39.123456789Z"},
		{events.TypeConnClosed, "duration_ns", 2.345e9},
		{events.TypeTxObserved, "oversize", true},
		{events.TypeAlertRaised, "explanation", "strict fingerprint seen twice after \"201 Created\"; café\u2028terminal \\ 1e-3 <b>"},
	}
	for _, s := range spot {
		if got := byType[s.typ][s.field]; got != s.want {
			t.Errorf("%s.%s = %#v, want %#v", s.typ, s.field, got, s.want)
		}
	}

	// Zero values: an unset instant is null, a zero Recorded is null,
	// an unknown enum number is shown as its number, NaN is null.
	e := sampleConnOpened()
	e.Recorded = time.Time{}
	e.Payload = &events.InterventionApplied{InterventionId: "iv-1", Kind: events.InterventionKind(9)}
	b, _ := e.MarshalJSON()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	p := m["payload"].(map[string]any)
	if m["recorded"] != nil || p["expires"] != nil || p["match"] != nil || p["kind"] != "9" {
		t.Errorf("zero values: recorded %#v, expires %#v, match %#v, kind %#v", m["recorded"], p["expires"], p["match"], p["kind"])
	}
	e.Payload = &events.AlertUpdated{Score: nan()}
	b, _ = e.MarshalJSON()
	if !json.Valid(b) || !bytes.Contains(b, []byte(`"score":null`)) {
		t.Errorf("NaN score: %s", b)
	}
	// No payload: "type" is empty and "payload" null.
	e.Payload = nil
	b, _ = e.MarshalJSON()
	if !json.Valid(b) || !bytes.Contains(b, []byte(`"type":"",`)) || !bytes.HasSuffix(b, []byte(`"payload":null}`)) {
		t.Errorf("no payload: %s", b)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

// jsonStringOf renders s through the JSON view (as a payload string) and
// returns the raw JSON value of that field.
func jsonStringOf(s string) []byte {
	e := sampleConnOpened()
	e.Payload = &events.AuthFailed{Detail: s}
	b, _ := e.MarshalJSON()
	return b
}

// decodedDetail reads back the detail field from jsonStringOf's output.
func decodedDetail(t *testing.T, b []byte) string {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %q", b)
	}
	var m struct {
		Payload struct {
			Detail string `json:"detail"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %q", err, b)
	}
	return m.Payload.Detail
}

func TestJSONStringEscaping(t *testing.T) {
	cases := []struct {
		in      string
		want    string // as read back by encoding/json
		escaped string // must appear in the raw output
	}{
		{"plain", "plain", `"plain"`},
		{`say "hi"`, `say "hi"`, `"say \"hi\""`},
		{`back\slash`, `back\slash`, `"back\\slash"`},
		{"nl\ncr\rtab\t", "nl\ncr\rtab\t", `"nl\ncr\rtab\t"`},
		{"nul\x00bel\x07esc\x1b", "nul\x00bel\x07esc\x1b", `"nul\u0000bel\u0007esc\u001b"`},
		{"\x1f\x7f", "\x1f\x7f", "\"\\u001f\x7f\""},
		{"line\u2028para\u2029", "line\u2028para\u2029", `"line\u2028para\u2029"`},
		{"bad\xffutf8", "bad\ufffdutf8", `"bad\ufffdutf8"`},
		{"cut\xe2\x82", "cut\ufffd\ufffd", `"cut\ufffd\ufffd"`},
		{"\xc0\xaf", "\ufffd\ufffd", `"\ufffd\ufffd"`},                 // overlong '/'
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd", `"\ufffd\ufffd\ufffd"`}, // surrogate half
		{"café ☕ 𝄞", "café ☕ 𝄞", `"café ☕ 𝄞"`},
		{"\ufffd", "\ufffd", "\"\ufffd\""},
		{"<a href='x'>&amp;</a>", "<a href='x'>&amp;</a>", `"<a href='x'>&amp;</a>"`}, // no HTML escaping
	}
	for _, tc := range cases {
		b := jsonStringOf(tc.in)
		if got := decodedDetail(t, b); got != tc.want {
			t.Errorf("%q: read back %q, want %q", tc.in, got, tc.want)
		}
		if !bytes.Contains(b, []byte(`"detail":`+tc.escaped)) {
			t.Errorf("%q: output %s does not contain %s", tc.in, b, tc.escaped)
		}
		if bytes.ContainsRune(b, '\u2028') || bytes.ContainsRune(b, '\u2029') {
			t.Errorf("%q: raw U+2028/U+2029 in %s", tc.in, b)
		}
	}
}

// FuzzAppendString checks the JSON string encoder against encoding/json: any
// Go string, valid UTF-8 or not, comes out as valid JSON that encoding/json
// reads back as the string with each invalid byte replaced by U+FFFD.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", `"\`, "\x00\x1f\x7f", "\u2028\u2029", "\xff", "\xe2\x82", "é", "𝄞", "<>&", "\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := jsonStringOf(s)
		got := decodedDetail(t, b)
		if want := string([]rune(s)); got != want {
			t.Fatalf("%q: read back %q, want %q", s, got, want)
		}
		if !utf8.Valid(b) {
			t.Fatalf("%q: output is not valid UTF-8: %q", s, b)
		}
		if bytes.ContainsRune(b, '\u2028') || bytes.ContainsRune(b, '\u2029') {
			t.Fatalf("%q: raw U+2028/U+2029 in output", s)
		}
		// encoding/json agrees on the value.
		ref, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var refBack string
		if err := json.Unmarshal(ref, &refBack); err != nil || refBack != got {
			t.Fatalf("%q: encoding/json reads %q, the JSON view %q", s, refBack, got)
		}
	})
}

func ExampleEvent_MarshalJSON() {
	id, _ := events.ParseID("0196f3a2-5c4d-7e8f-9a0b-000000000001")
	e := events.Event{
		ID:     id,
		Schema: events.SchemaVersion,
		Tenant: "acme",
		Device: "POS-00012",
		Time:   time.Date(2026, 11, 27, 5, 10, 39, 123456789, time.UTC),
		Payload: &events.TxObserved{
			ConnId:    "c-7f3a9e",
			Method:    "POST",
			Host:      "pay.example.com",
			Path:      "/v1/charges",
			BodySize:  512,
			StrictFp:  []byte{0xde, 0xad, 0xbe, 0xef},
			Status:    409,
			LatencyNs: 87_000_000,
			Outcome:   events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY,
		},
	}
	b, err := e.MarshalJSON()
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output:
	// {"id":"0196f3a2-5c4d-7e8f-9a0b-000000000001","type":"tx.observed","schema":1,"tenant":"acme","device":"POS-00012","time":"2026-11-27T05:10:39.123456789Z","recorded":null,"seq":0,"payload":{"conn_id":"c-7f3a9e","method":"POST","host":"pay.example.com","path":"/v1/charges","body_size":512,"strict_fp":"deadbeef","loose_fp":"","status":409,"latency_ns":87000000,"outcome":"refused-replay","oversize":false}}
}
