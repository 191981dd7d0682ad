package fingerprint

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of JSON arrays and objects Canonical
// accepts; deeper bodies are refused with ErrTooDeep.
const MaxDepth = 64

// member is one "key":value pair of an object being canonicalized: the key
// unescaped in jsonState.keys[keyOff:keyOff+keyLen], the canonical text in
// jsonState.out[start:end].
type member struct {
	keyOff, keyLen int
	start, end     int
}

// jsonState is the scratch space of one canonicalization; pooled.
type jsonState struct {
	src     []byte
	pos     int
	out     []byte
	keys    []byte
	members []member
	scratch []byte
	depth   int
}

func (st *jsonState) errAt(err error) error {
	return fmt.Errorf("%w at offset %d", err, st.pos)
}

func (st *jsonState) skipSpace() {
	for st.pos < len(st.src) {
		switch st.src[st.pos] {
		case ' ', '\t', '\n', '\r':
			st.pos++
		default:
			return
		}
	}
}

// document canonicalizes the whole of st.src, appending to st.out.
func (st *jsonState) document() error {
	st.skipSpace()
	if err := st.value(); err != nil {
		return err
	}
	st.skipSpace()
	if st.pos != len(st.src) {
		return fmt.Errorf("%w: data after the top-level value at offset %d", ErrInvalidJSON, st.pos)
	}
	return nil
}

func (st *jsonState) literal(word string) error {
	if len(st.src)-st.pos < len(word) || string(st.src[st.pos:st.pos+len(word)]) != word {
		return st.errAt(ErrInvalidJSON)
	}
	st.pos += len(word)
	st.out = append(st.out, word...)
	return nil
}

func (st *jsonState) value() error {
	if st.pos >= len(st.src) {
		return fmt.Errorf("%w: unexpected end of input", ErrInvalidJSON)
	}
	switch c := st.src[st.pos]; c {
	case '{':
		return st.object()
	case '[':
		return st.array()
	case '"':
		return st.str(&st.out, nil)
	case 't':
		return st.literal("true")
	case 'f':
		return st.literal("false")
	case 'n':
		return st.literal("null")
	default:
		if c == '-' || isDigit(c) {
			p, next, err := scanJSONNumber(st.src, st.pos)
			if err != nil {
				st.pos = next
				return st.errAt(err)
			}
			st.pos = next
			var n number
			n, st.scratch = p.normalize(st.scratch)
			st.out = appendNumber(st.out, n)
			return nil
		}
		return st.errAt(ErrInvalidJSON)
	}
}

func (st *jsonState) enter() error {
	st.depth++
	if st.depth > MaxDepth {
		return fmt.Errorf("%w: more than %d levels at offset %d", ErrTooDeep, MaxDepth, st.pos)
	}
	return nil
}

func (st *jsonState) array() error {
	if err := st.enter(); err != nil {
		return err
	}
	st.pos++ // '['
	st.out = append(st.out, '[')
	st.skipSpace()
	if st.pos < len(st.src) && st.src[st.pos] == ']' {
		st.pos++
		st.out = append(st.out, ']')
		st.depth--
		return nil
	}
	for {
		st.skipSpace()
		if err := st.value(); err != nil {
			return err
		}
		st.skipSpace()
		if st.pos >= len(st.src) {
			return fmt.Errorf("%w: unterminated array", ErrInvalidJSON)
		}
		switch st.src[st.pos] {
		case ',':
			st.pos++
			st.out = append(st.out, ',')
		case ']':
			st.pos++
			st.out = append(st.out, ']')
			st.depth--
			return nil
		default:
			return st.errAt(ErrInvalidJSON)
		}
	}
}

