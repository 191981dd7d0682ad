package fingerprint

import (
	"os"
	"testing"
)

// BenchmarkTransaction is the per-request work of the edge for a typical
// 200-byte payment: canonicalize the body, extract the loose fields, compute
// the strict and loose fingerprints.
func BenchmarkTransaction(b *testing.B) {
	k := testKeyer(b, 1)
	body := []byte(paymentJSON)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		canon, kind, err := Canonical("application/json", body)
		if err != nil {
			b.Fatal(err)
		}
		_ = k.Strict("POST", "pay.example", "/v1/charge", canon)
		_ = k.Loose("pay.example", "/v1/charge", Fields(canon, kind))
	}
}

// BenchmarkTransactionReuse is BenchmarkTransaction with a reused
// canonical buffer (AppendCanonical), as an edge worker would keep one.
func BenchmarkTransactionReuse(b *testing.B) {
	k := testKeyer(b, 1)
	body := []byte(paymentJSON)
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		canon, kind, err := AppendCanonical(buf[:0], "application/json", body, 0)
		if err != nil {
			b.Fatal(err)
		}
		_ = k.Strict("POST", "pay.example", "/v1/charge", canon)
		_ = k.Loose("pay.example", "/v1/charge", Fields(canon, kind))
	}
}

func BenchmarkCanonicalJSON(b *testing.B) {
	body := []byte(paymentJSON)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Canonical("application/json", body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonicalForm(b *testing.B) {
	body := []byte(`nonce=9f1c2a7e4b&amount=12.50&currency=EUR&merchant=M-100234&terminal=T-88&timestamp=2026-11-27T10%3A00%3A00Z&card%5Bpan%5D=4111111111111111&card%5Bexp%5D=12%2F29`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Canonical("application/x-www-form-urlencoded", body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStrict(b *testing.B) {
	k := testKeyer(b, 1)
	canon, _, _ := Canonical("application/json", []byte(paymentJSON))
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Strict("POST", "pay.example", "/v1/charge", canon)
	}
}

func BenchmarkLoose(b *testing.B) {
	k := testKeyer(b, 1)
	canon, kind, _ := Canonical("application/json", []byte(paymentJSON))
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Loose("pay.example", "/v1/charge", Fields(canon, kind))
	}
}

// BenchmarkClientHelloJA4 parses the FoxIO example hello and computes its
// JA4, the per-CONNECT work of the edge.
func BenchmarkClientHelloJA4(b *testing.B) {
	wire := foxioExample().wire()
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		ch, err := ParseClientHello(wire)
		if err != nil {
			b.Fatal(err)
		}
		_ = ch.JA4()
	}
}

// BenchmarkClientHelloJA4Curl does the same for curl's real hello, captured
// on this machine (testdata/clienthello/curl.bin).
func BenchmarkClientHelloJA4Curl(b *testing.B) {
	wire, err := os.ReadFile("testdata/clienthello/curl.bin")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		ch, err := ParseClientHello(wire)
		if err != nil {
			b.Fatal(err)
		}
		_ = ch.JA4()
	}
}

// The per-request path must stay allocation-free apart from Fields' one
// string.
func TestHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	k := testKeyer(t, 1)
	body := []byte(paymentJSON)
	buf := make([]byte, 0, 1024)
	canon, kind, _ := Canonical("application/json", body)
	fields := Fields(canon, kind)
	for name, f := range map[string]func(){
		"AppendCanonical": func() { _, _, _ = AppendCanonical(buf[:0], "application/json", body, 0) },
		"Strict":          func() { _ = k.Strict("POST", "Pay.Example:80", "/v1/charge", canon) },
		"Loose":           func() { _ = k.Loose("pay.example", "/v1/charge?x=1", fields) },
	} {
		f() // warm the pools
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
}
