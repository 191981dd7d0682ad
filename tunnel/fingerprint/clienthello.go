package fingerprint

import (
	"fmt"
	"strings"
)

// MaxClientHelloSize bounds the ClientHello handshake message
// ParseClientHello accepts: 64 KiB, spread over at most maxHelloRecords
// records. Real hellos are 200 B to 2 KiB (post-quantum key shares).
const MaxClientHelloSize = 64 << 10

// maxHelloRecords bounds how many TLS records one ClientHello may span.
const maxHelloRecords = 16

// MaxClientHelloRead is the most bytes ParseClientHello can ask for: with
// this many bytes it never returns ErrNeedMore. A reader that buffers the
// start of a stream to fingerprint it needs no more than this.
const MaxClientHelloRead = MaxClientHelloSize + handshakeHeaderLen + maxHelloRecords*recordHeaderLen

// maxRecordLen is the largest TLS plaintext record (RFC 8446, 5.1).
const maxRecordLen = 1 << 14

const (
	recordTypeHandshake   = 0x16
	handshakeClientHello  = 0x01
	extServerName         = 0x0000
	extSupportedGroups    = 0x000a
	extECPointFormats     = 0x000b
	extSignatureAlgs      = 0x000d
	extALPN               = 0x0010
	extSupportedVersions  = 0x002b
	sniHostName           = 0
	maxServerNameLen      = 255
	recordHeaderLen       = 5
	handshakeHeaderLen    = 4
	clientHelloMinBodyLen = 2 + 32 + 1 + 2 + 2 + 1 + 1
)

// ClientHello holds the fields of a TLS ClientHello that client
// fingerprints use. Lists are in the order the client sent them, GREASE
// values included (JA3 and JA4 drop them).
type ClientHello struct {
	// RecordVersion is the version in the first record header (often
	// 0x0301 for compatibility).
	RecordVersion uint16
	// Version is legacy_version, the hello's own version field (0x0303 for
	// TLS 1.2 and 1.3 clients).
	Version uint16
	// SupportedVersions is the supported_versions extension (0x002b).
	SupportedVersions []uint16
	// CipherSuites are the offered cipher suites.
	CipherSuites []uint16
	// Extensions are the extension types in order.
	Extensions []uint16
	// ServerName is the host_name of the server_name extension (SNI), or "".
	// It is printable ASCII (anything else is refused as malformed).
	ServerName string
	// ALPN is the list of the (first) application_layer_protocol_negotiation
	// extension (raw bytes as strings; they need not be UTF-8).
	ALPN []string
	// SupportedGroups is the supported_groups extension (named curves).
	SupportedGroups []uint16
	// ECPointFormats is the ec_point_formats extension.
	ECPointFormats []uint8
	// SignatureAlgorithms is the signature_algorithms extension (0x000d).
	SignatureAlgorithms []uint16
}

// ParseClientHello parses the ClientHello at the start of b, the first bytes
// a TLS client sends: one or more handshake records (a large hello may be
// split over up to 16 records) carrying the ClientHello message. Bytes after
// the message are ignored.
//
// It returns ErrNeedMore if b is a valid but incomplete prefix (including
// an empty b): the caller should read more and call again with the longer
// prefix (it never needs more than MaxClientHelloRead bytes in all). It
// returns ErrNotClientHello if b does not start a TLS handshake record
// carrying a ClientHello (plain HTTP, SSLv2-style hellos, other handshake
// messages), ErrTooLarge if the message is longer than MaxClientHelloSize or
// spans more than 16 records, and ErrMalformedClientHello for inconsistent
// lengths or extension contents. It never panics and reads only b.
//
// ParseClientHello is safe for concurrent use; the result does not alias b.
func ParseClientHello(b []byte) (*ClientHello, error) {
	msg, recVer, err := handshakeMessage(b)
	if err != nil {
		return nil, err
	}
	ch := &ClientHello{RecordVersion: recVer}
	if err := ch.parse(msg); err != nil {
		return nil, err
	}
	return ch, nil
}

