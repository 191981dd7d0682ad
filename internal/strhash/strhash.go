// Package strhash is the string hash of Halo's own open-addressing
// tables (the window assembler's device table, the features' novelty
// sets): wyhash-style, each 8 bytes mixed in with one 64-bit
// multiplication, then the last 0 to 7 in at most three loads. For ids
// and host names of a dozen bytes it is a few nanoseconds and inlines,
// where hash/maphash is two calls and AES rounds.
package strhash

import "math/bits"

// The wyhash constants.
const (
	K0 = 0xa0761d6478bd642f
	K1 = 0xe7037ed1a0b428db
	K2 = 0x8ebc6af09c88c6e3
)

// String hashes s with seed. The same seed gives the same value in every
// run and on every machine (package features pins its values).
func String(seed uint64, s string) uint64 {
	h := uint64(len(s)) ^ seed
	for len(s) >= 8 {
		h = Mix(h^LE64(s), K1)
		s = s[8:]
	}
	// The last 0 to 7 bytes as a little-endian number, s[i] in byte i,
	// in at most three reads instead of a loop over the bytes: from 4
	// bytes on, the first and the last four (overlapping: the bytes in
	// both land on the same places, so or-ing them twice changes
	// nothing); below, the first, middle and last byte, which cover 1 to
	// 3 bytes the same way.
	var t uint64
	switch n := len(s); {
	case n >= 4:
		t = LE32(s) | LE32(s[n-4:])<<(8*(n-4))
	case n > 0:
		t = uint64(s[0]) | uint64(s[n/2])<<(8*(n/2)) | uint64(s[n-1])<<(8*(n-1))
	}
	return Mix(h^t^K2, K1^uint64(len(s)))
}

// Mix folds the 128-bit product of a and b into 64 bits.
func Mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// LE64 reads the first 8 bytes of s, little-endian (one load: the
// compiler merges the byte reads).
func LE64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// LE32 reads the first 4 bytes of s, little-endian.
func LE32(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}
