package events_test

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/halo-sec/halo/events"
)

// randomPart is a string of 0-150 bytes, lengths around the 64-byte SHA-1
// block more likely.
func randomPart(r *rand.Rand) string {
	n := r.IntN(151)
	if r.IntN(2) == 0 {
		n = 40 + r.IntN(50) // the stem's end near a block's
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

// TestIDHasherStemsMatchDerivedID derives ids of random stems and parts,
// several from each stem with one hasher (its state restored every time
// the first block is the last one's), and compares them with DerivedID's.
func TestIDHasherStemsMatchDerivedID(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	for range 2000 {
		source := randomPart(r)
		stemParts := make([]string, r.IntN(4))
		for i := range stemParts {
			stemParts[i] = randomPart(r)
		}
		var h events.IDHasher
		for range 1 + r.IntN(5) {
			more := make([]string, r.IntN(3))
			for i := range more {
				more[i] = randomPart(r)
			}
			all := append(append([]string(nil), stemParts...), more...)
			if got, want := h.ID(source, all...), events.DerivedID(source, all...); got != want {
				t.Fatalf("IDHasher.ID(%q, %q then %q) = %s, DerivedID gives %s", source, stemParts, more, got, want)
			}
		}
	}
}

// TestIDHasherBlockEdges covers stems ending on every byte around the
// first two block boundaries, and the alert updates' own shape.
func TestIDHasherBlockEdges(t *testing.T) {
	// The namespace and the source's length take 20 bytes, the part's 4.
	for n := 0; n <= 140; n++ {
		part := strings.Repeat("x", n)
		var h events.IDHasher
		for _, more := range [][]string{nil, {""}, {"1"}, {strings.Repeat("y", 70)}, {"a", "b"}} {
			all := append([]string{part}, more...)
			if got, want := h.ID("src", all...), events.DerivedID("src", all...); got != want {
				t.Fatalf("stem of a %d-byte part, ID(%q) = %s, DerivedID gives %s", n, more, got, want)
			}
		}
	}
	var h events.IDHasher
	for c := 2; c < 5000; c += 7 {
		count := strconv.Itoa(c)
		if got, want := h.ID("alert.updated", "al-0f4e2a8c-1b2d-5e6f-8a9b-0c1d2e3f4a5b", count), events.DerivedID("alert.updated", "al-0f4e2a8c-1b2d-5e6f-8a9b-0c1d2e3f4a5b", count); got != want {
			t.Fatalf("update %d: %s, DerivedID gives %s", c, got, want)
		}
	}
}

// FuzzIDHasherRepeats derives the same id twice from one hasher (the
// second from the restored state), after an id of the first k parts, and
// compares each with DerivedID's.
func FuzzIDHasherRepeats(f *testing.F) {
	f.Add("alert.updated", "al-0f4e2a8c-1b2d-5e6f-8a9b-0c1d2e3f4a5b", "2", "3", uint8(1))
	f.Add("", "", "", "", uint8(0))
	f.Add("s", strings.Repeat("p", 40), strings.Repeat("q", 64), "", uint8(2))
	f.Fuzz(func(t *testing.T, source, a, b, c string, split uint8) {
		parts := []string{a, b, c}
		k := int(split) % (len(parts) + 1)
		var h events.IDHasher
		if got, want := h.ID(source, parts[:k]...), events.DerivedID(source, parts[:k]...); got != want {
			t.Fatalf("IDHasher.ID(%q, %q) = %s, DerivedID gives %s", source, parts[:k], got, want)
		}
		for range 2 { // the second from the restored state
			if got, want := h.ID(source, parts...), events.DerivedID(source, parts...); got != want {
				t.Fatalf("IDHasher.ID(%q, %q) = %s, DerivedID gives %s", source, parts, got, want)
			}
		}
	})
}

// TestIDHasherMatchesDerivedID derives runs of ids whose inputs often share
// their first block (a source and parts of random lengths around it, some
// kept from the last id), from one hasher, and compares them with
// DerivedID's.
func TestIDHasherMatchesDerivedID(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 7))
	var h events.IDHasher
	source, parts := "alert", []string{"new-destination", "zeek", "147.32.83.161"}
	for i := range 5000 {
		switch r.IntN(4) {
		case 0:
			source = randomPart(r)
		case 1:
			parts[r.IntN(len(parts))] = randomPart(r)
		}
		all := append(slices.Clone(parts), randomPart(r)) // the key: new every time
		if got, want := h.ID(source, all...), events.DerivedID(source, all...); got != want {
			t.Fatalf("id %d: IDHasher.ID(%q, %q) = %s, DerivedID gives %s", i, source, all, got, want)
		}
	}
	var zero events.IDHasher
	if got, want := zero.ID("source", "part").String(), pinnedDerivedID; got != want {
		t.Errorf(`IDHasher.ID("source", "part") = %s, want %s`, got, want)
	}
}

// FuzzIDHasher derives two ids from one hasher, the second's input
// sharing a prefix of the first's, and compares both with DerivedID.
func FuzzIDHasher(f *testing.F) {
	f.Add("alert", "new-destination", "zeek", "147.32.83.161", "dst:1.2.3.4", "dst:5.6.7.8")
	f.Add("", "", "", "", "", "")
	f.Add("s", strings.Repeat("p", 40), "", "x", strings.Repeat("q", 64), "y")
	f.Fuzz(func(t *testing.T, source, a, b, c, k1, k2 string) {
		var h events.IDHasher
		for _, parts := range [][]string{{a, b, c, k1}, {a, b, c, k2}, {a, b, k2}} {
			if got, want := h.ID(source, parts...), events.DerivedID(source, parts...); got != want {
				t.Fatalf("IDHasher.ID(%q, %q) = %s, DerivedID gives %s", source, parts, got, want)
			}
		}
	})
}
