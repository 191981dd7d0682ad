package window

import (
	"github.com/halo-sec/halo/internal/ptrtable"
	"github.com/halo-sec/halo/internal/strhash"
)

// devTable finds the devState of a (tenant, device): an
// open-addressing table of (hash, state) slots with linear probing, at most
// half full. A lookup reads one slot and, on a hash match, the state's
// first cache line, which holds the tenant and a copy of a short device id
// (see devState) and which the caller reads next anyway: a Go map of the
// device string would compare its own copy of the key, one more cache line
// per event. The table never shrinks: it keeps the size of the most devices
// held at once (16 bytes a slot, at least two slots a device). The table
// itself is ptrtable's, shared with beaconing's destinations; lookups
// (find, peek) compare the key here.
type devTable struct {
	ptrtable.Table[devState] // Insert, Remove, Len
}

// devHash hashes a device or tenant id with seed (strhash.String);
// keyHash combines a device's hash with its tenant's. The hashes only
// place states in the table, so they may differ from run to run.
func devHash(seed uint64, s string) uint64 { return strhash.String(seed, s) }

func keyHash(tenantHash, deviceHash uint64) uint64 {
	return deviceHash ^ (tenantHash * 0x9e3779b97f4a7c15)
}

func (t *devTable) find(h uint64, tenant *tenantID, device string) *devState {
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
		if s.H == h && s.P.is(tenant, device) {
			return s.P
		}
	}
}

// peek returns the first state of hash h, without comparing keys (a hint).
func (t *devTable) peek(h uint64) *devState {
	slots := t.Slots()
	if len(slots) == 0 {
		return nil
	}
	mask := uint64(len(slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &slots[i]
		if s.P == nil || s.H == h {
			return s.P
		}
	}
}

// slot returns the address of h's home slot (for a prefetch), nil when the
// table is empty.
func (t *devTable) slot(h uint64) *ptrtable.Slot[devState] {
	slots := t.Slots()
	if len(slots) == 0 {
		return nil
	}
	return &slots[h&uint64(len(slots)-1)]
}
