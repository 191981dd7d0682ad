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

// hashString is a wyhash-style hash of s.
func hashString(s string) uint64 {
	h := uint64(len(s)) ^ hashK0
	for len(s) >= 8 {
		v := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = mix(h^v, hashK1)
		s = s[8:]
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		v |= uint64(s[i]) << (8 * i)
	}
	return mix(h^v^hashK2, hashK1^uint64(len(s)))
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
