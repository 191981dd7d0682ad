package strhash

import (
	"math/rand/v2"
	"testing"
)

// ref is String byte by byte.
func ref(seed uint64, s string) uint64 {
	h := uint64(len(s)) ^ seed
	for len(s) >= 8 {
		var v uint64
		for i := range 8 {
			v |= uint64(s[i]) << (8 * i)
		}
		h = Mix(h^v, K1)
		s = s[8:]
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		v |= uint64(s[i]) << (8 * i)
	}
	return Mix(h^v^K2, K1^uint64(len(s)))
}

// TestStringMatchesBytewise: every tail length after every number of
// 8-byte blocks, random bytes and all-0xff bytes (a shift too far would
// spill bits), two seeds.
func TestStringMatchesBytewise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, seed := range []uint64{K0, rng.Uint64()} {
		for n := range 70 {
			for round := range 10 {
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(rng.Uint32())
					if round == 0 {
						b[i] = 0xff
					}
				}
				if got, want := String(seed, string(b)), ref(seed, string(b)); got != want {
					t.Fatalf("seed %#x, %q: %#x, want %#x", seed, b, got, want)
				}
			}
		}
	}
	if String(1, "pos-0001") == String(2, "pos-0001") {
		t.Error("the seed changes nothing")
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "a", "abc", "abcd", "pay.example.com", "t13d1516h2_8daaf6152771_b186095e22b6"} {
		f.Add(uint64(K0), s)
	}
	f.Fuzz(func(t *testing.T, seed uint64, s string) {
		if got, want := String(seed, s), ref(seed, s); got != want {
			t.Fatalf("%q: %#x, want %#x", s, got, want)
		}
	})
}
