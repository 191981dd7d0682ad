package fingerprint

import (
	"strings"
	"unicode/utf8"
)

// LooseFields are the parts of a payment body that identify "the same
// payment" for the loose fingerprint. An empty field was not found.
type LooseFields struct {
	// Amount is the amount in canonical number form (see Canonical):
	// 12.50, "12.50" and 1.25e1 are all "12.5". No unit conversion is
	// done: amount_cents 1250 is "1250".
	Amount string
	// Currency is the currency, upper-cased ("eur" is "EUR").
	Currency string
	// Merchant is the merchant id as sent (numbers in canonical form).
	Merchant string
	// Terminal is the terminal id as sent (numbers in canonical form).
	Terminal string
}

// Key names Fields looks for, in order of preference, compared without
// regard to ASCII case.
var (
	amountKeys   = []string{"amount", "amount_cents", "total", "value"}
	currencyKeys = []string{"currency"}
	merchantKeys = []string{"merchant", "merchant_id", "merchantId", "mid"}
	terminalKeys = []string{"terminal", "terminal_id", "terminalId", "tid"}
)

const (
	fieldAmount = iota
	fieldCurrency
	fieldMerchant
	fieldTerminal
	numFields
)

var fieldKeys = [numFields][]string{amountKeys, currencyKeys, merchantKeys, terminalKeys}

// maxFieldLen bounds each extracted field; longer values are ignored (no
// payment has a 256-byte merchant id, and the loose key stays cheap).
const maxFieldLen = 256

// Fields extracts the LooseFields from a canonical body (JSON or Form; Raw
// bodies have none). It looks for these keys, ignoring ASCII case, first at
// the top level of the body, then one level down (inside a top-level object
// member such as {"payment":{"amount":..}}, or a form key such as
// payment[amount] or payment.amount):
//
//	amount:   amount, amount_cents, total, value
//	currency: currency
//	merchant: merchant, merchant_id, merchantId, mid
//	terminal: terminal, terminal_id, terminalId, tid
//
// The top level wins over one level down, then the earlier name in each list,
// then the first occurrence in canonical (sorted) order. Values must be
// strings or numbers (an amount must be a number or a numeric string such as
// "12.50"); other values are skipped. Nothing else in the body, such as a
// nonce, a timestamp or a card number, enters LooseFields.
//
// Fields never fails: on a body that is not valid JSON or form it returns
// what it found before the damage. It allocates at most one string.
func Fields(canon []byte, kind Kind) LooseFields {
	var fc fieldCollector
	switch kind {
	case JSON:
		fc.json(canon)
	case Form:
		fc.form(canon)
	default:
		return LooseFields{}
	}
	return fc.result()
}

// fieldCollector keeps the best candidate so far for each field, in a fixed
// buffer.
type fieldCollector struct {
	rank    [numFields]int // 0 = none; lower non-zero is better
	start   [numFields]int
	end     [numFields]int
	buf     [numFields * maxFieldLen]byte
	scratch [maxFieldLen]byte // string values being read
	digits  [maxFieldLen]byte // numbers being normalized
}

// match returns the field and rank of key at depth (0 top level, 1 one level
// down), or ok false.
func match(key []byte, depth int) (field, rank int, ok bool) {
	if len(key) > 16 {
		return 0, 0, false
	}
	for f, names := range fieldKeys {
		for i, name := range names {
			if len(name) == len(key) && strings.EqualFold(name, string(key)) {
				return f, 1 + depth*8 + i, true
			}
		}
	}
	return 0, 0, false
}

