package detect

import (
	"iter"

	"github.com/halo-sec/halo/internal/strhash"
)

// dstTable holds values by destination (beaconing's flows of a device,
// its prevalence entries of a cohort): an open-addressing table of (hash,
// value) slots with linear probing, at most half full, the hash given by
// the caller and the key held by the value (dstKeyed). Beaconing hashes a destination once per window
// (dstHash) for all the lookups and insertions of its flows and entries,
// and removes a value by its pointer, reading no key: a Go map hashed the
// string at each, and a deletion (a flow's and an entry's, mostly six
// hours after their one connection) read the key's cold bytes to hash
// and compare them. It never shrinks: it keeps the size of the most
// values held at once (16 bytes a slot, at least two slots a value: a
// slot with the key's string took 32, and the table twice a map's memory).
type dstTable[T any, P dstKeyed[T]] struct {
	slots []dstSlot[T] // a power of two long, or empty
	n     int
}

// dstKeyed is a value of a dstTable: it holds its key, which a lookup
// compares once the hashes match (the caller reads the value next).
type dstKeyed[T any] interface {
	*T
	dstKey() string
}

type dstSlot[T any] struct {
	h uint64
	v *T // nil: a free slot
}

// dstHash hashes a destination with seed (Beaconing.seed). The hashes only
// place values in the tables, so they may differ from run to run.
func dstHash(seed uint64, dst string) uint64 { return strhash.String(seed, dst) }

// len returns the number of values held.
func (t *dstTable[T, P]) len() int { return t.n }

// get returns the value of key, of hash h, nil if none.
func (t *dstTable[T, P]) get(h uint64, key string) *T {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.v == nil {
			return nil
		}
		if s.h == h && P(s.v).dstKey() == key {
			return s.v
		}
	}
}

// insert adds v, of hash h, whose key t must not hold.
func (t *dstTable[T, P]) insert(h uint64, v *T) {
	if 2*(t.n+1) > len(t.slots) {
		t.resize(max(8, 2*len(t.slots)))
	}
	t.put(dstSlot[T]{h, v})
}

func (t *dstTable[T, P]) put(s dstSlot[T]) {
	mask := uint64(len(t.slots) - 1)
	for i := s.h & mask; ; i = (i + 1) & mask {
		if t.slots[i].v == nil {
			t.slots[i] = s
			t.n++
			return
		}
	}
}

func (t *dstTable[T, P]) resize(size int) {
	old := t.slots
	t.slots, t.n = make([]dstSlot[T], size), 0
	for _, s := range old {
		if s.v != nil {
			t.put(s)
		}
	}
}

// remove drops v, held under hash h, shifting the slots after it back so
// that linear probing needs no tombstones.
func (t *dstTable[T, P]) remove(h uint64, v *T) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].v != v {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.slots[j].v != nil; j = (j + 1) & mask {
		// The value at j may move to i unless its home slot lies
		// cyclically in (i, j].
		if home := t.slots[j].h & mask; (j-home)&mask < (j-i)&mask {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = dstSlot[T]{}
	t.n--
}

// all yields the keys and values held, in no particular order; the table
// must not change meanwhile.
func (t *dstTable[T, P]) all() iter.Seq2[string, *T] {
	return func(yield func(string, *T) bool) {
		for i := range t.slots {
			if s := &t.slots[i]; s.v != nil && !yield(P(s.v).dstKey(), s.v) {
				return
			}
		}
	}
}
