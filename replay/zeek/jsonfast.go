package zeek

// decodeJSONFast decodes the common shape of a Zeek JSON record — one flat
// object of lower-case keys whose values are strings without escapes,
// numbers, booleans, null, or (for fields Halo does not read) arrays of
// those — into r, as decodeJSON's encoding/json path would, about five
// times faster. Anything else (escapes, nesting, a value of an unexpected
// type, invalid JSON) returns false and the record goes through
// encoding/json, which decides; FuzzJSONFast checks that both agree.
func decodeJSONFast(b []byte, r *record) bool {
	s := jsonScanner{b: b}
	s.ws()
	if !s.eat('{') {
		return false
	}
	var (
		f                         [numJSONFields]string
		localOrig, localResp, lbl string // local_*: "T", "F", "" (null or absent)
		hasLabel, labelNull       bool
	)
	s.ws()
	if s.eat('}') {
		return s.end() && finishFast(r, &f, localOrig, localResp, hasLabel && !labelNull, lbl)
	}
	for {
		s.ws()
		key, ok := s.str()
		if !ok {
			return false
		}
		s.ws()
		if !s.eat(':') {
			return false
		}
		s.ws()
		kind, val, ok := s.scalar()
		if !ok {
			return false
		}
		idx, known := jsonFields[string(key)]
		switch {
		case !known:
			if kind == jsonArray && !s.skipArray() {
				return false
			}
			if hasUpper(key) {
				return false // encoding/json matches keys case-insensitively
			}
		case idx == fieldLocalOrig || idx == fieldLocalResp:
			var v string
			switch kind {
			case jsonTrue:
				v = "T"
			case jsonFalse:
				v = "F"
			case jsonNull:
			default:
				return false
			}
			if idx == fieldLocalOrig {
				localOrig = v
			} else {
				localResp = v
			}
		case idx == fieldLabel:
			switch kind {
			case jsonString:
				hasLabel, labelNull, lbl = true, false, string(val)
			case jsonNull:
				hasLabel, labelNull = true, true
			default:
				return false
			}
		case idx == fieldTS:
			switch kind {
			case jsonString, jsonNumber:
				f[idx] = string(val)
			case jsonNull:
				f[idx] = ""
			default:
				return false
			}
		case jsonFieldIsNumber[idx]:
			switch kind {
			case jsonNumber:
				f[idx] = string(val)
			case jsonNull: // leaves the field as it was, as encoding/json does
			default:
				return false
			}
		default: // string fields
			switch kind {
			case jsonString:
				f[idx] = string(val)
			case jsonNull:
			default:
				return false
			}
		}
		s.ws()
		if s.eat(',') {
			continue
		}
		if !s.eat('}') {
			return false
		}
		break
	}
	return s.end() && finishFast(r, &f, localOrig, localResp, hasLabel && !labelNull, lbl)
}

func finishFast(r *record, f *[numJSONFields]string, localOrig, localResp string, labeled bool, label string) bool {
	clean := func(s string) string {
		if s == "-" || s == "(empty)" {
			return ""
		}
		return s
	}
	*r = record{
		ts: f[fieldTS], uid: f[fieldUID], origH: f[fieldOrigH], origP: f[fieldOrigP], respH: f[fieldRespH], respP: f[fieldRespP],
		proto: f[fieldProto], service: clean(f[fieldService]), duration: f[fieldDuration],
		origBytes: f[fieldOrigBytes], respBytes: f[fieldRespBytes], state: f[fieldState], history: f[fieldHistory],
		origPkts: f[fieldOrigPkts], respPkts: f[fieldRespPkts],
		localOrig: localOrig, localResp: localResp,
	}
	if labeled {
		r.labeled, r.label = true, clean(label)
		r.detail = clean(f[fieldDetail1] + f[fieldDetail2] + f[fieldDetail3])
	}
	return true
}

const (
	fieldTS = iota
	fieldUID
	fieldOrigH
	fieldOrigP
	fieldRespH
	fieldRespP
	fieldProto
	fieldService
	fieldDuration
	fieldOrigBytes
	fieldRespBytes
	fieldState
	fieldHistory
	fieldLocalOrig
	fieldLocalResp
	fieldOrigPkts
	fieldRespPkts
	fieldLabel
	fieldDetail1
	fieldDetail2
	fieldDetail3
	numJSONFields
)

var jsonFieldIsNumber = [numJSONFields]bool{fieldOrigP: true, fieldRespP: true, fieldDuration: true, fieldOrigBytes: true, fieldRespBytes: true, fieldOrigPkts: true, fieldRespPkts: true}

// jsonFields are the keys Halo reads (a lookup by string(key) does not
// allocate).
var jsonFields = map[string]int{
	"ts": fieldTS, "uid": fieldUID, "id.orig_h": fieldOrigH, "id.orig_p": fieldOrigP, "id.resp_h": fieldRespH,
	"id.resp_p": fieldRespP, "proto": fieldProto, "service": fieldService, "duration": fieldDuration,
	"orig_bytes": fieldOrigBytes, "resp_bytes": fieldRespBytes, "conn_state": fieldState, "history": fieldHistory,
	"local_orig": fieldLocalOrig, "local_resp": fieldLocalResp, "orig_pkts": fieldOrigPkts, "resp_pkts": fieldRespPkts,
	"label": fieldLabel, "detailedlabel": fieldDetail1, "detailed-label": fieldDetail2, "detailed_label": fieldDetail3,
}

func hasUpper(s []byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' || s[i] >= 0x80 {
			return true
		}
	}
	return false
}

type jsonKind int

const (
	jsonString jsonKind = iota
	jsonNumber
	jsonTrue
	jsonFalse
	jsonNull
	jsonArray // the '[' is consumed; skipArray reads the rest
)

type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *jsonScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// str reads a string without escapes or control characters, all ASCII or
// valid UTF-8 (anything else falls back).
func (s *jsonScanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// number reads a number by JSON's grammar.
func (s *jsonScanner) number() ([]byte, bool) {
	start := s.i
	s.eat('-')
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.eat('0') {
		// no further integer digits
	} else if s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9' {
		digits()
	} else {
		return nil, false
	}
	if s.eat('.') && digits() == 0 {
		return nil, false
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if !s.eat('+') {
			s.eat('-')
		}
		if digits() == 0 {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

func (s *jsonScanner) word(w string) bool {
	if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
		s.i += len(w)
		return true
	}
	return false
}

// scalar reads a value: a string, a number, true, false, null, or the
// opening bracket of an array.
func (s *jsonScanner) scalar() (jsonKind, []byte, bool) {
	if s.i >= len(s.b) {
		return 0, nil, false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		v, ok := s.str()
		return jsonString, v, ok
	case c == '-' || c >= '0' && c <= '9':
		v, ok := s.number()
		return jsonNumber, v, ok
	case c == '[':
		s.i++
		return jsonArray, nil, true
	case s.word("true"):
		return jsonTrue, nil, true
	case s.word("false"):
		return jsonFalse, nil, true
	case s.word("null"):
		return jsonNull, nil, true
	}
	return 0, nil, false
}

// skipArray reads the rest of an array of scalars.
func (s *jsonScanner) skipArray() bool {
	s.ws()
	if s.eat(']') {
		return true
	}
	for {
		s.ws()
		kind, _, ok := s.scalar()
		if !ok || kind == jsonArray {
			return false
		}
		s.ws()
		if s.eat(']') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}
