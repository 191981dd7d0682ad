package ptrtable

import (
	"math/rand/v2"
	"testing"
)

type val struct{ key int }

// find is a caller's lookup over Slots, as the tables using Table write it.
func find(t *Table[val], h uint64, key int) *val {
	slots := t.Slots()
	if len(slots) == 0 {
		return nil
	}
	mask := uint64(len(slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &slots[i]
		if s.P == nil {
			return nil
		}
		if s.H == h && s.P.key == key {
			return s.P
		}
	}
}

// TestTableMatchesMap: random insertions and removals give what a map
// gives (every key found or not, Len), at most half full, under hashes
// that spread keys, pile them on a few home slots, or wrap their probe
// sequences across the table's end, where a removal's back shift must
// keep every other key reachable.
func TestTableMatchesMap(t *testing.T) {
	hashes := map[string]func(int) uint64{
		"spread":   func(k int) uint64 { return uint64(k) * 0x9e3779b97f4a7c15 },
		"few":      func(k int) uint64 { return uint64(k % 3) },
		"high":     func(k int) uint64 { return ^uint64(0) - uint64(k%5) },
		"constant": func(int) uint64 { return 42 },
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var tab Table[val]
			want := map[int]*val{}
			for step := range 20000 {
				k := rng.IntN(300)
				if v, ok := want[k]; ok && rng.IntN(100) < 55 {
					tab.Remove(hash(k), v)
					delete(want, k)
				} else if !ok {
					v := &val{k}
					tab.Insert(hash(k), v)
					want[k] = v
				}
				if tab.Len() != len(want) || 2*tab.Len() > len(tab.Slots()) {
					t.Fatalf("step %d: %d values in %d slots, want %d", step, tab.Len(), len(tab.Slots()), len(want))
				}
				for range 4 {
					k := rng.IntN(300)
					if got := find(&tab, hash(k), k); got != want[k] {
						t.Fatalf("step %d: key %d gives %v, want %v", step, k, got, want[k])
					}
				}
			}
			for k, v := range want {
				if got := find(&tab, hash(k), k); got != v {
					t.Fatalf("key %d gives %v, want %v", k, got, v)
				}
			}
		})
	}
}