// handshakeMessage returns the body of the ClientHello handshake message,
// reassembled from records if need be.
func handshakeMessage(b []byte) (body []byte, recordVersion uint16, err error) {
	if len(b) == 0 {
		return nil, 0, ErrNeedMore
	}
	if b[0] != recordTypeHandshake {
		return nil, 0, fmt.Errorf("%w: first byte 0x%02x is not a handshake record", ErrNotClientHello, b[0])
	}
	if len(b) >= 2 && b[1] != 3 {
		return nil, 0, fmt.Errorf("%w: record version major %d", ErrNotClientHello, b[1])
	}
	if len(b) < recordHeaderLen {
		return nil, 0, ErrNeedMore
	}
	recordVersion = uint16(b[1])<<8 | uint16(b[2])

	// Fast path: the whole message in the first record.
	var joined []byte
	msgLen := -1
	off := 0
	for records := 0; ; records++ {
		if records == maxHelloRecords {
			return nil, 0, fmt.Errorf("%w: ClientHello spans more than %d records", ErrTooLarge, maxHelloRecords)
		}
		if len(b)-off < recordHeaderLen {
			if off < len(b) && b[off] != recordTypeHandshake {
				return nil, 0, fmt.Errorf("%w: record of type 0x%02x inside the ClientHello", ErrMalformedClientHello, b[off])
			}
			return nil, 0, ErrNeedMore
		}
		h := b[off : off+recordHeaderLen]
		if h[0] != recordTypeHandshake {
			return nil, 0, fmt.Errorf("%w: record of type 0x%02x inside the ClientHello", ErrMalformedClientHello, h[0])
		}
		if h[1] != 3 {
			return nil, 0, fmt.Errorf("%w: record version major %d", ErrMalformedClientHello, h[1])
		}
		n := int(h[3])<<8 | int(h[4])
		if n == 0 || n > maxRecordLen {
			return nil, 0, fmt.Errorf("%w: record length %d", ErrMalformedClientHello, n)
		}
		payload := b[off+recordHeaderLen : min(len(b), off+recordHeaderLen+n)]
		complete := len(payload) == n
		if records == 0 {
			// Check the handshake header as soon as it is there, so that
			// garbage is refused without waiting for more bytes.
			if len(payload) >= 1 && payload[0] != handshakeClientHello {
				return nil, 0, fmt.Errorf("%w: handshake message type %d", ErrNotClientHello, payload[0])
			}
			if len(payload) >= handshakeHeaderLen {
				msgLen = int(payload[1])<<16 | int(payload[2])<<8 | int(payload[3])
				if msgLen > MaxClientHelloSize {
					return nil, 0, fmt.Errorf("%w: ClientHello of %d bytes, limit %d", ErrTooLarge, msgLen, MaxClientHelloSize)
				}
				if msgLen < clientHelloMinBodyLen {
					return nil, 0, fmt.Errorf("%w: ClientHello of %d bytes", ErrMalformedClientHello, msgLen)
				}
				if complete && handshakeHeaderLen+msgLen <= n {
					return payload[handshakeHeaderLen : handshakeHeaderLen+msgLen], recordVersion, nil
				}
			}
		}
		joined = append(joined, payload...)
		if msgLen < 0 && len(joined) >= handshakeHeaderLen {
			if joined[0] != handshakeClientHello {
				return nil, 0, fmt.Errorf("%w: handshake message type %d", ErrNotClientHello, joined[0])
			}
			msgLen = int(joined[1])<<16 | int(joined[2])<<8 | int(joined[3])
			if msgLen > MaxClientHelloSize {
				return nil, 0, fmt.Errorf("%w: ClientHello of %d bytes, limit %d", ErrTooLarge, msgLen, MaxClientHelloSize)
			}
			if msgLen < clientHelloMinBodyLen {
				return nil, 0, fmt.Errorf("%w: ClientHello of %d bytes", ErrMalformedClientHello, msgLen)
			}
		}
		if msgLen >= 0 && len(joined) >= handshakeHeaderLen+msgLen {
			return joined[handshakeHeaderLen : handshakeHeaderLen+msgLen], recordVersion, nil
		}
		if !complete {
			return nil, 0, ErrNeedMore
		}
		off += recordHeaderLen + n
	}
}

// reader reads big-endian fields from a byte slice. An overrun sets bad and
// empties the reader, so loops over len(r.b) always end.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) fail() {
	r.bad = true
	r.b = nil
}

