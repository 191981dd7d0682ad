//go:build !amd64 && !arm64

package window

import "unsafe"

// prefetch, prefetch4 and prefetchDev do nothing on this architecture: AddBatch is
// then Add in a loop.
func prefetch(unsafe.Pointer)    {}
func prefetch4(unsafe.Pointer)   {}
func prefetchDev(unsafe.Pointer) {}
