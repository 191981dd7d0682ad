package fingerprint

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
)

// JA3String returns the JA3 text of the hello (Salesforce's definition):
// legacy version, cipher suites, extension types, supported groups and EC
// point formats, in decimal, fields joined by ',' and values by '-', in the
// order sent, GREASE values removed.
func (ch *ClientHello) JA3String() string {
	b := make([]byte, 0, 256)
	b = strconv.AppendUint(b, uint64(ch.Version), 10)
	b = append(b, ',')
	b = appendDecList(b, ch.CipherSuites)
	b = append(b, ',')
	b = appendDecList(b, ch.Extensions)
	b = append(b, ',')
	b = appendDecList(b, ch.SupportedGroups)
	b = append(b, ',')
	for i, f := range ch.ECPointFormats {
		if i > 0 {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, uint64(f), 10)
	}
	return string(b)
}

// JA3 returns the JA3 fingerprint: the MD5 of JA3String, in lower-case hex.
// MD5 is what JA3 is defined with; it is an identifier here, not a
// security boundary.
func (ch *ClientHello) JA3() string {
	sum := md5.Sum([]byte(ch.JA3String()))
	return hex.EncodeToString(sum[:])
}

func appendDecList(b []byte, vs []uint16) []byte {
	first := true
	for _, v := range vs {
		if IsGREASE(v) {
			continue
		}
		if !first {
			b = append(b, '-')
		}
		first = false
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	return b
}

// JA4 returns the JA4 fingerprint of the hello as specified by FoxIO
// (github.com/FoxIO-LLC/ja4, technical_details/JA4.md), for TLS over TCP,
// e.g. "t13d1516h2_8daaf6152771_e5627efa2ab1":
//
//   - "t", then the version: the highest supported_versions value, else
//     legacy_version ("13", "12", "11", "10", "s3", "s2", "d1"-"d3", else "00");
//   - "d" if the hello has a server_name extension, else "i";
//   - the number of cipher suites and of extensions, two digits each (99 at
//     most);
//   - the first and last characters of the first ALPN value ("00" if none;
//     the first and last hex digits of the value if either end is not an
//     ASCII letter or digit);
//   - "_" and the first 12 hex digits of the SHA-256 of the cipher suites
//     in 4-digit hex, sorted, joined by ',' ("000000000000" if none);
//   - "_" and the first 12 hex digits of the SHA-256 of the extension types
//     sorted, without server_name (0000) and ALPN (0010), then '_' and the
//     signature algorithms in the order sent (the '_' part only if there
//     are any) ("000000000000" if there are no such extensions).
//
// GREASE values are ignored everywhere. JA4 does not depend on the order of
// cipher suites or extensions, so clients that shuffle extensions (Chrome)
// keep one JA4.
func (ch *ClientHello) JA4() string {
	var buf [36]byte
	var list [1024]byte
	b := ch.appendJA4A(buf[:0])
	b = append(b, '_')
	b = appendHash12(b, ch.ja4Ciphers(list[:0]))
	b = append(b, '_')
	b = appendHash12(b, ch.ja4Extensions(list[:0]))
	return string(b)
}

// JA4Raw returns JA4's raw form ("JA4_r"): the same parts with the sorted
// lists in place of their hashes.
func (ch *ClientHello) JA4Raw() string {
	b := ch.appendJA4A(make([]byte, 0, 512))
	b = append(b, '_')
	b = append(b, ch.ja4Ciphers(nil)...)
	b = append(b, '_')
	b = append(b, ch.ja4Extensions(nil)...)
	return string(b)
}

func (ch *ClientHello) appendJA4A(b []byte) []byte {
	b = append(b, 't')
	b = append(b, ja4Version(ch.highestVersion())...)
	if slices.Contains(ch.Extensions, extServerName) {
		b = append(b, 'd')
	} else {
		b = append(b, 'i')
	}
	b = appendCount(b, countNonGREASE(ch.CipherSuites))
	b = appendCount(b, countNonGREASE(ch.Extensions))
	return appendALPN(b, ch.ALPN)
}

func (ch *ClientHello) highestVersion() uint16 {
	if slices.Contains(ch.Extensions, extSupportedVersions) {
		var best uint16
		for _, v := range ch.SupportedVersions {
			if !IsGREASE(v) && v > best {
				best = v
			}
		}
		if best != 0 {
			return best
		}
	}
	return ch.Version
}

func ja4Version(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

func countNonGREASE(vs []uint16) int {
	n := 0
	for _, v := range vs {
		if !IsGREASE(v) {
			n++
		}
	}
	return n
}

func appendCount(b []byte, n int) []byte {
	n = min(n, 99)
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func appendALPN(b []byte, alpn []string) []byte {
	if len(alpn) == 0 || len(alpn[0]) == 0 {
		return append(b, '0', '0')
	}
	p := alpn[0]
	first, last := p[0], p[len(p)-1]
	if isAlnum(first) && isAlnum(last) {
		return append(b, first, last)
	}
	return append(b, hexLower[first>>4], hexLower[last&0xF])
}

func appendHex4(b []byte, v uint16) []byte {
	return append(b, hexLower[v>>12], hexLower[v>>8&0xF], hexLower[v>>4&0xF], hexLower[v&0xF])
}

// ja4Ciphers appends the sorted non-GREASE cipher list, hex, comma-joined.
func (ch *ClientHello) ja4Ciphers(b []byte) []byte {
	var tmp [128]uint16
	list := sortedNonGREASE(tmp[:0], ch.CipherSuites, false)
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendHex4(b, v)
	}
	return b
}

// ja4Extensions appends the sorted non-GREASE extension list without SNI and
// ALPN, then '_' and the signature algorithms as sent if there are any. It
// appends nothing if there are no such extensions.
func (ch *ClientHello) ja4Extensions(b []byte) []byte {
	var tmp [64]uint16
	list := sortedNonGREASE(tmp[:0], ch.Extensions, true)
	if len(list) == 0 {
		return b
	}
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendHex4(b, v)
	}
	first := true
	for _, v := range ch.SignatureAlgorithms {
		if IsGREASE(v) {
			continue
		}
		if first {
			b = append(b, '_')
		} else {
			b = append(b, ',')
		}
		first = false
		b = appendHex4(b, v)
	}
	return b
}

func sortedNonGREASE(dst, vs []uint16, dropSNIALPN bool) []uint16 {
	for _, v := range vs {
		if IsGREASE(v) || dropSNIALPN && (v == extServerName || v == extALPN) {
			continue
		}
		dst = append(dst, v)
	}
	slices.Sort(dst)
	return dst
}

// appendHash12 appends the first 12 hex digits of SHA-256(s), or
// "000000000000" for an empty s.
func appendHash12(b, s []byte) []byte {
	if len(s) == 0 {
		return append(b, "000000000000"...)
	}
	sum := sha256.Sum256(s)
	var h [12]byte
	hex.Encode(h[:], sum[:6])
	return append(b, h[:]...)
}
