package fingerprint

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the seed corpora under testdata/fuzz")

// canonicalErrors are the errors Canonical documents.
var canonicalErrors = []error{ErrTooLarge, ErrTooDeep, ErrInvalidJSON, ErrDuplicateKey, ErrNumberRange, ErrInvalidForm}

func isOneOf(err error, errs []error) bool {
	for _, e := range errs {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func FuzzCanonical(f *testing.F) {
	for _, s := range canonicalSeeds() {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		canon, kind, err := Canonical(ct, body)
		if len(body) > MaxBodySize {
			if !errors.Is(err, ErrTooLarge) || canon != nil {
				t.Fatalf("oversize body: %v", err)
			}
			return
		}
		if err != nil {
			if !isOneOf(err, canonicalErrors) {
				t.Fatalf("undocumented error %v", err)
			}
			if kind != Raw || !bytes.Equal(canon, body) {
				t.Fatalf("on error want the raw body, got %v %q", kind, canon)
			}
			if isJSONType(mediaType(ct)) && json.Valid(body) && errors.Is(err, ErrInvalidJSON) && utf8.Valid(body) && !bytes.Contains(body, []byte(`\u`)) {
				t.Fatalf("encoding/json accepts what Canonical calls invalid: %v", err)
			}
			return
		}
		switch kind {
		case JSON:
			if !json.Valid(canon) {
				t.Fatalf("output is not valid JSON: %q", canon)
			}
			if !json.Valid(body) {
				t.Fatalf("accepted invalid JSON %q", body)
			}
			sameJSON(t, body, canon)
		case Form:
			if _, err := url.ParseQuery(string(canon)); err != nil {
				t.Fatalf("form output %q does not parse: %v", canon, err)
			}
		case Raw:
			if !bytes.Equal(canon, body) {
				t.Fatalf("raw output differs from the body")
			}
		default:
			t.Fatalf("kind %v", kind)
		}
		again, kind2, err := Canonical(ct, canon)
		if err != nil || kind2 != kind || !bytes.Equal(again, canon) {
			t.Fatalf("not idempotent:\n%q\n%q (%v, %v)", canon, again, kind2, err)
		}
		appended, kind3, err := AppendCanonical([]byte("x"), ct, body, 0)
		if err != nil || kind3 != kind || !bytes.Equal(appended[1:], canon) || appended[0] != 'x' {
			t.Fatalf("AppendCanonical differs from Canonical")
		}
		_ = Fields(canon, kind)
	})
}

// sameJSON checks that canon means what body means, decoding both with
// encoding/json and comparing numbers exactly.
func sameJSON(t *testing.T, body, canon []byte) {
	t.Helper()
	decode := func(b []byte) any {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("encoding/json cannot decode %q: %v", b, err)
		}
		return v
	}
	if diff := jsonDiff(decode(body), decode(canon)); diff != "" {
		t.Fatalf("canonical form changes the value (%s):\n%q\n%q", diff, body, canon)
	}
}

func jsonDiff(a, b any) string {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return "object"
		}
		for k, v := range a {
			if d := jsonDiff(v, bm[k]); d != "" {
				return k + "." + d
			}
		}
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return "array"
		}
		for i := range a {
			if d := jsonDiff(a[i], bs[i]); d != "" {
				return fmt.Sprint(i, ".", d)
			}
		}
	case json.Number:
		bn, ok := b.(json.Number)
		if !ok {
			return "number type"
		}
		if !sameNumber(string(a), string(bn)) {
			return fmt.Sprintf("number %s vs %s", a, bn)
		}
	default:
		if a != b {
			return fmt.Sprintf("%v vs %v", a, b)
		}
	}
	return ""
}

// sameNumber compares two JSON numbers exactly when that is cheap (small
// exponents); huge exponents are compared by their digits instead.
func sameNumber(a, b string) bool {
	small := func(s string) bool {
		i := strings.IndexAny(s, "eE")
		return i < 0 || len(s)-i < 6
	}
	if small(a) && small(b) {
		ra, ok1 := new(big.Rat).SetString(a)
		rb, ok2 := new(big.Rat).SetString(b)
		return ok1 && ok2 && ra.Cmp(rb) == 0
	}
	na, _ := scanNumberString(a)
	nb, _ := scanNumberString(b)
	return na == nb
}

