package detect

import (
	"math/rand/v2"
	"testing"
)

// keySet numbers keys as a map of their first index would, below and past
// its linear search, across resets.
func TestKeySet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var s keySet[uint64]
	for round := range 200 {
		want := map[uint64]int32{}
		n := r.IntN(4 * linearKeys)
		for range 3 * n {
			k := uint64(r.IntN(n + 1))
			i, added := s.index(k)
			j, ok := want[k]
			if !ok {
				j = int32(len(want))
				want[k] = j
			}
			if i != j || added == ok {
				t.Fatalf("round %d: index(%d) = %d, %v; want %d, %v", round, k, i, added, j, !ok)
			}
		}
		if s.len() != len(want) {
			t.Fatalf("round %d: %d keys, want %d", round, s.len(), len(want))
		}
		for k, j := range want {
			if s.keys[j] != k {
				t.Fatalf("round %d: key %d is %d, want %d", round, j, s.keys[j], k)
			}
		}
		s.reset()
		if s.len() != 0 || s.m != nil {
			t.Fatalf("round %d: reset kept %d keys", round, s.len())
		}
	}
	var ss keySet[string]
	ss.index("a")
	ss.index("b")
	keys := ss.keys[:2]
	ss.reset()
	if keys[0] != "" || keys[1] != "" {
		t.Fatal("reset kept the strings")
	}
}
