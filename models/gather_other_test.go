//go:build !amd64

package models

import "testing"

// withAsmChunk does nothing where there is no assembly.
func withAsmChunk(*testing.T, int) {}