func scanNumberString(s string) (string, error) {
	p, _, err := scanJSONNumber([]byte(s), 0)
	if err != nil {
		return "", err
	}
	n, _ := p.normalize(nil)
	return string(appendNumber(nil, n)), nil
}

var helloErrors = []error{ErrNeedMore, ErrNotClientHello, ErrMalformedClientHello, ErrTooLarge}

func FuzzParseClientHello(f *testing.F) {
	for _, s := range helloSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := ParseClientHello(b)
		if err != nil {
			if ch != nil {
				t.Fatal("ClientHello with an error")
			}
			if !isOneOf(err, helloErrors) {
				t.Fatalf("undocumented error %v", err)
			}
			if errors.Is(err, ErrNeedMore) && len(b) >= MaxClientHelloRead {
				t.Fatalf("ErrNeedMore after %d bytes", len(b))
			}
			return
		}
		ja3, ja4, raw := ch.JA3(), ch.JA4(), ch.JA4Raw()
		if len(ja3) != 32 || !ja4Shape.MatchString(ja4) || !strings.HasPrefix(raw, ja4[:10]) {
			t.Fatalf("bad fingerprints %q %q %q", ja3, ja4, raw)
		}
		for _, c := range []byte(ch.ServerName) {
			if c <= 0x20 || c >= 0x7f {
				t.Fatalf("ServerName %q not printable ASCII", ch.ServerName)
			}
		}
		again, err := ParseClientHello(b)
		if err != nil || again.JA4() != ja4 || again.JA3() != ja3 {
			t.Fatal("not deterministic")
		}
		// The parsed lists re-encode to a hello with the same fingerprints.
		s := helloSpec{version: ch.Version, ciphers: ch.CipherSuites}
		for _, typ := range ch.Extensions {
			s.exts = append(s.exts, ext{typ: typ})
		}
		rebuilt, err := ParseClientHello(s.wire())
		if err == nil {
			rebuilt.SupportedVersions, rebuilt.SignatureAlgorithms, rebuilt.ALPN = ch.SupportedVersions, ch.SignatureAlgorithms, ch.ALPN
			rebuilt.SupportedGroups, rebuilt.ECPointFormats = ch.SupportedGroups, ch.ECPointFormats
			if rebuilt.JA4() != ja4 || rebuilt.JA3() != ja3 {
				t.Fatalf("re-encoded hello fingerprints differently: %s vs %s", rebuilt.JA4(), ja4)
			}
		}
	})
}

func FuzzFields(f *testing.F) {
	for _, s := range fieldsSeeds() {
		f.Add(s.kind, []byte(s.body))
	}
	k, err := NewKeyer(bytes.Repeat([]byte{1}, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		fs := Fields(body, Kind(kind))
		for _, v := range []string{fs.Amount, fs.Currency, fs.Merchant, fs.Terminal} {
			if len(v) > maxFieldLen {
				t.Fatalf("field of %d bytes", len(v))
			}
		}
		if fs.Amount != "" {
			if norm, err := scanNumberString(fs.Amount); err != nil || norm != fs.Amount {
				t.Fatalf("amount %q is not a canonical number (%q, %v)", fs.Amount, norm, err)
			}
		}
		if strings.ContainsAny(fs.Currency, "abcdefghijklmnopqrstuvwxyz") {
			t.Fatalf("currency %q not upper-cased", fs.Currency)
		}
		if Fields(body, Kind(kind)) != fs {
			t.Fatal("not deterministic")
		}
		_ = k.Loose("h", "/p", fs)
		// Canonicalizing changes nothing Fields can see, for bodies whose
		// objects are already in canonical order.
		canon, ck, err := Canonical("application/json", body)
		if err == nil && ck == JSON {
			again, _, _ := Canonical("application/json", canon)
			if Fields(canon, JSON) != Fields(again, JSON) {
				t.Fatal("Fields differs on re-canonicalized body")
			}
		}
	})
}

type ctBody struct{ ct, body string }

