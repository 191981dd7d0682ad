//go:build amd64 || arm64

package window

import "unsafe"

// prefetch asks the memory system for the cache line holding p (a hint:
// it never faults, whatever p is, and nothing waits for it).
//
//go:noescape
func prefetch(p unsafe.Pointer)

// prefetch4 asks for the lines of the 192 bytes from p (a payload struct
// of the catalogue is at most that: see TestPrefetchSpan).
//
//go:noescape
func prefetch4(p unsafe.Pointer)
