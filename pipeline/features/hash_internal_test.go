package features

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/halo-sec/halo/internal/strhash"
)

// refHashString is hashString as first written, byte by byte: the values
// must stay the same (State's evictions order ties by them).
func refHashString(s string) uint64 {
	h := uint64(len(s)) ^ strhash.K0
	for len(s) >= 8 {
		v := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = strhash.Mix(h^v, strhash.K1)
		s = s[8:]
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		v |= uint64(s[i]) << (8 * i)
	}
	return strhash.Mix(h^v^strhash.K2, strhash.K1^uint64(len(s)))
}

// TestHashStringValues: hashString gives the byte-by-byte values on
// strings of every length up to 100 (every tail length after every number
// of 8-byte blocks), random bytes and all-0xff bytes (a shift too far
// would spill bits), and a few fixed values pin the function itself.
func TestHashStringValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 101 {
		for round := range 20 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
				if round == 0 {
					b[i] = 0xff
				}
			}
			s := string(b)
			if got, want := hashString(s), refHashString(s); got != want {
				t.Fatalf("%q: %#x, want %#x", s, got, want)
			}
			if got, want := hashBytes(b), refHashString(s); got != want {
				t.Fatalf("bytes %q: %#x, want %#x", s, got, want)
			}
		}
	}
	// The values of main's hashString before the change (pinned).
	for s, want := range map[string]uint64{
		"":                                     0x55ba897d2af3577c,
		"pay.example.com":                      0x104c449cde0fdc4a,
		"203.0.113.10":                         0xc3796d11a93c29,
		"t13d1516h2_8daaf6152771_b186095e22b6": 0xb3b53b4b7e242579,
	} {
		if got := hashString(s); got != want {
			t.Errorf("%q: %#x, want %#x", s, got, want)
		}
	}
	if hashString(strings.Repeat("a", 9)) == hashString(strings.Repeat("a", 10)) {
		t.Error("lengths collide")
	}
}

func FuzzHashString(f *testing.F) {
	for _, s := range []string{"", "a", "abc", "abcd", "abcdefg", "abcdefgh", "t13d1516h2_8daaf6152771_b186095e22b6"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := hashString(s), refHashString(s); got != want {
			t.Fatalf("%q: %#x, want %#x", s, got, want)
		}
	})
}
