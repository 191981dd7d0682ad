package features

import (
	"unsafe"

	"github.com/halo-sec/halo/internal/strhash"
)

// Hashes are 64-bit and fixed (no per-process seed), so State judges the same
// way in every run. Two distinct values colliding would make one look seen;
// with at most a few hundred thousand values per set the chance is below
// 1e-8 per window.

// hashString is strhash.String with the fixed seed strhash.K0. The
// hashes order the values a full State set evicts on ties, so they must
// not change: see TestHashStringValues.
func hashString(s string) uint64 { return strhash.String(strhash.K0, s) }

// hashBytes hashes b like hashString(string(b)).
func hashBytes(b []byte) uint64 {
	return hashString(unsafe.String(unsafe.SliceData(b), len(b)))
}

// hashPair combines a value's hash with a number (a destination's port).
func hashPair(h uint64, n uint64) uint64 { return strhash.Mix(h^strhash.K2, n^strhash.K0) }

// set is a small open-addressing set of hashes, reused from device to device
// of a window: reset sizes it for the rows at hand, so one device costs no
// allocation once the scratch has grown.
type set struct {
	slots []uint64 // 0 = empty
	mask  uint64
	n     int
	// vals are the values added, in the order they came: novelty walks
	// them, not slots, which are at least twice as many (16 for one value).
	vals []uint64
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
	s.vals = s.vals[:0]
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
			s.vals = append(s.vals, h)
			return true
		case h:
			return false
		}
		i = (i + 1) & s.mask
	}
}
