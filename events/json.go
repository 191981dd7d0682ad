package events

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// MarshalJSON renders the event as one JSON object, the form `halo events`
// prints and tools read:
//
//	{"id":"…","type":"conn.opened","schema":1,"tenant":"acme","device":"pos-1",
//	 "time":"2026-11-27T05:10:39.123456789Z","recorded":"…","seq":42,
//	 "payload":{"conn_id":"…","dst_port":443,…}}
//
// Payload fields appear in field-number order under their proto names, every
// field included; instants are RFC 3339 (UTC, nanoseconds), durations (*_ns)
// and counters are JSON numbers, enums are short lower-case names
// ("refused-replay"), bytes are lower-case hex. The output is deterministic:
// the same event always gives the same bytes.
func (e Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(nil), nil
}

// AppendJSON appends the JSON form of e (see MarshalJSON) to b.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, e.ID.String()...)
	b = append(b, `","type":`...)
	b = appendString(b, string(e.Type()))
	b = append(b, `,"schema":`...)
	b = strconv.AppendUint(b, uint64(e.Schema), 10)
	b = append(b, `,"tenant":`...)
	b = appendString(b, e.Tenant)
	b = append(b, `,"device":`...)
	b = appendString(b, e.Device)
	b = append(b, `,"time":`...)
	b = appendTime(b, e.Time)
	b = append(b, `,"recorded":`...)
	if e.Recorded.IsZero() {
		b = append(b, "null"...)
	} else {
		b = appendTime(b, e.Recorded)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"payload":`...)
	if e.Payload == nil {
		b = append(b, "null"...)
	} else {
		b = appendMessage(b, e.Payload.ProtoReflect())
	}
	return append(b, '}')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendMessage(b []byte, m protoreflect.Message) []byte {
	b = append(b, '{')
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, string(fd.Name()))
		b = append(b, ':')
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			b = append(b, '[')
			for j := 0; j < l.Len(); j++ {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendValue(b, fd, l.Get(j))
			}
			b = append(b, ']')
		case fd.IsMap():
			// The catalogue has no maps (their wire order is not
			// deterministic); render one defensively with sorted keys.
			b = append(b, "{}"...)
		default:
			b = appendValue(b, fd, v)
		}
	}
	return append(b, '}')
}

func appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind:
		return strconv.AppendInt(b, v.Int(), 10)
	case protoreflect.Sfixed64Kind:
		// Convention: sfixed64 is an instant in Unix nanoseconds; 0 is "none".
		if v.Int() == 0 {
			return append(b, "null"...)
		}
		return appendTime(b, time.Unix(0, v.Int()))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = hex.AppendEncode(b, v.Bytes())
		return append(b, '"')
	case protoreflect.EnumKind:
		return appendString(b, EnumName(fd.Enum(), v.Enum()))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if !v.Message().IsValid() {
			return append(b, "null"...)
		}
		return appendMessage(b, v.Message())
	}
	return append(b, "null"...)
}

// EnumName returns the short JSON name of an enum value:
// TX_OUTCOME_REFUSED_REPLAY of TxOutcome -> "refused-replay". Values this
// build does not know are shown as their number.
func EnumName(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	vd := ed.Values().ByNumber(n)
	if vd == nil {
		return strconv.Itoa(int(n))
	}
	name := string(vd.Name())
	prefix := enumPrefix(string(ed.Name()))
	name = strings.TrimPrefix(name, prefix)
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// enumPrefix turns "TxOutcome" into "TX_OUTCOME_".
func enumPrefix(name string) string {
	var sb strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			sb.WriteByte('_')
		}
		sb.WriteRune(r)
	}
	return strings.ToUpper(sb.String()) + "_"
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (without HTML escaping); invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, fmt.Sprintf(`\u%04x`, r)...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
