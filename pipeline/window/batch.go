package window

import (
	"unsafe"

	"github.com/halo-sec/halo/events"
)

// AddBatch loads an event's memory in three steps ahead of adding it, each
// waiting for the memory the one before asked for: at batchAhead events
// ahead the payload and the device id, at 2/3 of that the device's hash
// (from the id) and its device table slot, at 1/3 the device's state (the
// slot gives its address) and the payload's strings. Each step is a third
// of the distance, about four events: some 1.5 µs, several memory latencies.
const (
	batchAhead = 12
	hashAhead  = 2 * batchAhead / 3
	stateAhead = batchAhead / 3
	// ringSize is AddBatch's ring of hashes: above hashAhead (the
	// compiler checks), a power of two for a cheap modulo.
	ringSize = 32
	// eventAhead is where AddBatch asks for the events themselves.
	eventAhead = 2 * batchAhead
)

var _ [ringSize - hashAhead - 1]struct{} // ringSize > hashAhead

// AddBatch adds evs in order, exactly as calling Add on each would, and
// returns how many became rows. When each is not nil it is called after
// every event with the event's index and Add's result, before the next
// event is added: a caller can collect the windows the event closed there
// (Closed), as it would after Add. each must not modify evs.
//
// What it adds over Add is speed when the events' memory is not in the
// core's caches (events decoded long before, a large slice): while it adds
// one event it asks the memory system for the payloads, strings and device
// states of the next few (prefetch instructions on amd64 and arm64), so
// that their cache misses overlap instead of each stalling Add in turn.
// The device hashes it computes for that are used for the lookups.
func (a *Assembler) AddBatch(evs []events.Event, each func(i int, added bool)) int {
	// ring holds the device hashes of the events between i and
	// i+hashAhead whose tenant was the current one when hashed.
	var ring [ringSize]struct {
		h  uint64
		ok bool
	}
	n := 0
	for i := range evs {
		if j := i + eventAhead; j < len(evs) {
			prefetchEvent2(&evs[j])
		}
		if j := i + batchAhead; j < len(evs) {
			prefetchEvent(&evs[j])
		}
		if j := i + hashAhead; j < len(evs) {
			ev := &evs[j]
			r := &ring[j%len(ring)]
			r.ok = false
			if ev.Tenant == a.tenant.name && !a.released {
				r.h, r.ok = keyHash(a.tenant.h, devHash(a.seed, ev.Device)), true
				if s := a.devs.slot(r.h); s != nil {
					prefetch(unsafe.Pointer(s))
				}
			}
		}
		if j := i + stateAhead; j < len(evs) {
			ev := &evs[j]
			prefetchStrings(ev)
			if r := &ring[j%len(ring)]; r.ok {
				if d := a.devs.peek(r.h); d != nil {
					prefetchDev(unsafe.Pointer(d))
				}
			}
		}
		r := &ring[i%len(ring)]
		added := a.add(&evs[i], r.h, r.ok)
		r.ok = false
		if added {
			n++
		}
		if each != nil {
			each(i, added)
		}
	}
	return n
}

// prefetchEvent2 asks for the lines of the event struct itself (128
// bytes: two lines when the slice is 64-byte aligned, three at most).
func prefetchEvent2(ev *events.Event) {
	prefetch(unsafe.Pointer(ev))
	prefetch(unsafe.Add(unsafe.Pointer(ev), unsafe.Sizeof(*ev)-1))
}

// prefetchEvent asks for the cache lines of ev's payload and device id.
func prefetchEvent(ev *events.Event) {
	prefetch(unsafe.Pointer(unsafe.StringData(ev.Device)))
	switch pl := ev.Payload.(type) {
	case *events.ConnOpened:
		prefetch4(unsafe.Pointer(pl))
	case *events.ConnClosed:
		prefetch4(unsafe.Pointer(pl))
	case *events.TxObserved:
		prefetch4(unsafe.Pointer(pl))
	case *events.ConnBlocked:
		prefetch4(unsafe.Pointer(pl))
	}
}

// prefetchStrings asks for the strings of ev's payload that Add reads
// first (the connection id, the fingerprints); the payload itself must be
// in cache by now.
func prefetchStrings(ev *events.Event) {
	switch pl := ev.Payload.(type) {
	case *events.ConnOpened:
		prefetch(unsafe.Pointer(unsafe.StringData(pl.ConnId)))
	case *events.ConnClosed:
		prefetch(unsafe.Pointer(unsafe.StringData(pl.ConnId)))
	case *events.ConnBlocked:
		prefetch(unsafe.Pointer(unsafe.StringData(pl.ConnId)))
	case *events.TxObserved:
		prefetch(unsafe.Pointer(unsafe.StringData(pl.ConnId)))
		prefetch(unsafe.Pointer(unsafe.SliceData(pl.StrictFp)))
	}
}