func canonicalSeeds() []ctBody {
	j, f := "application/json", "application/x-www-form-urlencoded"
	return []ctBody{
		{j, paymentJSON},
		{j, `{"b":1,"a":[1,2,{"d":null,"c":true}],"\u00e9":"\ud83d\ude00"}`},
		{j, `[10.50, 1.05e1, 105E-1, -0, 0.0000001, 1e21, 1e22, 123456789012345678901234567890]`},
		{j, "{\"\uff61\":1,\"\U0001F600\":2,\"z\":3}"},
		{j, `{"a":1,"a":2}`},
		{j, strings.Repeat("[", 70) + strings.Repeat("]", 70)},
		{j, `"\u0000\b\f\n\r\t\"\\\/"`},
		{j, `{"amount":{"currency":"EUR","value":1000},"merchantAccount":"Acme"}`},
		{j, `[1e999999999, 1e-999999999]`},
		{j, "[\"\xff\"]"},
		{"text/plain", `{"sniffed": true}`},
		{"", ` [ "sniffed" ] `},
		{f, `b=2&a=1&a=0&payment%5Bamount%5D=12.50&x=a+b%2Fc`},
		{f, `{"json":"in a form"}`},
		{f, `a=%zz`},
		{"text/plain", "raw \x00 bytes"},
		{"application/vnd.api+json; charset=utf-8", `{"data":{"type":"payments","attributes":{"amount":"12.50"}}}`},
	}
}

type kindBody struct {
	kind uint8
	body string
}

func fieldsSeeds() []kindBody {
	return []kindBody{
		{uint8(JSON), paymentJSON},
		{uint8(JSON), `{"payment":{"amount":1250,"currency":"usd"},"merchantId":"X1","tid":88}`},
		{uint8(JSON), `{"amount":{"currency":"EUR","value":1000},"merchantAccount":"Acme"}`},
		{uint8(JSON), `{"AMOUNT":" 012.500 ","MID":12,"a":{"b":{"amount":1}},"items":[{"amount":2}]}`},
		{uint8(JSON), `{"amount":1,"currency":"EUR","merchant":"M`},
		{uint8(JSON), `{"amount":1e900,"total":"1e-7","value":"abc"}`},
		{uint8(Form), `amount=12.50&currency=eur&payment%5Bmerchant_id%5D=M1&order.tid=T9`},
		{uint8(Form), `payment[amount]=3&merchant=%zz&mid=Acme+Ltd`},
		{uint8(Raw), `amount=1`},
	}
}

// helloSeeds are real and synthetic ClientHellos: the published vectors,
// Go's and curl's hellos captured on this machine when the seeds were
// written, split-record and truncated variants, and non-TLS input.
func helloSeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{
		foxioExample().wire(),
		chrome143().wire(),
		records(foxioExample().message(), 50),
		foxioExample().wire()[:60],
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		{0x16, 3, 1, 0, 0},
	}
	if b, err := os.ReadFile("testdata/clienthello/go.bin"); err == nil {
		seeds = append(seeds, b)
	}
	if b, err := os.ReadFile("testdata/clienthello/curl.bin"); err == nil {
		seeds = append(seeds, b)
	}
	return seeds
}

// TestWriteSeedCorpus rewrites testdata/fuzz from the seed lists (and
// recaptures Go's and curl's hellos) when run with -update-seeds.
func TestWriteSeedCorpus(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz")
	}
	if err := os.WriteFile("testdata/clienthello/go.bin", goHello(t, "pay.example", "h2", "http/1.1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("curl"); err == nil {
		b := captureHello(t, func(addr string) { _ = runCurl(addr) })
		if err := os.WriteFile("testdata/clienthello/curl.bin", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write := func(target string, i int, lines ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		text := "go test fuzz v1\n" + strings.Join(lines, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range canonicalSeeds() {
		write("FuzzCanonical", i, fmt.Sprintf("string(%q)", s.ct), fmt.Sprintf("[]byte(%q)", s.body))
	}
	for i, s := range fieldsSeeds() {
		write("FuzzFields", i, fmt.Sprintf("byte(%q)", s.kind), fmt.Sprintf("[]byte(%q)", s.body))
	}
	for i, b := range helloSeeds(t) {
		write("FuzzParseClientHello", i, fmt.Sprintf("[]byte(%q)", b))
	}
}
