package features

import "math/bits"

// memo remembers hashed values with the windows they were seen in: an
// open-addressing table of (hash, seen) with linear probing, at most 3/4
// full. A Go map did the same with a hash of the hash and a probe of its
// control bytes per lookup, twice a value and set per window. The slot of
// a value is a multiplicative hash of it and the State's random seed: the
// values' hashes are fixed (see hashString), and a device that made up
// destination names whose hashes share their low bits must not be able to
// line a cohort's 65536 values up into one probe run. 0 marks an empty
// slot: the values are never 0 (set.add maps 0 to 1). Where the values
// sit does not matter to what State computes: evictions and sweeps pick
// values by their (last, hash), whatever the order of the slots.
type memo struct {
	slots []memoSlot // a power of two long, or empty
	n     int
	seed  uint64
	shift uint8 // 64 - log2(len(slots))
}

type memoSlot struct {
	k uint64
	seen
}

// memoMinSlots is the size of a memo's first table.
const memoMinSlots = 8

func (m *memo) len() int { return m.n }

// home is the first slot probed for k.
func (m *memo) home(k uint64) uint64 { return ((k ^ m.seed) * 0x9e3779b97f4a7c15) >> m.shift }

// find returns the slot holding k and true, or the empty slot where k
// would go and false (-1 for an empty table).
func (m *memo) find(k uint64) (int, bool) {
	if len(m.slots) == 0 {
		return -1, false
	}
	mask := uint64(len(m.slots) - 1)
	for i := m.home(k); ; i = (i + 1) & mask {
		switch m.slots[i].k {
		case k:
			return int(i), true
		case 0:
			return int(i), false
		}
	}
}

// put records k as e at slot i, where find gave (i, ok) for k when the
// table had size slots, with no value removed since: a value found is still
// in its slot unless the table grew; one not found still goes to slot i
// unless the table grew or another value took it (an insertion fills only
// an empty slot, so the probe run before i is still full of other values).
// Otherwise, or when adding k needs the table to grow, it is set as by set.
// It saves the second probe of a value just judged.
func (m *memo) put(i, size int, ok bool, k uint64, e seen) {
	if size == len(m.slots) && i >= 0 {
		switch s := &m.slots[i]; {
		case ok && s.k == k:
			s.seen = e
			return
		case !ok && s.k == 0 && 4*(m.n+1) <= 3*len(m.slots):
			*s = memoSlot{k, e}
			m.n++
			return
		}
	}
	m.set(k, e)
}

func (m *memo) get(k uint64) (seen, bool) {
	if i, ok := m.find(k); ok {
		return m.slots[i].seen, true
	}
	return seen{}, false
}

// set records k as e, adding it when new; k must not be 0.
func (m *memo) set(k uint64, e seen) {
	if k == 0 {
		panic("features: memo value 0")
	}
	i, ok := m.find(k)
	if ok {
		m.slots[i].seen = e
		return
	}
	if 4*(m.n+1) > 3*len(m.slots) {
		m.resize(max(memoMinSlots, 2*len(m.slots)))
		i, _ = m.find(k)
	}
	m.slots[i] = memoSlot{k, e}
	m.n++
}

func (m *memo) resize(size int) {
	old := m.slots
	m.slots = make([]memoSlot, size)
	m.shift = uint8(64 - bits.Len(uint(size-1)))
	mask := uint64(size - 1)
	for _, s := range old {
		if s.k != 0 {
			i := m.home(s.k)
			for m.slots[i].k != 0 {
				i = (i + 1) & mask
			}
			m.slots[i] = s
		}
	}
}

// remove drops k when held, shifting the slots after it back so that
// linear probing needs no tombstones.
func (m *memo) remove(k uint64) {
	i, ok := m.find(k)
	if !ok {
		return
	}
	mask := len(m.slots) - 1
	for j := (i + 1) & mask; m.slots[j].k != 0; j = (j + 1) & mask {
		// The entry at j may move to i unless its home slot lies
		// cyclically in (i, j].
		if home := int(m.home(m.slots[j].k)); (j-home)&mask < (j-i)&mask {
			continue
		}
		m.slots[i] = m.slots[j]
		i = j
	}
	m.slots[i] = memoSlot{}
	m.n--
}

// dropIf drops every value for which drop is true (rebuilding the table, so
// that the drops do not move values under the scan).
func (m *memo) dropIf(drop func(seen) bool) {
	kept := 0
	for _, s := range m.slots {
		if s.k != 0 && !drop(s.seen) {
			kept++
		}
	}
	if kept == m.n {
		return
	}
	old := m.slots
	size := memoMinSlots
	for 4*kept > 3*size {
		size *= 2
	}
	m.slots, m.n = nil, 0
	if kept == 0 {
		return
	}
	m.resize(size) // from no slots: an empty table of size
	for _, s := range old {
		if s.k != 0 && !drop(s.seen) {
			m.set(s.k, s.seen)
		}
	}
}
