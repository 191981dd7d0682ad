package window

import "github.com/halo-sec/halo/internal/strhash"

// devTable finds the devState of a (tenant, device): an
// open-addressing table of (hash, state) slots with linear probing, at most
// half full. A lookup reads one slot and, on a hash match, the state's
// first cache line, which holds the tenant and a copy of a short device id
// (see devState) and which the caller reads next anyway: a Go map of the
// device string would compare its own copy of the key, one more cache line
// per event. The table never shrinks: it keeps the size of the most devices
// held at once (16 bytes a slot, at least two slots a device).
type devTable struct {
	slots []devSlot // a power of two long, or empty
	n     int
}

type devSlot struct {
	h uint64
	d *devState
}

// devHash hashes a device or tenant id with seed (strhash.String);
// keyHash combines a device's hash with its tenant's. The hashes only
// place states in the table, so they may differ from run to run.
func devHash(seed uint64, s string) uint64 { return strhash.String(seed, s) }

func keyHash(tenantHash, deviceHash uint64) uint64 {
	return deviceHash ^ (tenantHash * 0x9e3779b97f4a7c15)
}

func (t *devTable) find(h uint64, tenant *tenantID, device string) *devState {
	if len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.d == nil {
			return nil
		}
		if s.h == h && s.d.is(tenant, device) {
			return s.d
		}
	}
}

// insert adds d, of hash h, which must not be in t.
func (t *devTable) insert(h uint64, d *devState) {
	if 2*(t.n+1) > len(t.slots) {
		t.resize(max(16, 2*len(t.slots)))
	}
	t.put(h, d)
}

func (t *devTable) put(h uint64, d *devState) {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if t.slots[i].d == nil {
			t.slots[i] = devSlot{h, d}
			t.n++
			return
		}
	}
}

func (t *devTable) resize(size int) {
	old := t.slots
	t.slots, t.n = make([]devSlot, size), 0
	for _, s := range old {
		if s.d != nil {
			t.put(s.h, s.d)
		}
	}
}

// remove drops d, of hash h, which must be in t, shifting the slots after
// it back so that linear probing needs no tombstones.
func (t *devTable) remove(h uint64, d *devState) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].d != d {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.slots[j].d != nil; j = (j + 1) & mask {
		// The entry at j may move to i unless its home slot lies
		// cyclically in (i, j].
		if home := t.slots[j].h & mask; (j-home)&mask < (j-i)&mask {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = devSlot{}
	t.n--
}

// peek returns the first state of hash h, without comparing keys (a hint).
func (t *devTable) peek(h uint64) *devState {
	if len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.d == nil || s.h == h {
			return s.d
		}
	}
}

// slot returns the address of h's home slot (for a prefetch), nil when the
// table is empty.
func (t *devTable) slot(h uint64) *devSlot {
	if len(t.slots) == 0 {
		return nil
	}
	return &t.slots[h&uint64(len(t.slots)-1)]
}
