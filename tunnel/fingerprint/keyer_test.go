package fingerprint

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func testKeyer(t testing.TB, seed byte) *Keyer {
	t.Helper()
	secret := bytes.Repeat([]byte{seed}, KeySize)
	k, err := NewKeyer(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewKeyerSize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewKeyer(make([]byte, n)); !errors.Is(err, ErrKeySize) {
			t.Errorf("NewKeyer(%d bytes) error = %v, want ErrKeySize", n, err)
		}
	}
	secret := bytes.Repeat([]byte{7}, KeySize)
	k, err := NewKeyer(secret)
	if err != nil {
		t.Fatal(err)
	}
	before := k.Strict("GET", "h", "/", nil)
	secret[0] = 8 // the Keyer holds its own copy
	if k.Strict("GET", "h", "/", nil) != before {
		t.Error("changing the caller's secret changed the Keyer")
	}
}

func TestZeroKeyerPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("zero Keyer did not panic")
		}
	}()
	var k Keyer
	k.Strict("GET", "h", "/", nil)
}

// manualHMAC recomputes a fingerprint from the documented encoding.
func manualHMAC(secret []byte, tag string, parts ...[]byte) [16]byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tag))
	for _, p := range parts {
		var l [8]byte
		binary.BigEndian.PutUint64(l[:], uint64(len(p)))
		m.Write(l[:])
		m.Write(p)
	}
	var out [16]byte
	copy(out[:], m.Sum(nil))
	return out
}

func TestStrictEncoding(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, KeySize)
	k, _ := NewKeyer(secret)
	body := []byte(`{"a":1}`)
	got := k.Strict("post", "Pay.Example:80", "/v1/charge?x=1", body)
	want := manualHMAC(secret, "halo/tx/strict/v1", []byte("POST"), []byte("pay.example"), []byte("/v1/charge?x=1"), body)
	if got != want {
		t.Errorf("Strict = %x, want %x", got, want)
	}
	// Pinned: a change here changes every stored fingerprint (and breaks
	// replay detection across an upgrade); bump the tag instead.
	if h := hex.EncodeToString(got[:]); h != "1d52569c8469c4856dfbee48fa631181" {
		t.Errorf("pinned strict fingerprint changed: %s", h)
	}

	got = k.StrictOversize("POST", "pay.example", "/v1/charge")
	want = manualHMAC(secret, "halo/tx/strict-oversize/v1", []byte("POST"), []byte("pay.example"), []byte("/v1/charge"))
	if got != want {
		t.Errorf("StrictOversize = %x, want %x", got, want)
	}

	got = k.Loose("PAY.example", "/v1/charge?nonce=1#frag", LooseFields{Amount: "12.5", Merchant: "M-1"})
	// Optional fields: a presence byte, then the length-prefixed value.
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("halo/tx/loose/v1"))
	m.Write(lp("pay.example"))
	m.Write(lp("/v1/charge"))
	m.Write(append([]byte{1}, lp("12.5")...))
	m.Write([]byte{0})
	m.Write(append([]byte{1}, lp("M-1")...))
	m.Write([]byte{0})
	if !bytes.Equal(got[:], m.Sum(nil)[:16]) {
		t.Errorf("Loose = %x, want %x", got, m.Sum(nil)[:16])
	}
}

func lp(s string) []byte {
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(len(s)))
	return append(l[:], s...)
}

