package features

import (
	"math/bits"
	"unsafe"
)

// Hashes are 64-bit and fixed (no per-process seed), so State judges the same
// way in every run. Two distinct values colliding would make one look seen;
// with at most a few hundred thousand values per set the chance is below
// 1e-8 per window.

const (
	hashK0 = 0xa0761d6478bd642f
	hashK1 = 0xe7037ed1a0b428db
	hashK2 = 0x8ebc6af09c88c6e3
)

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hashString is a wyhash-style hash of s: each 8 bytes, little-endian,
// mixed in, then the last 0 to 7 zero-extended. The hashes order the
// values a full State set evicts on ties, so they must not change: see
// TestHashStringValues.
func hashString(s string) uint64 {
	h := uint64(len(s)) ^ hashK0
	for len(s) >= 8 {
		h = mix(h^le64(s), hashK1)
		s = s[8:]
	}
	return mix(h^tail(s)^hashK2, hashK1^uint64(len(s)))
}

// le64 reads the first 8 bytes of s little-endian (one load: the compiler
// merges the byte reads).
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}

// tail returns s (under 8 bytes) as a little-endian number, s[i] in byte
// i, with at most three reads instead of a loop over the bytes: from 4
// bytes on, the first and the last four (overlapping: the bytes in both
// land on the same places, so or-ing them twice changes nothing); below,
// the first, middle and last byte, which cover 1 to 3 bytes the same way.
func tail(s string) uint64 {
	switch n := len(s); {
	case n >= 4:
		return le32(s) | le32(s[n-4:])<<(8*(n-4))
	case n > 0:
		return uint64(s[0]) | uint64(s[n/2])<<(8*(n/2)) | uint64(s[n-1])<<(8*(n-1))
	}
	return 0
}

// hashBytes hashes b like hashString(string(b)).
func hashBytes(b []byte) uint64 {
	return hashString(unsafe.String(unsafe.SliceData(b), len(b)))
}

// hashPair combines a value's hash with a number (a destination's port).
func hashPair(h uint64, n uint64) uint64 { return mix(h^hashK2, n^hashK0) }

// set is a small open-addressing set of hashes, reused from device to device
// of a window: reset sizes it for the rows at hand, so one device costs no
// allocation once the scratch has grown.
type set struct {
	slots []uint64 // 0 = empty
	mask  uint64
	n     int
}

// reset empties s for at most n values (load factor at most 1/2).
func (s *set) reset(n int) {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	if cap(s.slots) < size {
		s.slots = make([]uint64, size)
	} else {
		s.slots = s.slots[:size]
		clear(s.slots)
	}
	s.mask = uint64(size - 1)
	s.n = 0
}

// add inserts h and reports whether it was new.
func (s *set) add(h uint64) bool {
	if h == 0 {
		h = 1
	}
	i := h & s.mask
	for {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			s.n++
			return true
		case h:
			return false
		}
		i = (i + 1) & s.mask
	}
}
