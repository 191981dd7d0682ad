package events

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// DerivedID is the UUIDv5 of its length-prefixed parts in Halo's namespace,
// bit for bit what uuid.NewSHA1 makes (it hashes without allocating).
func TestDerivedIDIsUUIDv5(t *testing.T) {
	long := strings.Repeat("x", 300) // past the stack buffer
	for _, c := range [][]string{{"alert"}, {"alert.raised", "al-1"}, {"", ""}, {"conn", long, "b"}, {"model.deployed", "acme|P2/1.0", "3", "2026-11-27T10:00:00Z"}} {
		var b []byte
		for _, p := range c {
			b = appendLP(b, p)
		}
		want := ID(uuid.NewSHA1(idNamespace, b))
		if got := DerivedID(c[0], c[1:]...); got != want {
			t.Fatalf("%q: DerivedID %s, uuid.NewSHA1 %s", c, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { DerivedID("alert.updated", "al-0196f3a2-5c4d-7e8f-9a0b-00000000000c", "12") }); n != 0 {
		t.Fatalf("DerivedID allocates %v times per call", n)
	}
}
