package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestDstTableMatchesMap: random insertions and removals in a dstTable give
// what a map gives (every key found, or not, by get; the values and their
// count by all and len), under dstHash and under crowding hashes that put
// many keys on one home slot and probe sequences across the table's end,
// where a removal's back shift must keep every other key reachable.
func TestDstTableMatchesMap(t *testing.T) {
	hashes := map[string]func(string) uint64{
		"dstHash":  func(k string) uint64 { return dstHash(7, k) },
		"few":      func(k string) uint64 { return dstHash(7, k) % 3 },
		"high":     func(k string) uint64 { return ^uint64(0) - dstHash(7, k)%5 },
		"constant": func(string) uint64 { return 42 },
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			var tab dstTable[keyedInt, *keyedInt]
			want := map[string]*keyedInt{}
			keys := make([]string, 300)
			for i := range keys {
				keys[i] = fmt.Sprint("10.0.", i/256, ".", i%256)
			}
			for step := range 20000 {
				k := keys[rng.IntN(len(keys))]
				if v, ok := want[k]; ok && rng.IntN(100) < 55 {
					tab.Remove(hash(k), v)
					delete(want, k)
				} else if !ok {
					v := &keyedInt{k, step}
					tab.Insert(hash(k), v)
					want[k] = v
				}
				if tab.Len() != len(want) {
					t.Fatalf("step %d: %d values, want %d", step, tab.Len(), len(want))
				}
				if 2*tab.Len() > len(tab.Slots()) {
					t.Fatalf("step %d: %d values in %d slots", step, tab.Len(), len(tab.Slots()))
				}
				for range 4 {
					k := keys[rng.IntN(len(keys))]
					if got := tab.get(hash(k), k); got != want[k] {
						t.Fatalf("step %d: %q gives %v, want %v", step, k, got, want[k])
					}
				}
				if step%1000 == 0 || len(want) == 0 {
					n := 0
					for k, v := range tab.all() {
						if want[k] != v {
							t.Fatalf("step %d: all yields %q as %v, want %v", step, k, v, want[k])
						}
						n++
					}
					if n != len(want) {
						t.Fatalf("step %d: all yields %d values, want %d", step, n, len(want))
					}
					for k, v := range want {
						if got := tab.get(hash(k), k); got != v {
							t.Fatalf("step %d: %q gives %v, want %v", step, k, got, v)
						}
					}
				}
			}
		})
	}
}

// keyedInt is a dstTable's value in tests.
type keyedInt struct {
	key string
	n   int
}

func (v *keyedInt) dstKey() string { return v.key }
