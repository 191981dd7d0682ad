package fingerprint

import (
	"bytes"
	"errors"
	"regexp"
	"slices"
	"testing"
)

// ext is one extension as sent: type and raw data.
type ext struct {
	typ  uint16
	data []byte
}

// helloSpec describes a ClientHello to build for tests.
type helloSpec struct {
	version uint16
	random  [32]byte
	session []byte
	ciphers []uint16
	comp    []byte
	exts    []ext
	noExts  bool // omit the extensions block entirely
}

func be16(v int) []byte { return []byte{byte(v >> 8), byte(v)} }

func u16s(vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, byte(v>>8), byte(v))
	}
	return b
}

// vec16 prefixes b with its two-byte length; vec8 with a one-byte length.
func vec16(b []byte) []byte { return append(be16(len(b)), b...) }
func vec8(b []byte) []byte  { return append([]byte{byte(len(b))}, b...) }

func sniExt(name string) ext {
	entry := append([]byte{0}, vec16([]byte(name))...)
	return ext{extServerName, vec16(entry)}
}

func alpnExt(protos ...string) ext {
	var list []byte
	for _, p := range protos {
		list = append(list, vec8([]byte(p))...)
	}
	return ext{extALPN, vec16(list)}
}

func groupsExt(vs ...uint16) ext   { return ext{extSupportedGroups, vec16(u16s(vs...))} }
func sigalgsExt(vs ...uint16) ext  { return ext{extSignatureAlgs, vec16(u16s(vs...))} }
func versionsExt(vs ...uint16) ext { return ext{extSupportedVersions, vec8(u16s(vs...))} }
func pointsExt(vs ...byte) ext     { return ext{extECPointFormats, vec8(vs)} }

