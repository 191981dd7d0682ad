package fingerprint

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// MaxBodySize is the body size limit of Canonical: 64 KiB. Payment requests
// are far smaller; larger bodies are forwarded by the edge but not
// fingerprinted (they are recorded as oversize).
const MaxBodySize = 64 << 10

// Kind says how a body was canonicalized.
type Kind uint8

const (
	// Raw bodies are fingerprinted byte for byte, as they were sent.
	Raw Kind = iota
	// JSON bodies are canonical JSON: sorted keys, no insignificant
	// whitespace, minimal string escapes, normalized numbers.
	JSON
	// Form bodies (application/x-www-form-urlencoded) are their pairs sorted
	// by key then value and re-encoded.
	Form
)

// String returns "raw", "json" or "form".
func (k Kind) String() string {
	switch k {
	case Raw:
		return "raw"
	case JSON:
		return "json"
	case Form:
		return "form"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Canonical returns the canonical form of a request body, which the strict
// fingerprint covers, so that two encodings of the same request (key order,
// whitespace, escapes, 10.50 versus 10.5) get the same fingerprint.
//
// The body is JSON if contentType is application/json, text/json or any
// +json type; it is also tried as JSON whatever the content type if its
// first non-space byte is '{' or '['. Otherwise a body with content type
// application/x-www-form-urlencoded is a form, and anything else is kept as
// is (Raw). Content-type parameters and case are ignored. An empty body is
// Raw, except with the form content type: a form without pairs, like "&",
// is an empty Form.
//
// JSON is canonicalized following RFC 8785 (JCS) with one deliberate
// difference, numbers:
//
//   - object keys are sorted by their UTF-16 code units, as RFC 8785 does
//     (this is UTF-8 byte order except that characters above U+FFFF sort
//     before U+E000..U+FFFF); a key given twice is an error (ErrDuplicateKey);
//   - no whitespace between tokens;
//   - strings are valid UTF-8 written as is, escaping only '"', '\\' and
//     control characters (\b \t \n \f \r, else \u00xx in lower-case hex);
//     "\u00e9" and "é" are the same string; invalid UTF-8 and lone surrogate
//     escapes are errors (ErrInvalidJSON);
//   - numbers are exact decimals, never rounded through float64: 10.50,
//     10.5, 1.05e1 and 105E-1 are all written "10.5"; integers keep every
//     digit however long ("123456789012345678901234567890"), up to 21
//     trailing zeros ("1e21" is written in full, "1e22" stays "1e22");
//     fractions are plain down to 0.000001 and in exponent form below
//     ("1.5e-7"); -0 is "0". Exponents beyond ±MaxExponent are refused
//     (ErrNumberRange).
//
// Nesting deeper than MaxDepth is refused (ErrTooDeep); the parser never
// recurses deeper than that. A body sniffed as JSON (content type not JSON)
// that does not parse is handled by its content type instead, without error.
//
// Form pairs are split on '&' (empty pieces dropped; a piece without '='
// is a key with an empty value), '+' and %XX decoded, sorted by key then
// value (bytewise), and re-encoded with '+' for space and upper-case %XX for
// every byte except ASCII letters, digits and "-._~". A malformed escape is
// ErrInvalidForm.
//
// A body longer than MaxBodySize returns nil, Raw and ErrTooLarge. On any
// other error, Canonical returns the body unchanged with kind Raw along with
// the error, so the caller can still fingerprint it byte for byte. For a Raw
// body canon is body itself, not a copy.
//
// Canonical is safe for concurrent use.
func Canonical(contentType string, body []byte) (canon []byte, kind Kind, err error) {
	if len(body) > MaxBodySize {
		return nil, Raw, fmt.Errorf("%w: body of %d bytes, limit %d", ErrTooLarge, len(body), MaxBodySize)
	}
	out, kind, err := canonicalize(nil, contentType, body)
	if kind == Raw {
		return body, Raw, err
	}
	return out, kind, err
}

// AppendCanonical is Canonical appending to dst, with limit as the body size
// limit (MaxBodySize if limit <= 0); it never returns body itself. With a
// reused dst it does not allocate in the common case. On ErrTooLarge dst is
// returned unchanged; on other errors the raw body is appended, as
// Canonical returns it.
func AppendCanonical(dst []byte, contentType string, body []byte, limit int) ([]byte, Kind, error) {
	if limit <= 0 {
		limit = MaxBodySize
	}
	if len(body) > limit {
		return dst, Raw, fmt.Errorf("%w: body of %d bytes, limit %d", ErrTooLarge, len(body), limit)
	}
	out, kind, err := canonicalize(dst, contentType, body)
	if kind == Raw {
		return append(out, body...), Raw, err
	}
	return out, kind, err
}

// canonicalize appends the canonical JSON or form body to dst. For Raw it
// appends nothing and returns dst; the callers add the body.
func canonicalize(dst []byte, contentType string, body []byte) ([]byte, Kind, error) {
	media := mediaType(contentType)
	if len(body) == 0 && !isFormType(media) {
		return dst, Raw, nil
	}
	if isJSONType(media) {
		if dst == nil {
			dst = make([]byte, 0, len(body))
		}
		out, err := canonicalJSON(dst, body)
		if err != nil {
			return dst, Raw, err
		}
		return out, JSON, nil
	}
	if looksLikeJSON(body) {
		if dst == nil {
			dst = make([]byte, 0, len(body))
		}
		if out, err := canonicalJSON(dst, body); err == nil {
			return out, JSON, nil
		}
	}
	if isFormType(media) {
		if dst == nil {
			dst = make([]byte, 0, len(body)+len(body)/2)
		}
		out, err := canonicalForm(dst, body)
		if err != nil {
			return dst, Raw, err
		}
		return out, Form, nil
	}
	return dst, Raw, nil
}

// mediaType returns contentType without parameters or surrounding space.
func mediaType(contentType string) string {
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	return strings.TrimSpace(contentType)
}

func isJSONType(media string) bool {
	if strings.EqualFold(media, "application/json") || strings.EqualFold(media, "text/json") {
		return true
	}
	return len(media) > 5 && strings.EqualFold(media[len(media)-5:], "+json")
}

func isFormType(media string) bool {
	return strings.EqualFold(media, "application/x-www-form-urlencoded")
}

// looksLikeJSON reports whether body's first non-space byte opens an object
// or array.
func looksLikeJSON(body []byte) bool {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}

// state is the pooled scratch space of one canonicalization.
type state struct {
	jsonState
	pairs []pair
}

var statePool = sync.Pool{New: func() any { return new(state) }}

// maxPooledScratch bounds the buffers a pooled state keeps between uses.
const maxPooledScratch = 256 << 10

func getState() *state { return statePool.Get().(*state) }

func putState(st *state) {
	st.src, st.out = nil, nil
	st.pos, st.depth = 0, 0
	if cap(st.scratch) > maxPooledScratch || cap(st.keys) > maxPooledScratch {
		return
	}
	if cap(st.members) > maxPooledScratch/16 || cap(st.pairs) > maxPooledScratch/16 {
		return
	}
	st.keys, st.members, st.pairs, st.scratch = st.keys[:0], st.members[:0], st.pairs[:0], st.scratch[:0]
	statePool.Put(st)
}

func canonicalJSON(dst, body []byte) ([]byte, error) {
	st := getState()
	defer putState(st)
	st.src, st.out = body, dst
	if err := st.document(); err != nil {
		return dst, err
	}
	return st.out, nil
}

// pair is one decoded form field: key and value in state.scratch.
type pair struct {
	k0, k1, v0, v1 int
}

func canonicalForm(dst, body []byte) ([]byte, error) {
	st := getState()
	defer putState(st)
	buf := st.scratch[:0]
	var err error
	for piece := range bytes.SplitSeq(body, []byte{'&'}) {
		if len(piece) == 0 {
			continue
		}
		k, v, _ := bytes.Cut(piece, []byte{'='})
		var p pair
		p.k0 = len(buf)
		if buf, err = formUnescape(buf, k); err != nil {
			return dst, err
		}
		p.k1, p.v0 = len(buf), len(buf)
		if buf, err = formUnescape(buf, v); err != nil {
			return dst, err
		}
		p.v1 = len(buf)
		st.pairs = append(st.pairs, p)
	}
	st.scratch = buf
	slices.SortFunc(st.pairs, func(a, b pair) int {
		if c := bytes.Compare(buf[a.k0:a.k1], buf[b.k0:b.k1]); c != 0 {
			return c
		}
		return bytes.Compare(buf[a.v0:a.v1], buf[b.v0:b.v1])
	})
	out := dst
	for i, p := range st.pairs {
		if i > 0 {
			out = append(out, '&')
		}
		out = formEscape(out, buf[p.k0:p.k1])
		out = append(out, '=')
		out = formEscape(out, buf[p.v0:p.v1])
	}
	return out, nil
}

var errBadEscape = errors.New("malformed percent escape")

// formUnescape appends s with '+' and %XX decoded.
func formUnescape(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(s) {
				return dst, fmt.Errorf("%w: %w", ErrInvalidForm, errBadEscape)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return dst, fmt.Errorf("%w: %w", ErrInvalidForm, errBadEscape)
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

const hexUpper = "0123456789ABCDEF"

// formEscape appends s encoded for a form: ASCII letters, digits and
// "-._~" as is, space as '+', every other byte as %XX.
func formEscape(dst, s []byte) []byte {
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hexUpper[c>>4], hexUpper[c&0xF])
		}
	}
	return dst
}
