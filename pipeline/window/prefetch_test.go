package window

import (
	"testing"
	"unsafe"

	"github.com/halo-sec/halo/events"
)

// TestPrefetchSpan: prefetch4 covers 192 bytes, so AddBatch asks for every
// line of the payloads and device states it prefetches only while they
// are no larger (a hint: a larger one would still work, just slower).
func TestPrefetchSpan(t *testing.T) {
	for name, size := range map[string]uintptr{
		"ConnOpened":  unsafe.Sizeof(events.ConnOpened{}),
		"ConnClosed":  unsafe.Sizeof(events.ConnClosed{}),
		"ConnBlocked": unsafe.Sizeof(events.ConnBlocked{}),
		"TxObserved":  unsafe.Sizeof(events.TxObserved{}),
		// What add reads of a device: all but the table's long id,
		// slice, map, floor and the hash, which come last.
		"devState": unsafe.Offsetof(devState{}.conns) + unsafe.Offsetof(connTable{}.first) + unsafe.Offsetof(openConn{}.long),
	} {
		if size > 192 {
			t.Errorf("%s is %d bytes, prefetch4 covers 192", name, size)
		}
	}
	prefetch(nil) // never faults
	prefetch4(nil)
}
