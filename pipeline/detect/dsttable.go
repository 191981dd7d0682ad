package detect

import (
	"iter"

	"github.com/halo-sec/halo/internal/ptrtable"
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
// The table itself is ptrtable's, shared with the window assembler's
// devices; lookups (get) compare the key here.
type dstTable[T any, P dstKeyed[T]] struct {
	ptrtable.Table[T] // Insert, Remove, Len
}

// dstKeyed is a value of a dstTable: it holds its key, which a lookup
// compares once the hashes match (the caller reads the value next).
type dstKeyed[T any] interface {
	*T
	dstKey() string
}

// dstHash hashes a destination with seed (Beaconing.seed). The hashes only
// place values in the tables, so they may differ from run to run.
func dstHash(seed uint64, dst string) uint64 { return strhash.String(seed, dst) }

// get returns the value of key, of hash h, nil if none.
func (t *dstTable[T, P]) get(h uint64, key string) *T {
	if t.Len() == 0 {
		return nil
	}
	slots := t.Slots()
	mask := uint64(len(slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &slots[i]
		if s.P == nil {
			return nil
		}
		if s.H == h && P(s.P).dstKey() == key {
			return s.P
		}
	}
}

// all yields the keys and values held, in no particular order; the table
// must not change meanwhile.
func (t *dstTable[T, P]) all() iter.Seq2[string, *T] {
	return func(yield func(string, *T) bool) {
		slots := t.Slots()
		for i := range slots {
			if s := &slots[i]; s.P != nil && !yield(P(s.P).dstKey(), s.P) {
				return
			}
		}
	}
}