// message returns the handshake message: type, 3-byte length, body.
func (s helloSpec) message() []byte {
	var body []byte
	body = append(body, be16(int(s.version))...)
	body = append(body, s.random[:]...)
	body = append(body, vec8(s.session)...)
	body = append(body, vec16(u16s(s.ciphers...))...)
	comp := s.comp
	if comp == nil {
		comp = []byte{0}
	}
	body = append(body, vec8(comp)...)
	if !s.noExts {
		var exts []byte
		for _, e := range s.exts {
			exts = append(exts, be16(int(e.typ))...)
			exts = append(exts, vec16(e.data)...)
		}
		body = append(body, vec16(exts)...)
	}
	return append([]byte{handshakeClientHello, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// records frames msg as TLS handshake records of at most size bytes.
func records(msg []byte, size int) []byte {
	var out []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, recordTypeHandshake, 3, 1)
		out = append(out, be16(n)...)
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

func (s helloSpec) wire() []byte { return records(s.message(), maxRecordLen) }

// splitHello takes a handshake message apart into a helloSpec.
func splitHello(t testing.TB, msg []byte) helloSpec {
	t.Helper()
	r := reader{b: msg[handshakeHeaderLen:]}
	var s helloSpec
	s.version = r.u16()
	copy(s.random[:], r.bytes(32))
	s.session = r.vec8()
	cs := r.vec16()
	for i := 0; i+1 < len(cs); i += 2 {
		s.ciphers = append(s.ciphers, uint16(cs[i])<<8|uint16(cs[i+1]))
	}
	s.comp = r.vec8()
	er := reader{b: r.vec16()}
	for len(er.b) > 0 {
		typ := er.u16()
		s.exts = append(s.exts, ext{typ, er.vec16()})
	}
	if r.bad || er.bad {
		t.Fatal("splitHello: malformed input")
	}
	return s
}

// handshakeOf returns the handshake message inside single- or multi-record
// wire bytes.
func handshakeOf(t testing.TB, wire []byte) []byte {
	t.Helper()
	msg, _, err := handshakeMessage(wire)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{handshakeClientHello, byte(len(msg) >> 16), byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

// withGREASE adds GREASE values where browsers put them: first cipher, first
// and last extension (empty and one-byte), first group, first supported
// version, and a GREASE signature algorithm.
func (s helloSpec) withGREASE() helloSpec {
	g := s
	g.ciphers = append([]uint16{0x1a1a}, s.ciphers...)
	g.exts = []ext{{0x2a2a, nil}}
	for _, e := range s.exts {
		r := reader{b: e.data}
		switch e.typ {
		case extSupportedGroups:
			e = ext{e.typ, vec16(append(u16s(0x3a3a), r.vec16()...))}
		case extSupportedVersions:
			e = ext{e.typ, vec8(append(u16s(0x4a4a), r.vec8()...))}
		case extSignatureAlgs:
			e = ext{e.typ, vec16(append(u16s(0x5a5a), r.vec16()...))}
		}
		g.exts = append(g.exts, e)
	}
	g.exts = append(g.exts, ext{0xfafa, []byte{0}})
	return g
}

// foxioExample is the hello of the worked example in FoxIO's JA4
// specification (technical_details/JA4.md): ciphers and extensions in the
// original order of its JA4_ro.
func foxioExample() helloSpec {
	s := helloSpec{version: 0x0303, ciphers: []uint16{
		0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
	}}
	for _, typ := range []uint16{0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015} {
		switch typ {
		case extServerName:
			s.exts = append(s.exts, sniExt("example.com"))
		case extALPN:
			s.exts = append(s.exts, alpnExt("h2", "http/1.1"))
		case extSignatureAlgs:
			s.exts = append(s.exts, sigalgsExt(0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601))
		case extSupportedVersions:
			s.exts = append(s.exts, versionsExt(0x0304, 0x0303))
		case extSupportedGroups:
			s.exts = append(s.exts, groupsExt(0x001d, 0x0017, 0x0018))
		case extECPointFormats:
			s.exts = append(s.exts, pointsExt(0))
		default:
			s.exts = append(s.exts, ext{typ, nil})
		}
	}
	return s
}

// chrome143 is the Chrome 143 (Android) hello published by browserleaks
// (JA4 t13d1516h2_8daaf6152771_d8a2da3f94cd, JA3
// 98487aa16281980e7d1120d399efb6a4), in the order of its JA4_ro and
// ja3_text, with GREASE added where Chrome puts it.
func chrome143() helloSpec {
	s := helloSpec{version: 0x0303, ciphers: []uint16{
		4865, 4866, 4867, 49195, 49199, 49196, 49200, 52393, 52392, 49171, 49172, 156, 157, 47, 53,
	}}
	for _, typ := range []uint16{45, 51, 16, 65037, 23, 17613, 0, 11, 10, 43, 65281, 35, 18, 5, 13, 27} {
		switch typ {
		case extServerName:
			s.exts = append(s.exts, sniExt("tls.browserleaks.com"))
		case extALPN:
			s.exts = append(s.exts, alpnExt("h2", "http/1.1"))
		case extSignatureAlgs:
			s.exts = append(s.exts, sigalgsExt(0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601))
		case extSupportedVersions:
			s.exts = append(s.exts, versionsExt(0x0304, 0x0303))
		case extSupportedGroups:
			s.exts = append(s.exts, groupsExt(4588, 29, 23, 24))
		case extECPointFormats:
			s.exts = append(s.exts, pointsExt(0))
		default:
			s.exts = append(s.exts, ext{typ, []byte{0}})
		}
	}
	return s.withGREASE()
}

var ja4Shape = regexp.MustCompile(`^t(13|12|11|10|s3|s2|d1|d2|d3|00)[di][0-9]{2}[0-9]{2}[0-9a-zA-Z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$`)

func TestJA4PublishedVectors(t *testing.T) {
	tests := []struct {
		name           string
		wire           []byte
		ja4, ja4r, ja3 string
		ja3String, sni string
	}{
		{
			name: "FoxIO JA4.md example",
			wire: foxioExample().wire(),
			ja4:  "t13d1516h2_8daaf6152771_e5627efa2ab1",
			ja4r: "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601",
			sni:  "example.com",
		},
		{
			name:      "browserleaks Chrome 143 with GREASE",
			wire:      chrome143().wire(),
			ja4:       "t13d1516h2_8daaf6152771_d8a2da3f94cd",
			ja4r:      "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,fe0d,ff01_0403,0804,0401,0503,0805,0501,0806,0601",
			ja3String: "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0",
			ja3:       "98487aa16281980e7d1120d399efb6a4",
			sni:       "tls.browserleaks.com",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := ParseClientHello(tt.wire)
			if err != nil {
				t.Fatal(err)
			}
			if got := ch.JA4(); got != tt.ja4 {
				t.Errorf("JA4 = %s, want %s", got, tt.ja4)
			}
			if got := ch.JA4Raw(); got != tt.ja4r {
				t.Errorf("JA4Raw =\n%s\nwant\n%s", got, tt.ja4r)
			}
			if tt.ja3String != "" {
				if got := ch.JA3String(); got != tt.ja3String {
					t.Errorf("JA3String =\n%s\nwant\n%s", got, tt.ja3String)
				}
				if got := ch.JA3(); got != tt.ja3 {
					t.Errorf("JA3 = %s, want %s", got, tt.ja3)
				}
			}
			if ch.ServerName != tt.sni {
				t.Errorf("ServerName = %q, want %q", ch.ServerName, tt.sni)
			}
			if !ja4Shape.MatchString(ch.JA4()) {
				t.Errorf("JA4 %s has the wrong shape", ch.JA4())
			}
		})
	}
}

// The hash step alone, on the strings of FoxIO's worked example.
func TestJA4HashSpecExample(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9", "8daaf6152771"},
		{"0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601", "e5627efa2ab1"},
		{"0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01", "6d807ffa2a79"},
		{"", "000000000000"},
	} {
		in, want := tt.in, tt.want
		if got := string(appendHash12(nil, []byte(in))); got != want {
			t.Errorf("hash(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseClientHelloFields(t *testing.T) {
	s := helloSpec{
		version: 0x0303, session: bytes.Repeat([]byte{9}, 32),
		ciphers: []uint16{0x0a0a, 0x1301, 0xc02f},
		exts: []ext{
			{0x0a0a, nil},
			sniExt("Pay.Example"),
			alpnExt("http/1.1", "h2"),
			groupsExt(0x1a1a, 0x001d, 0x0017),
			pointsExt(0, 1),
			sigalgsExt(0x0403, 0x0804),
			versionsExt(0x2a2a, 0x0304, 0x0303),
			{0x0017, nil},
		},
	}
	ch, err := ParseClientHello(s.wire())
	if err != nil {
		t.Fatal(err)
	}
	want := &ClientHello{
		RecordVersion:       0x0301,
		Version:             0x0303,
		SupportedVersions:   []uint16{0x2a2a, 0x0304, 0x0303},
		CipherSuites:        []uint16{0x0a0a, 0x1301, 0xc02f},
		Extensions:          []uint16{0x0a0a, 0x0000, 0x0010, 0x000a, 0x000b, 0x000d, 0x002b, 0x0017},
		ServerName:          "Pay.Example",
		ALPN:                []string{"http/1.1", "h2"},
		SupportedGroups:     []uint16{0x1a1a, 0x001d, 0x0017},
		ECPointFormats:      []uint8{0, 1},
		SignatureAlgorithms: []uint16{0x0403, 0x0804},
	}
	if !equalHello(ch, want) {
		t.Errorf("got  %+v\nwant %+v", ch, want)
	}
	if got := ch.JA3String(); got != "771,4865-49199,0-16-10-11-13-43-23,29-23,0-1" {
		t.Errorf("JA3String = %s", got)
	}
	if got := ch.JA4()[:10]; got != "t13d0207h1" {
		t.Errorf("JA4 a = %s", got)
	}
}

func equalHello(a, b *ClientHello) bool {
	return a.RecordVersion == b.RecordVersion && a.Version == b.Version &&
		slices.Equal(a.SupportedVersions, b.SupportedVersions) && slices.Equal(a.CipherSuites, b.CipherSuites) &&
		slices.Equal(a.Extensions, b.Extensions) && a.ServerName == b.ServerName && slices.Equal(a.ALPN, b.ALPN) &&
		slices.Equal(a.SupportedGroups, b.SupportedGroups) && slices.Equal(a.ECPointFormats, b.ECPointFormats) &&
		slices.Equal(a.SignatureAlgorithms, b.SignatureAlgorithms)
}

func TestJA4Parts(t *testing.T) {
	base := func() *ClientHello {
		return &ClientHello{Version: 0x0303, CipherSuites: []uint16{0x1301}, Extensions: []uint16{0x0017}}
	}
	tests := []struct {
		name   string
		modify func(*ClientHello)
		wantA  string
	}{
		{"TLS 1.2 no sni no alpn", func(*ClientHello) {}, "t12i010100"},
		{"supported_versions wins", func(c *ClientHello) {
			c.Extensions = append(c.Extensions, extSupportedVersions)
			c.SupportedVersions = []uint16{0x3a3a, 0x0303, 0x0304}
		}, "t13i010200"},
		{"supported_versions only GREASE", func(c *ClientHello) {
			c.Extensions = append(c.Extensions, extSupportedVersions)
			c.SupportedVersions = []uint16{0x3a3a}
		}, "t12i010200"},
		{"TLS 1.0", func(c *ClientHello) { c.Version = 0x0301 }, "t10i010100"},
		{"SSL 3", func(c *ClientHello) { c.Version = 0x0300 }, "ts3i010100"},
		{"unknown version", func(c *ClientHello) { c.Version = 0x0305 }, "t00i010100"},
		{"sni", func(c *ClientHello) { c.Extensions = append(c.Extensions, extServerName) }, "t12d010200"},
		{"alpn h2", func(c *ClientHello) { c.ALPN = []string{"h2", "http/1.1"} }, "t12i0101h2"},
		{"alpn http/1.1", func(c *ClientHello) { c.ALPN = []string{"http/1.1"} }, "t12i0101h1"},
		{"alpn one char", func(c *ClientHello) { c.ALPN = []string{"x"} }, "t12i0101xx"},
		{"alpn empty first", func(c *ClientHello) { c.ALPN = []string{"", "h2"} }, "t12i010100"},
		{"alpn non-alnum 0xab", func(c *ClientHello) { c.ALPN = []string{"\xab"} }, "t12i0101ab"},
		{"alpn non-alnum 0xab 0xcd", func(c *ClientHello) { c.ALPN = []string{"\xab\xcd"} }, "t12i0101ad"},
		{"alpn 0x30 0xab", func(c *ClientHello) { c.ALPN = []string{"0\xab"} }, "t12i01013b"},
		{"alpn 0x30 0xab 0xcd 0x31", func(c *ClientHello) { c.ALPN = []string{"0\xab\xcd1"} }, "t12i010101"},
		{"counts cap at 99", func(c *ClientHello) {
			c.CipherSuites = make([]uint16, 150)
			for i := range c.CipherSuites {
				c.CipherSuites[i] = uint16(0x0100 + i)
			}
		}, "t12i990100"},
		{"GREASE not counted", func(c *ClientHello) {
			c.CipherSuites = append(c.CipherSuites, 0x0a0a, 0xfafa)
			c.Extensions = append(c.Extensions, 0x1a1a)
		}, "t12i010100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.modify(c)
			got := c.JA4()
			if got[:10] != tt.wantA {
				t.Errorf("JA4 = %s, want prefix %s", got, tt.wantA)
			}
		})
	}
	// Empty lists hash to zeros; no signature algorithms means no '_' part.
	c := &ClientHello{Version: 0x0303, Extensions: []uint16{extServerName, extALPN}}
	if got := c.JA4(); got != "t12d000200_000000000000_000000000000" {
		t.Errorf("empty JA4 = %s", got)
	}
	c = &ClientHello{Version: 0x0303, CipherSuites: []uint16{0x1301}, Extensions: []uint16{0x0017, 0x000d}, SignatureAlgorithms: []uint16{0x0a0a}}
	if got := c.JA4Raw(); got != "t12i010200_1301_000d,0017" {
		t.Errorf("JA4Raw with only GREASE sigalgs = %s", got)
	}
}

// GREASE values, wherever a client puts them, change neither JA3 nor JA4.
func TestGREASEInvariance(t *testing.T) {
	for name, s := range map[string]helloSpec{"foxio": foxioExample(), "fields": {
		version: 0x0303, ciphers: []uint16{0x1301, 0x1302},
		exts: []ext{sniExt("a.example"), groupsExt(29, 23), sigalgsExt(0x0403), versionsExt(0x0304)},
	}} {
		plain, err := ParseClientHello(s.wire())
		if err != nil {
			t.Fatal(err)
		}
		greased, err := ParseClientHello(s.withGREASE().wire())
		if err != nil {
			t.Fatal(err)
		}
		if len(greased.CipherSuites) == len(plain.CipherSuites) {
			t.Fatal("withGREASE added nothing")
		}
		if plain.JA3() != greased.JA3() || plain.JA4() != greased.JA4() || plain.JA4Raw() != greased.JA4Raw() {
			t.Errorf("%s: GREASE changed the fingerprint:\n%s %s\n%s %s", name, plain.JA3(), plain.JA4(), greased.JA3(), greased.JA4())
		}
	}
}

func TestIsGREASE(t *testing.T) {
	n := 0
	for v := range 0x10000 {
		if IsGREASE(uint16(v)) {
			n++
			if v&0xff != v>>8 || v&0x0f != 0x0a {
				t.Errorf("IsGREASE(%#04x)", v)
			}
		}
	}
	if n != 16 {
		t.Errorf("%d GREASE values, want 16", n)
	}
}

// Every proper prefix of a hello, in one record or many, needs more bytes;
// the whole parses to the same fingerprint.
func TestParseClientHelloPrefixes(t *testing.T) {
	msg := foxioExample().message()
	want, err := ParseClientHello(records(msg, maxRecordLen))
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{maxRecordLen, 100, 37} {
		wire := records(msg, size)
		for n := range len(wire) {
			if _, err := ParseClientHello(wire[:n]); !errors.Is(err, ErrNeedMore) {
				t.Fatalf("records of %d, prefix %d/%d: error %v, want ErrNeedMore", size, n, len(wire), err)
			}
		}
		ch, err := ParseClientHello(wire)
		if err != nil {
			t.Fatalf("records of %d: %v", size, err)
		}
		if ch.JA4() != want.JA4() || ch.JA3() != want.JA3() || ch.ServerName != want.ServerName {
			t.Errorf("records of %d: fingerprint differs", size)
		}
		// Bytes after the hello (the client's next flight) are ignored.
		if _, err := ParseClientHello(append(wire, 0x14, 3, 3, 0, 1, 1)); err != nil {
			t.Errorf("records of %d with trailing bytes: %v", size, err)
		}
	}
}

func TestParseClientHelloErrors(t *testing.T) {
	good := foxioExample()
	msg := good.message()
	withMsgLen := func(n int) []byte {
		m := slices.Clone(msg)
		m[1], m[2], m[3] = byte(n>>16), byte(n>>8), byte(n)
		return records(m, maxRecordLen)
	}
	withExts := func(exts ...ext) []byte {
		s := good
		s.exts = exts
		return s.wire()
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrNeedMore},
		{"one byte", []byte{0x16}, ErrNeedMore},
		{"record header part", []byte{0x16, 3, 1, 0}, ErrNeedMore},
		{"handshake type only", []byte{0x16, 3, 1, 0, 200, 1}, ErrNeedMore},
		{"HTTP", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ErrNotClientHello},
		{"CONNECT", []byte("CONNECT pay.example:443 HTTP/1.1\r\n"), ErrNotClientHello},
		{"SSLv2 hello", []byte{0x80, 0x2e, 0x01, 0x03, 0x01}, ErrNotClientHello},
		{"record major 2", []byte{0x16, 2, 0}, ErrNotClientHello},
		{"alert record", []byte{0x15, 3, 3, 0, 2, 2, 40}, ErrNotClientHello},
		{"server hello", []byte{0x16, 3, 3, 0, 40, 2, 0, 0, 36}, ErrNotClientHello},
		{"record length 0", []byte{0x16, 3, 1, 0, 0}, ErrMalformedClientHello},
		{"record too long", []byte{0x16, 3, 1, 0x40, 0x01, 1}, ErrMalformedClientHello},
		{"message too large", withMsgLen(MaxClientHelloSize + 1), ErrTooLarge},
		{"message too short", withMsgLen(10), ErrMalformedClientHello},
		{"too many records", records(msg, 8), ErrTooLarge},
		{"alert between records", append(records(msg[:50], 50), 0x15, 3, 3, 0, 2, 2, 40), ErrMalformedClientHello},
		{"major changes mid-hello", append(records(msg[:50], 50), 0x16, 2, 3, 0, 2, 2, 40), ErrMalformedClientHello},
		{"message shorter than its fields", withMsgLen(50), ErrMalformedClientHello},
		{"odd cipher list", rawHello(helloPrefix(), vec16([]byte{1, 2, 3}), vec8([]byte{0})), ErrMalformedClientHello},
		{"no extensions block", rawHello(helloPrefix(), vec16(u16s(0x1301)), vec8([]byte{0})), nil},
		{"extensions longer than message", rawHello(helloPrefix(), vec16(u16s(0x1301)), vec8([]byte{0}), be16(10), u16s(0x17, 0)), ErrMalformedClientHello},
		{"bytes after extensions", rawHello(helloPrefix(), vec16(u16s(0x1301)), vec8([]byte{0}), vec16(u16s(0x17, 0)), []byte{0}), ErrMalformedClientHello},
		{"truncated extension", rawHello(helloPrefix(), vec16(u16s(0x1301)), vec8([]byte{0}), vec16(append(u16s(0x17, 5), 1, 2))), ErrMalformedClientHello},
		{"extension header cut", rawHello(helloPrefix(), vec16(u16s(0x1301)), vec8([]byte{0}), vec16([]byte{0, 0x17, 0})), ErrMalformedClientHello},
		{"no cipher suites", (helloSpec{version: 0x0303, noExts: true}).wire(), ErrMalformedClientHello},
		{"no compression", (helloSpec{version: 0x0303, ciphers: []uint16{1}, comp: []byte{}, noExts: true}).wire(), ErrMalformedClientHello},
		{"session id too long", (helloSpec{version: 0x0303, ciphers: []uint16{1}, session: make([]byte, 33), noExts: true}).wire(), ErrMalformedClientHello},
		{"sni not ascii", withExts(sniExt("pay\xffexample")), ErrMalformedClientHello},
		{"sni with space", withExts(sniExt("pay example")), ErrMalformedClientHello},
		{"sni empty name", withExts(sniExt("")), ErrMalformedClientHello},
		{"sni bad list", withExts(ext{extServerName, []byte{0, 5, 0}}), ErrMalformedClientHello},
		{"alpn bad list", withExts(ext{extALPN, []byte{0, 3, 5, 'h', '2'}}), ErrMalformedClientHello},
		{"groups odd", withExts(ext{extSupportedGroups, vec16([]byte{1, 2, 3})}), ErrMalformedClientHello},
		{"sigalgs trailing", withExts(ext{extSignatureAlgs, append(vec16(u16s(0x0403)), 0)}), ErrMalformedClientHello},
		{"versions bad", withExts(ext{extSupportedVersions, []byte{3, 3, 4}}), ErrMalformedClientHello},
		{"points bad", withExts(ext{extECPointFormats, []byte{2, 0}}), ErrMalformedClientHello},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := ParseClientHello(tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
			if err != nil && ch != nil {
				t.Error("non-nil ClientHello with an error")
			}
		})
	}
}

// helloPrefix is legacy_version, random and an empty session id.
func helloPrefix() []byte {
	return append([]byte{3, 3}, make([]byte, 33)...)
}

// rawHello frames the concatenated parts as a ClientHello in one record.
func rawHello(parts ...[]byte) []byte {
	body := slices.Concat(parts...)
	msg := append([]byte{handshakeClientHello, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	return records(msg, maxRecordLen)
}