func TestStrictProperties(t *testing.T) {
	k := testKeyer(t, 1)
	body := []byte(`{"amount":"12.5"}`)
	base := k.Strict("POST", "pay.example", "/v1/charge", body)
	same := []struct {
		name               string
		method, host, path string
	}{
		{"method case", "post", "pay.example", "/v1/charge"},
		{"host case", "POST", "PAY.Example", "/v1/charge"},
		{"default port 80", "POST", "pay.example:80", "/v1/charge"},
		{"default port 443", "POST", "pay.example:443", "/v1/charge"},
		{"trailing dot", "POST", "pay.example.", "/v1/charge"},
	}
	for _, tt := range same {
		if got := k.Strict(tt.method, tt.host, tt.path, body); got != base {
			t.Errorf("%s: fingerprint differs", tt.name)
		}
	}
	differ := []struct {
		name               string
		method, host, path string
		body               []byte
	}{
		{"method", "PUT", "pay.example", "/v1/charge", body},
		{"host", "POST", "pay.example.org", "/v1/charge", body},
		{"port", "POST", "pay.example:8080", "/v1/charge", body},
		{"path", "POST", "pay.example", "/v1/charge/", body},
		{"path case", "POST", "pay.example", "/V1/charge", body},
		{"query", "POST", "pay.example", "/v1/charge?x=1", body},
		{"body", "POST", "pay.example", "/v1/charge", []byte(`{"amount":"12.6"}`)},
		{"no body", "POST", "pay.example", "/v1/charge", nil},
		{"boundary shift", "POST", "pay.example/v1", "/charge", body},
	}
	for _, tt := range differ {
		if got := k.Strict(tt.method, tt.host, tt.path, tt.body); got == base {
			t.Errorf("%s: fingerprint did not change", tt.name)
		}
	}
	if k.StrictOversize("POST", "pay.example", "/v1/charge") == k.Strict("POST", "pay.example", "/v1/charge", nil) {
		t.Error("oversize fingerprint equals the empty-body one")
	}
	if testKeyer(t, 2).Strict("POST", "pay.example", "/v1/charge", body) == base {
		t.Error("another tenant's secret gives the same fingerprint")
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"pay.example":      "pay.example",
		"pay.example:80":   "pay.example",
		"pay.example:443":  "pay.example",
		"pay.example:8443": "pay.example:8443",
		"pay.example.":     "pay.example",
		"pay.example.:80":  "pay.example",
		"[::1]:80":         "[::1]",
		"[::1]:8080":       "[::1]:8080",
		"10.0.0.1:443":     "10.0.0.1",
		"::80":             "::80",
		"":                 "",
	} {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// A replayed payment with a fresh nonce and timestamp keeps its loose
// fingerprint and changes its strict one; an exact replay keeps both.
func TestReplayWithFreshNonce(t *testing.T) {
	k := testKeyer(t, 3)
	first := `{"merchant":"M-100234","terminal":"T-88","amount":"12.50","currency":"EUR","nonce":"9f1c01","timestamp":"2026-11-27T10:00:00Z"}`
	resent := `{"nonce":"77aa02","timestamp":"2026-11-27T10:00:05Z","amount":"12.5","currency":"eur","terminal":"T-88","merchant":"M-100234"}`
	other := `{"merchant":"M-100234","terminal":"T-88","amount":"12.51","currency":"EUR","nonce":"9f1c01","timestamp":"2026-11-27T10:00:00Z"}`
	fp := func(body string) (strict, loose [16]byte) {
		canon, kind, err := Canonical("application/json", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return k.Strict("POST", "pay.example", "/v1/charge?attempt=1", canon),
			k.Loose("pay.example", "/v1/charge?attempt=1", Fields(canon, kind))
	}
	s1, l1 := fp(first)
	s1again, l1again := fp(first)
	s2, l2 := fp(resent)
	s3, l3 := fp(other)
	if s1 != s1again || l1 != l1again {
		t.Error("exact replay: fingerprints differ")
	}
	if s1 == s2 {
		t.Error("fresh nonce: strict fingerprint unchanged")
	}
	if l1 != l2 {
		t.Error("fresh nonce: loose fingerprint changed")
	}
	if s1 == s3 || l1 == l3 {
		t.Error("different amount: fingerprints unchanged")
	}
	// Loose ignores the query string.
	canon, kind, _ := Canonical("application/json", []byte(first))
	if k.Loose("pay.example", "/v1/charge?attempt=2", Fields(canon, kind)) != l1 {
		t.Error("loose fingerprint depends on the query")
	}
}

// Bodies that name none of the fields share the loose key of host and path.
func TestLooseWithoutFields(t *testing.T) {
	k := testKeyer(t, 4)
	a := Fields([]byte(`{"nonce":"1","card":{"pan":"4111111111111111"}}`), JSON)
	b := Fields([]byte(`{"nonce":"2","card":{"pan":"5500000000000004"}}`), JSON)
	if a != (LooseFields{}) || b != (LooseFields{}) {
		t.Fatalf("fields found: %+v %+v", a, b)
	}
	if k.Loose("h", "/p", a) != k.Loose("h", "/p", b) || k.Loose("h", "/p", a) != k.Loose("h", "/p", LooseFields{}) {
		t.Error("loose keys without fields differ")
	}
	if k.Loose("h", "/p", a) == k.Loose("h", "/q", a) {
		t.Error("loose key ignores the path")
	}
	// Field boundaries are unambiguous.
	if k.Loose("h", "/p", LooseFields{Merchant: "AB"}) == k.Loose("h", "/p", LooseFields{Currency: "AB"}) {
		t.Error("merchant and currency collide")
	}
	if k.Loose("h", "/p", LooseFields{Merchant: "A", Terminal: "B"}) == k.Loose("h", "/p", LooseFields{Merchant: "AB"}) {
		t.Error("merchant/terminal boundary collides")
	}
}

func TestKeyerNeverPrintsSecret(t *testing.T) {
	secret := []byte("0123456789abcdefghijklmnopqrstuv") // 32 recognisable bytes
	k, err := NewKeyer(secret)
	if err != nil {
		t.Fatal(err)
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		outputs = append(outputs, fmt.Sprintf(verb, k))
		outputs = append(outputs, fmt.Sprintf(verb, struct{ K *Keyer }{k}))
		outputs = append(outputs, fmt.Sprintf(verb, []*Keyer{k}))
	}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("keyer", "keyer", k)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("keyer", "keyer", k)
	outputs = append(outputs, logBuf.String())
	forbidden := []string{string(secret), hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)), "48 49 50 51", "[48 49"}
	for _, out := range outputs {
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Errorf("output %q contains the secret (%q)", out, f)
			}
		}
	}
	if got := fmt.Sprint(k); got != "fingerprint.Keyer(redacted)" {
		t.Errorf("Sprint = %q", got)
	}
}

func TestKeyerConcurrent(t *testing.T) {
	k := testKeyer(t, 5)
	bodies := make([][]byte, 64)
	want := make([][16]byte, len(bodies))
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"amount":%d}`, i)
		want[i] = k.Strict("POST", "h", "/p", bodies[i])
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 2000 {
				i := (n + g) % len(bodies)
				if got := k.Strict("POST", "h", "/p", bodies[i]); got != want[i] {
					t.Errorf("concurrent Strict(%d) differs", i)
					return
				}
				f := Fields(bodies[i], JSON)
				_ = k.Loose("h", "/p", f)
			}
		})
	}
	wg.Wait()
}