func (st *jsonState) object() error {
	if err := st.enter(); err != nil {
		return err
	}
	st.pos++ // '{'
	st.out = append(st.out, '{')
	body := len(st.out)
	mark, keysMark := len(st.members), len(st.keys)
	st.skipSpace()
	if st.pos < len(st.src) && st.src[st.pos] == '}' {
		st.pos++
		st.out = append(st.out, '}')
		st.depth--
		return nil
	}
	for {
		st.skipSpace()
		if st.pos >= len(st.src) || st.src[st.pos] != '"' {
			return fmt.Errorf("%w: expected object key at offset %d", ErrInvalidJSON, st.pos)
		}
		m := member{start: len(st.out), keyOff: len(st.keys)}
		if err := st.str(&st.out, &st.keys); err != nil {
			return err
		}
		m.keyLen = len(st.keys) - m.keyOff
		st.skipSpace()
		if st.pos >= len(st.src) || st.src[st.pos] != ':' {
			return fmt.Errorf("%w: expected ':' at offset %d", ErrInvalidJSON, st.pos)
		}
		st.pos++
		st.out = append(st.out, ':')
		st.skipSpace()
		if err := st.value(); err != nil {
			return err
		}
		m.end = len(st.out)
		st.members = append(st.members, m)
		st.skipSpace()
		if st.pos >= len(st.src) {
			return fmt.Errorf("%w: unterminated object", ErrInvalidJSON)
		}
		if st.src[st.pos] == ',' {
			st.pos++
			st.out = append(st.out, ',')
			continue
		}
		if st.src[st.pos] != '}' {
			return st.errAt(ErrInvalidJSON)
		}
		st.pos++
		break
	}
	if err := st.sortMembers(body, st.members[mark:]); err != nil {
		return err
	}
	st.members = st.members[:mark]
	st.keys = st.keys[:keysMark]
	st.out = append(st.out, '}')
	st.depth--
	return nil
}

func (st *jsonState) key(m member) []byte {
	return st.keys[m.keyOff : m.keyOff+m.keyLen]
}

// sortMembers puts the members written at st.out[body:] into key order,
// refusing duplicate keys (the error names the offset of the object's end,
// never the key: bodies stay out of logs). Objects already in order (canonical input, and
// many clients) are left where they are.
func (st *jsonState) sortMembers(body int, ms []member) error {
	sorted := true
	for i := 1; i < len(ms); i++ {
		c := compareKeys(st.key(ms[i-1]), st.key(ms[i]))
		if c == 0 {
			return st.errAt(ErrDuplicateKey)
		}
		if c > 0 {
			sorted = false
		}
	}
	if sorted {
		return nil
	}
	slices.SortFunc(ms, func(a, b member) int { return compareKeys(st.key(a), st.key(b)) })
	for i := 1; i < len(ms); i++ {
		if compareKeys(st.key(ms[i-1]), st.key(ms[i])) == 0 {
			return st.errAt(ErrDuplicateKey)
		}
	}
	st.scratch = append(st.scratch[:0], st.out[body:]...)
	out := st.out[:body]
	for i, m := range ms {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, st.scratch[m.start-body:m.end-body]...)
	}
	st.out = out
	return nil
}

// compareKeys orders object keys as RFC 8785 does: by their UTF-16 code
// units. This is the same as byte order of their UTF-8 except that
// characters above U+FFFF (surrogate pairs, 0xD800-0xDBFF first) sort before
// U+E000..U+FFFF.
func compareKeys(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return len(a) - len(b)
	}
	// Back up to the start of the character holding the first difference;
	// a and b agree before i, so it starts at the same place in both.
	for i > 0 && !utf8.RuneStart(a[i]) {
		i--
	}
	ra, _ := utf8.DecodeRune(a[i:])
	rb, _ := utf8.DecodeRune(b[i:])
	ka, kb := utf16Order(ra), utf16Order(rb)
	if ka < kb {
		return -1
	}
	return 1
}

// utf16Order maps a rune to a value that sorts as its first UTF-16 code
// unit would, breaking ties (two supplementary runes) by code point.
func utf16Order(r rune) int64 {
	if r >= 0x10000 {
		return 0xD800<<21 | int64(r)
	}
	return int64(r) << 21
}

