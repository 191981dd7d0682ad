// Package ptrtable is the open-addressing table of (hash, pointer) slots
// that the window assembler's devices and beaconing's destinations are
// held in: linear probing, at most half full, the hash given by the
// caller, the key held by the value the slot points to, and removal by
// pointer (no key read) with a backward shift, so probing needs no
// tombstones. Lookups are the caller's, over Slots: each compares its own
// key once the hashes match, in a loop the compiler keeps in registers
// (a comparison passed as a function was a call a probe, on the
// assembler's hottest lookup). A table never shrinks: it keeps the size
// of the most values held at once, 16 bytes a slot, at least two slots a
// value.
package ptrtable

// Table holds pointers to T by hash. The zero Table is empty and ready.
type Table[T any] struct {
	slots []Slot[T] // a power of two long, or empty
	n     int
}

// Slot is one place of a Table: P nil when free.
type Slot[T any] struct {
	H uint64
	P *T
}

// minSize is the slots of a table's first value.
const minSize = 8

// Len returns the number of values held.
func (t *Table[T]) Len() int { return t.n }

// Slots returns the table's slots, a power of two of them or none, for
// the caller's lookups: probe from slot h&(len-1) on, one after the other
// (wrapping), until a free one. Valid until the next Insert.
func (t *Table[T]) Slots() []Slot[T] { return t.slots }

// Insert adds p, of hash h, which t must not hold.
func (t *Table[T]) Insert(h uint64, p *T) {
	if 2*(t.n+1) > len(t.slots) {
		t.resize(max(minSize, 2*len(t.slots)))
	}
	t.put(h, p)
}

func (t *Table[T]) put(h uint64, p *T) {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if t.slots[i].P == nil {
			t.slots[i] = Slot[T]{h, p}
			t.n++
			return
		}
	}
}

func (t *Table[T]) resize(size int) {
	old := t.slots
	t.slots, t.n = make([]Slot[T], size), 0
	for _, s := range old {
		if s.P != nil {
			t.put(s.H, s.P)
		}
	}
}

// Remove drops p, held under hash h, shifting the slots after it back.
func (t *Table[T]) Remove(h uint64, p *T) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].P != p {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.slots[j].P != nil; j = (j + 1) & mask {
		// The value at j may move to i unless its home slot lies
		// cyclically in (i, j].
		if home := t.slots[j].H & mask; (j-home)&mask < (j-i)&mask {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = Slot[T]{}
	t.n--
}