// offer records value for field at rank if it is better than what is held.
// isNum says value is a JSON number (already canonical in canonical JSON).
func (fc *fieldCollector) offer(field, rank int, value []byte, isNum bool) {
	if fc.rank[field] != 0 && fc.rank[field] <= rank || len(value) > maxFieldLen {
		return
	}
	slot := fc.buf[field*maxFieldLen : field*maxFieldLen : (field+1)*maxFieldLen]
	var out []byte
	switch field {
	case fieldAmount:
		p, ok := parseLooseNumber(value)
		if !ok {
			return
		}
		var n number
		n, _ = p.normalize(fc.digits[:0])
		if int64(len(n.digits))+abs(n.exp) > maxFieldLen-16 {
			return
		}
		out = appendNumber(slot, n)
	case fieldCurrency:
		s := trimSpace(value)
		if len(s) == 0 || len(s) > maxFieldLen {
			return
		}
		out = append(slot, s...)
		for i, c := range out {
			if 'a' <= c && c <= 'z' {
				out[i] = c - 'a' + 'A'
			}
		}
	default:
		s := value
		if isNum {
			p, ok := parseLooseNumber(value)
			if !ok {
				return
			}
			var n number
			n, _ = p.normalize(fc.digits[:0])
			if int64(len(n.digits))+abs(n.exp) > maxFieldLen-16 {
				return
			}
			out = appendNumber(slot, n)
			break
		}
		s = trimSpace(s)
		if len(s) == 0 || len(s) > maxFieldLen {
			return
		}
		out = append(slot, s...)
	}
	if len(out) == 0 || len(out) > maxFieldLen {
		return
	}
	fc.rank[field] = rank
	fc.start[field] = field * maxFieldLen
	fc.end[field] = field*maxFieldLen + len(out)
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// result builds the LooseFields from one string holding all four.
func (fc *fieldCollector) result() LooseFields {
	total := 0
	for f := range numFields {
		total += fc.end[f] - fc.start[f]
	}
	if total == 0 {
		return LooseFields{}
	}
	var joined [numFields * maxFieldLen]byte
	var bounds [numFields + 1]int
	n := 0
	for f := range numFields {
		bounds[f] = n
		n += copy(joined[n:], fc.buf[fc.start[f]:fc.end[f]])
	}
	bounds[numFields] = n
	s := string(joined[:n])
	return LooseFields{
		Amount:   s[bounds[0]:bounds[1]],
		Currency: s[bounds[1]:bounds[2]],
		Merchant: s[bounds[2]:bounds[3]],
		Terminal: s[bounds[3]:bounds[4]],
	}
}

// form looks through a canonical (or any) form body.
func (fc *fieldCollector) form(body []byte) {
	var kbuf [maxFieldLen]byte
	var vbuf [3 * maxFieldLen]byte
	for len(body) > 0 {
		var piece []byte
		if i := indexByte(body, '&'); i >= 0 {
			piece, body = body[:i], body[i+1:]
		} else {
			piece, body = body, nil
		}
		k, v := piece, []byte(nil)
		if i := indexByte(piece, '='); i >= 0 {
			k, v = piece[:i], piece[i+1:]
		}
		if len(k) > len(kbuf) || len(v) > len(vbuf) {
			continue
		}
		key, err := formUnescape(kbuf[:0], k)
		if err != nil {
			continue
		}
		val, err := formUnescape(vbuf[:0], v)
		if err != nil || len(val) > maxFieldLen {
			continue
		}
		depth := 0
		// One level down: outer[name] or outer.name.
		if n := len(key); n > 0 && key[n-1] == ']' {
			if i := indexByte(key, '['); i > 0 {
				key, depth = key[i+1:n-1], 1
			}
		} else if i := indexByte(key, '.'); i > 0 {
			key, depth = key[i+1:], 1
		}
		if f, rank, ok := match(key, depth); ok {
			fc.offer(f, rank, val, false)
		}
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// json looks through a JSON body's top-level object and the objects
// directly inside it. It tolerates any input: on a syntax error it stops.
func (fc *fieldCollector) json(body []byte) {
	sc := scanner{src: body}
	sc.space()
	if !sc.consume('{') {
		return
	}
	fc.members(&sc, 0)
}

// members walks the members of the object whose '{' was just consumed.
func (fc *fieldCollector) members(sc *scanner, depth int) bool {
	sc.space()
	if sc.consume('}') {
		return true
	}
	var kbuf [32]byte
	for {
		sc.space()
		key, ok := sc.str(kbuf[:0])
		if !ok {
			return false
		}
		sc.space()
		if !sc.consume(':') {
			return false
		}
		sc.space()
		field, rank, named := match(key, depth)
		if !sc.more() {
			return false
		}
		switch c := sc.src[sc.pos]; {
		case c == '"':
			val, ok := sc.str(fc.scratch[:0])
			if !ok {
				return false
			}
			if named && len(val) <= maxFieldLen {
				fc.offer(field, rank, val, false)
			}
		case c == '-' || isDigit(c):
			start := sc.pos
			_, next, err := scanJSONNumber(sc.src, sc.pos)
			if err != nil {
				return false
			}
			sc.pos = next
			if named {
				fc.offer(field, rank, sc.src[start:next], true)
			}
		case c == '{' && depth == 0:
			sc.pos++
			if !fc.members(sc, 1) {
				return false
			}
		default:
			if !sc.skipValue() {
				return false
			}
		}
		sc.space()
		if sc.consume(',') {
			continue
		}
		return sc.consume('}')
	}
}

// scanner is a forgiving JSON reader for Fields.
type scanner struct {
	src []byte
	pos int
}

func (sc *scanner) more() bool { return sc.pos < len(sc.src) }

func (sc *scanner) space() {
	for sc.pos < len(sc.src) {
		switch sc.src[sc.pos] {
		case ' ', '\t', '\n', '\r':
			sc.pos++
		default:
			return
		}
	}
}

func (sc *scanner) consume(c byte) bool {
	if sc.pos < len(sc.src) && sc.src[sc.pos] == c {
		sc.pos++
		return true
	}
	return false
}

// str reads a string, appending its unescaped bytes to dst up to cap(dst)
// (longer strings are read and their tail dropped; ok stays true but the
// result is marked too long by returning a slice longer than any field
// allows).
func (sc *scanner) str(dst []byte) ([]byte, bool) {
	if !sc.consume('"') {
		return nil, false
	}
	limit := cap(dst)
	long := false
	add := func(b ...byte) {
		if len(dst)+len(b) <= limit {
			dst = append(dst, b...)
		} else {
			long = true
		}
	}
	for sc.pos < len(sc.src) {
		c := sc.src[sc.pos]
		switch {
		case c == '"':
			sc.pos++
			if long {
				return tooLong[:], true
			}
			return dst, true
		case c == '\\':
			r, next, ok := unescape(sc.src, sc.pos)
			if !ok {
				return nil, false
			}
			sc.pos = next
			var tmp [utf8.UTFMax]byte
			n := utf8.EncodeRune(tmp[:], r)
			add(tmp[:n]...)
		case c < 0x20:
			return nil, false
		default:
			add(c)
			sc.pos++
		}
	}
	return nil, false
}

// tooLong stands for a string longer than any field or key may be.
var tooLong [maxFieldLen + 1]byte

// skipValue skips one value of any kind without recursion.
func (sc *scanner) skipValue() bool {
	depth := 0
	for sc.pos < len(sc.src) {
		c := sc.src[sc.pos]
		switch {
		case c == '"':
			var none [0]byte
			if _, ok := sc.str(none[:]); !ok {
				return false
			}
		case c == '{' || c == '[':
			depth++
			sc.pos++
		case c == '}' || c == ']':
			if depth == 0 {
				return false
			}
			depth--
			sc.pos++
		default:
			sc.pos++
			if depth == 0 {
				// A scalar: consume to the next delimiter.
				for sc.pos < len(sc.src) {
					switch sc.src[sc.pos] {
					case ',', '}', ']', ' ', '\t', '\n', '\r':
						return true
					}
					sc.pos++
				}
				return true
			}
			continue
		}
		if depth == 0 {
			return true
		}
	}
	return false
}