func (r *reader) u8() uint8 {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if len(r.b) < 2 {
		r.fail()
		return 0
	}
	v := uint16(r.b[0])<<8 | uint16(r.b[1])
	r.b = r.b[2:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if len(r.b) < n {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// vec8 and vec16 read a vector with a one- or two-byte length.
func (r *reader) vec8() []byte  { return r.bytes(int(r.u8())) }
func (r *reader) vec16() []byte { return r.bytes(int(r.u16())) }

func malformed(what string) error {
	return fmt.Errorf("%w: %s", ErrMalformedClientHello, what)
}

// u16List decodes a list of uint16 values (even length required) into the
// free space of *arena, returning a slice capped to its own length.
func u16List(arena *[]uint16, b []byte, what string) ([]uint16, error) {
	if len(b)%2 != 0 {
		return nil, malformed(what + " has odd length")
	}
	a := *arena
	start := len(a)
	for i := 0; i+1 < len(b); i += 2 {
		a = append(a, uint16(b[i])<<8|uint16(b[i+1]))
	}
	*arena = a
	return a[start:len(a):len(a)], nil
}

func (ch *ClientHello) parse(msg []byte) error {
	r := reader{b: msg}
	ch.Version = r.u16()
	r.bytes(32) // random
	if sid := r.vec8(); len(sid) > 32 {
		return malformed("session id longer than 32 bytes")
	}
	suites := r.vec16()
	comp := r.vec8()
	if r.bad {
		return malformed("truncated before extensions")
	}
	if len(suites) == 0 {
		return malformed("no cipher suites")
	}
	if len(comp) == 0 {
		return malformed("no compression methods")
	}
	var exts []byte
	if len(r.b) > 0 { // very old clients send no extensions block at all
		exts = r.vec16()
		if r.bad || len(r.b) != 0 {
			return malformed("extensions length does not match the message")
		}
	}
	// First pass: check the framing and size one arena for every list.
	er := reader{b: exts}
	n, need := 0, len(suites)/2
	for len(er.b) > 0 {
		typ := er.u16()
		data := er.vec16()
		n++
		switch typ {
		case extSupportedGroups, extSignatureAlgs, extSupportedVersions:
			need += len(data) / 2
		}
	}
	if er.bad {
		return malformed("truncated extension")
	}
	p := parser{arena: make([]uint16, 0, need+n)}
	var err error
	if ch.CipherSuites, err = u16List(&p.arena, suites, "cipher suites"); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	ch.Extensions = p.arena[len(p.arena) : len(p.arena) : len(p.arena)+n]
	p.arena = p.arena[:len(p.arena)+n]
	er = reader{b: exts}
	for len(er.b) > 0 {
		typ := er.u16()
		data := er.vec16()
		ch.Extensions = append(ch.Extensions, typ)
		if err := ch.extension(&p, typ, data); err != nil {
			return err
		}
	}
	if len(p.alpn) > 0 {
		ch.ALPN = alpnStrings(p.alpn)
	}
	return nil
}

// alpnStrings returns the values of a (checked) ALPN list, all cut from one
// string.
func alpnStrings(list []byte) []string {
	count, total := 0, 0
	for r := (reader{b: list}); len(r.b) > 0; count++ {
		total += len(r.vec8())
	}
	var sb strings.Builder
	sb.Grow(total)
	for r := (reader{b: list}); len(r.b) > 0; {
		sb.Write(r.vec8())
	}
	all := sb.String()
	out := make([]string, count)
	off := 0
	for i, r := 0, (reader{b: list}); len(r.b) > 0; i++ {
		n := len(r.vec8())
		out[i] = all[off : off+n]
		off += n
	}
	return out
}

// parser holds the arena one ClientHello's lists are cut from, and the
// first ALPN extension's list.
type parser struct {
	arena []uint16
	alpn  []byte
}

func (ch *ClientHello) extension(p *parser, typ uint16, data []byte) error {
	r := reader{b: data}
	var err error
	switch typ {
	case extServerName:
		if len(data) == 0 {
			return nil // empty in a server's echo; tolerate from clients too
		}
		list := r.vec16()
		if r.bad || len(r.b) != 0 {
			return malformed("server_name length")
		}
		lr := reader{b: list}
		for len(lr.b) > 0 {
			kind := lr.u8()
			name := lr.vec16()
			if lr.bad {
				return malformed("server_name entry")
			}
			if kind != sniHostName || ch.ServerName != "" {
				continue
			}
			if len(name) == 0 || len(name) > maxServerNameLen {
				return malformed("server_name length")
			}
			for _, c := range name {
				if c <= 0x20 || c >= 0x7f {
					return malformed("server_name is not printable ASCII")
				}
			}
			ch.ServerName = string(name)
		}
	case extALPN:
		list := r.vec16()
		if r.bad || len(r.b) != 0 {
			return malformed("ALPN length")
		}
		lr := reader{b: list}
		for len(lr.b) > 0 {
			lr.vec8()
		}
		if lr.bad {
			return malformed("ALPN entry")
		}
		if p.alpn == nil {
			p.alpn = list
		}
	case extSupportedGroups:
		list := r.vec16()
		if r.bad || len(r.b) != 0 {
			return malformed("supported_groups length")
		}
		ch.SupportedGroups, err = u16List(&p.arena, list, "supported_groups")
	case extECPointFormats:
		list := r.vec8()
		if r.bad || len(r.b) != 0 {
			return malformed("ec_point_formats length")
		}
		ch.ECPointFormats = append([]uint8(nil), list...)
	case extSignatureAlgs:
		list := r.vec16()
		if r.bad || len(r.b) != 0 {
			return malformed("signature_algorithms length")
		}
		ch.SignatureAlgorithms, err = u16List(&p.arena, list, "signature_algorithms")
	case extSupportedVersions:
		list := r.vec8()
		if r.bad || len(r.b) != 0 {
			return malformed("supported_versions length")
		}
		ch.SupportedVersions, err = u16List(&p.arena, list, "supported_versions")
	}
	return err
}

// IsGREASE reports whether v is a GREASE value (RFC 8701): 0x0a0a, 0x1a1a,
// ..., 0xfafa, which clients send at random to keep servers tolerant and
// which fingerprints must ignore.
func IsGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}
