//go:build amd64 || arm64

package window

import "unsafe"

// prefetch asks the memory system for the cache line holding p (a hint:
// it never faults, whatever p is, and nothing waits for it).
//
//go:noescape
func prefetch(p unsafe.Pointer)

// prefetch4 asks for the lines of the 192 bytes from p, which must be
// 8-aligned (it asks for the lines of p, p+64, p+128 and p+184, and the
// word at p+184 holds p+191): a payload struct of the catalogue is at most
// that long (TestPrefetchSpan).
//
//go:noescape
func prefetch4(p unsafe.Pointer)

// prefetchDev asks for the five lines of a devState (320 bytes, allocated
// on a 64-byte boundary: its size class; TestPrefetchSpan).
//
//go:noescape
func prefetchDev(p unsafe.Pointer)
