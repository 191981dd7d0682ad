//go:build amd64

package models

import "testing"

// withAsmChunk sets asmChunk to chunk (0: as it is) for the test: the
// chunked assembly calls must give what one call gives.
func withAsmChunk(t *testing.T, chunk int) {
	if chunk == 0 {
		return
	}
	old := asmChunk
	asmChunk = chunk
	t.Cleanup(func() { asmChunk = old })
}
