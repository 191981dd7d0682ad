package fingerprint

import "strconv"

// MaxExponent bounds the decimal exponent of a number, as written in the
// body (the digits after 'e'). Larger exponents are refused with
// ErrNumberRange.
const MaxExponent = 999_999_999

// maxPlainZeros is how many trailing zeros an integer may have and still be
// written out in full (as ECMAScript does up to 1e21); beyond it the
// canonical form uses an exponent.
const maxPlainZeros = 21

// minPlainPoint is how far left of the first significant digit the decimal
// point may sit in plain notation (0.000001 is plain, 1e-7 is not), as in
// ECMAScript.
const minPlainPoint = -6

// number is a decimal number taken apart: the value is
// ±digits × 10^exp, digits has no leading or trailing zeros, and a zero has
// no digits.
type number struct {
	neg    bool
	digits []byte
	exp    int64
}

// appendNumber writes n in canonical form:
//
//   - zero (of any sign or spelling) is "0";
//   - an integer with at most 21 trailing zeros is written out in full,
//     however many digits it has ("12", "123456789012345678901234567890");
//   - a fraction whose first significant digit is at most 6 places after the
//     point is written plainly ("10.5", "0.000001");
//   - anything else is d[.ddd]e±x with one digit before the point ("1e22",
//     "1.5e-7").
//
// Every significant digit is kept; no value goes through float64.
func appendNumber(dst []byte, n number) []byte {
	if len(n.digits) == 0 {
		return append(dst, '0')
	}
	if n.neg {
		dst = append(dst, '-')
	}
	d := n.digits
	point := int64(len(d)) + n.exp // position of the decimal point from the left of d
	switch {
	case n.exp >= 0 && n.exp <= maxPlainZeros:
		dst = append(dst, d...)
		for i := int64(0); i < n.exp; i++ {
			dst = append(dst, '0')
		}
	case n.exp < 0 && point > minPlainPoint:
		if point > 0 {
			dst = append(dst, d[:point]...)
			dst = append(dst, '.')
			dst = append(dst, d[point:]...)
		} else {
			dst = append(dst, '0', '.')
			for i := point; i < 0; i++ {
				dst = append(dst, '0')
			}
			dst = append(dst, d...)
		}
	default:
		dst = append(dst, d[0])
		if len(d) > 1 {
			dst = append(dst, '.')
			dst = append(dst, d[1:]...)
		}
		dst = append(dst, 'e')
		dst = strconv.AppendInt(dst, point-1, 10)
	}
	return dst
}

// decimalParts are the pieces of a number as written: intPart and fracPart
// are runs of ASCII digits, exp is the written exponent.
type decimalParts struct {
	neg      bool
	intPart  []byte
	fracPart []byte
	exp      int64
}

// normalize turns p into a number whose digits live in scratch (reused).
func (p decimalParts) normalize(scratch []byte) (number, []byte) {
	scratch = append(scratch[:0], p.intPart...)
	scratch = append(scratch, p.fracPart...)
	exp := p.exp - int64(len(p.fracPart))
	i := 0
	for i < len(scratch) && scratch[i] == '0' {
		i++
	}
	j := len(scratch)
	for j > i && scratch[j-1] == '0' {
		j--
	}
	exp += int64(len(scratch) - j)
	n := number{neg: p.neg, digits: scratch[i:j], exp: exp}
	if len(n.digits) == 0 {
		n = number{}
	}
	return n, scratch
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseExponent reads [+-]?digits at s[i:], returning the value and the
// index after it. ok is false if there is no digit; rangeErr if the value is
// beyond MaxExponent.
func parseExponent(s []byte, i int) (exp int64, next int, ok, rangeErr bool) {
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		if exp <= MaxExponent {
			exp = exp*10 + int64(s[i]-'0')
		}
		i++
	}
	if i == start {
		return 0, i, false, false
	}
	if exp > MaxExponent {
		return 0, i, true, true
	}
	if neg {
		exp = -exp
	}
	return exp, i, true, false
}

// scanJSONNumber parses the JSON number (RFC 8259 grammar) at s[i:].
// It returns the parts, the index after the number, and a non-nil error
// kind (ErrInvalidJSON or ErrNumberRange) on failure.
func scanJSONNumber(s []byte, i int) (decimalParts, int, error) {
	var p decimalParts
	if i < len(s) && s[i] == '-' {
		p.neg = true
		i++
	}
	start := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return p, i, ErrInvalidJSON
	}
	p.intPart = s[start:i]
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == fs {
			return p, i, ErrInvalidJSON
		}
		p.fracPart = s[fs:i]
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		exp, next, ok, rangeErr := parseExponent(s, i+1)
		if !ok {
			return p, next, ErrInvalidJSON
		}
		if rangeErr {
			return p, next, ErrNumberRange
		}
		p.exp = exp
		i = next
	}
	return p, i, nil
}

// parseLooseNumber reads a whole string as a decimal number, leniently:
// surrounding ASCII spaces, a leading '+', leading zeros, ".5" and "5." are
// accepted. It is for amounts sent as strings ("12.50").
func parseLooseNumber(s []byte) (decimalParts, bool) {
	var p decimalParts
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		p.neg = s[i] == '-'
		i++
	}
	is := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	p.intPart = s[is:i]
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		p.fracPart = s[fs:i]
	}
	if len(p.intPart)+len(p.fracPart) == 0 {
		return p, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		exp, next, ok, rangeErr := parseExponent(s, i+1)
		if !ok || rangeErr {
			return p, false
		}
		p.exp = exp
		i = next
	}
	return p, i == len(s)
}
