package window

import (
	"testing"
	"unsafe"

	"github.com/halo-sec/halo/events"
)

// TestPrefetchSpan: prefetch4 covers 192 bytes (prefetchDev 320), so AddBatch asks for every
// line of the payloads and device states it prefetches only while they
// are no larger (a hint: a larger one would still work, just slower).
func TestPrefetchSpan(t *testing.T) {
	for name, size := range map[string]uintptr{
		"ConnOpened":  unsafe.Sizeof(events.ConnOpened{}),
		"ConnClosed":  unsafe.Sizeof(events.ConnClosed{}),
		"ConnBlocked": unsafe.Sizeof(events.ConnBlocked{}),
		"TxObserved":  unsafe.Sizeof(events.TxObserved{}),
	} {
		if size > 192 {
			t.Errorf("%s is %d bytes, prefetch4 covers 192", name, size)
		}
	}
	// prefetchDev asks for the five lines of 320 bytes from a devState:
	// all of it when it is allocated in the 320-byte size class (above
	// 288 bytes), whose objects start on 64-byte boundaries.
	if size := unsafe.Sizeof(devState{}); size <= 288 || size > 320 {
		t.Errorf("devState is %d bytes, not in the 320-byte size class", size)
	}
	// The device lookup's fields are in the first line, the inline slots
	// in the second.
	if end := unsafe.Offsetof(devState{}.slots) + unsafe.Sizeof(devState{}.slots); end > 64 {
		t.Errorf("devState's lookup fields and slots end at byte %d, past the first line", end)
	}
	if off := unsafe.Offsetof(devState{}.slotBuf); off != 64 || unsafe.Sizeof(devState{}.slotBuf) != 64 {
		t.Errorf("devState's inline slots at byte %d, %d bytes: not the second line", off, unsafe.Sizeof(devState{}.slotBuf))
	}
	for range 100 {
		d := newDevState(&tenantID{}, "pos-1", 0)
		heapStates = append(heapStates, d) // on the heap, as the Assembler's
		if p := uintptr(unsafe.Pointer(d)); p%64 != 0 {
			t.Fatalf("devState at %#x, not on a 64-byte boundary", p)
		}
	}
	heapStates = nil
	prefetchDev(nil)
	prefetch(nil) // never faults
	prefetch4(nil)
}

var heapStates []*devState