// str reads the JSON string at st.src[st.pos] (which is '"'), appends its
// canonical form to *out and, if keys is not nil, its unescaped bytes to
// *keys.
//
// Canonical strings are RFC 8785's: UTF-8 as is, except '"' and '\\'
// escaped, \b \t \n \f \r for those controls, \u00xx (lower-case hex) for
// the other controls below 0x20. Input must be valid UTF-8 with paired
// surrogate escapes.
func (st *jsonState) str(out *[]byte, keys *[]byte) error {
	s := st.src
	i := st.pos + 1
	o := append(*out, '"')
	var k []byte
	if keys != nil {
		k = *keys
	}
	for {
		// Copy the longest run that needs no attention.
		run := i
		for i < len(s) {
			c := s[i]
			if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
				break
			}
			i++
		}
		o = append(o, s[run:i]...)
		if keys != nil {
			k = append(k, s[run:i]...)
		}
		if i >= len(s) {
			st.pos = i
			return fmt.Errorf("%w: unterminated string", ErrInvalidJSON)
		}
		c := s[i]
		switch {
		case c == '"':
			st.pos = i + 1
			*out = append(o, '"')
			if keys != nil {
				*keys = k
			}
			return nil
		case c < 0x20:
			st.pos = i
			return fmt.Errorf("%w: control character in string at offset %d", ErrInvalidJSON, i)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size <= 1 {
				st.pos = i
				return fmt.Errorf("%w: invalid UTF-8 at offset %d", ErrInvalidJSON, i)
			}
			o = append(o, s[i:i+size]...)
			if keys != nil {
				k = append(k, s[i:i+size]...)
			}
			i += size
		default: // backslash
			r, next, ok := unescape(s, i)
			if !ok {
				st.pos = i
				return fmt.Errorf("%w: bad escape in string at offset %d", ErrInvalidJSON, i)
			}
			i = next
			o = appendStringRune(o, r)
			if keys != nil {
				k = utf8.AppendRune(k, r)
			}
		}
	}
}

// unescape decodes the escape sequence at s[i] ('\\'), joining surrogate
// pairs; lone surrogates are refused.
func unescape(s []byte, i int) (rune, int, bool) {
	if i+1 >= len(s) {
		return 0, i, false
	}
	switch s[i+1] {
	case '"':
		return '"', i + 2, true
	case '\\':
		return '\\', i + 2, true
	case '/':
		return '/', i + 2, true
	case 'b':
		return '\b', i + 2, true
	case 'f':
		return '\f', i + 2, true
	case 'n':
		return '\n', i + 2, true
	case 'r':
		return '\r', i + 2, true
	case 't':
		return '\t', i + 2, true
	case 'u':
		r, ok := hex4(s, i+2)
		if !ok {
			return 0, i, false
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return 0, i, false
		case r >= 0xD800 && r <= 0xDBFF:
			if i+7 >= len(s) || s[i+6] != '\\' || s[i+7] != 'u' {
				return 0, i, false
			}
			lo, ok := hex4(s, i+8)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return 0, i, false
			}
			return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), i + 12, true
		}
		return r, i + 6, true
	}
	return 0, i, false
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

const hexLower = "0123456789abcdef"

// appendStringRune appends r as it appears inside a canonical string.
func appendStringRune(o []byte, r rune) []byte {
	switch r {
	case '"':
		return append(o, '\\', '"')
	case '\\':
		return append(o, '\\', '\\')
	case '\b':
		return append(o, '\\', 'b')
	case '\f':
		return append(o, '\\', 'f')
	case '\n':
		return append(o, '\\', 'n')
	case '\r':
		return append(o, '\\', 'r')
	case '\t':
		return append(o, '\\', 't')
	}
	if r < 0x20 {
		return append(o, '\\', 'u', '0', '0', hexLower[r>>4], hexLower[r&0xF])
	}
	return utf8.AppendRune(o, r)
}
