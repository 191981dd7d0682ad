package fingerprint

import "errors"

var (
	// ErrTooLarge is returned when a body is longer than the limit given to
	// AppendCanonical (MaxBodySize for Canonical), or when a ClientHello
	// handshake message is longer than MaxClientHelloSize. The edge forwards
	// such requests and records them as oversize.
	ErrTooLarge = errors.New("fingerprint: input too large")
	// ErrTooDeep is returned for a JSON body nested deeper than MaxDepth
	// arrays and objects.
	ErrTooDeep = errors.New("fingerprint: JSON nested too deeply")
	// ErrInvalidJSON is returned for a body declared or sniffed as JSON that
	// is not valid JSON (RFC 8259), contains invalid UTF-8 or a lone UTF-16
	// surrogate escape. The wrapping error names the byte offset.
	ErrInvalidJSON = errors.New("fingerprint: invalid JSON")
	// ErrDuplicateKey is returned for a JSON object that names the same key
	// twice (after unescaping): such a body has no single meaning, and
	// servers disagree about which value wins.
	ErrDuplicateKey = errors.New("fingerprint: duplicate JSON object key")
	// ErrNumberRange is returned for a JSON number whose exponent is beyond
	// ±MaxExponent; no payment needs one and it could not be written out
	// canonically in bounded space.
	ErrNumberRange = errors.New("fingerprint: JSON number exponent out of range")
	// ErrInvalidForm is returned for an application/x-www-form-urlencoded
	// body with a malformed percent escape.
	ErrInvalidForm = errors.New("fingerprint: invalid form encoding")
	// ErrKeySize is returned by NewKeyer for a secret that is not KeySize
	// bytes long.
	ErrKeySize = errors.New("fingerprint: secret must be 32 bytes")
	// ErrNeedMore is returned by ParseClientHello when its input is a valid
	// but incomplete prefix of a ClientHello: read more bytes and call again
	// with the longer prefix.
	ErrNeedMore = errors.New("fingerprint: incomplete ClientHello, need more bytes")
	// ErrNotClientHello is returned by ParseClientHello when the first bytes
	// are not a TLS handshake record carrying a ClientHello (plain HTTP,
	// SSLv2-style hellos, other handshake messages, garbage).
	ErrNotClientHello = errors.New("fingerprint: not a TLS ClientHello")
	// ErrMalformedClientHello is returned by ParseClientHello for a
	// ClientHello whose lengths or extension contents are inconsistent. The
	// wrapping error names the field.
	ErrMalformedClientHello = errors.New("fingerprint: malformed TLS ClientHello")
)
