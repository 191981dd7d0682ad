package detect

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

// The string columns of a window alias its Arrow buffers (one allocation
// per window): a detector that kept such a string past the window would
// keep the whole window's memory alive for its horizon. The stateful
// detectors' memory must hold copies only — map keys included, which a
// map assignment to an existing key replaces.
func TestDetectorsKeepNoWindowMemory(t *testing.T) {
	ds, err := New([]string{"new-destination", "beaconing"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	nd, bc := ds[0].(*NewDestination), ds[1].(*Beaconing)
	asm, err := window.New(window.Config{Size: time.Minute, Lateness: time.Second}, 1, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer asm.Release()
	ctx := &Context{Cohort: func(tenant, device string) string { return tenant + "/" }}
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	type span struct{ lo, hi uintptr }
	var spans []span
	within := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		for _, sp := range spans {
			if p >= sp.lo && p < sp.hi {
				return true
			}
		}
		return false
	}
	for m := range 6 {
		for d := range 4 {
			for k := range 3 {
				at := t0.Add(time.Duration(m)*time.Minute + time.Duration(d*3+k)*time.Second)
				asm.Add(&events.Event{ID: events.DerivedID("r", fmt.Sprint(m, d, k)), Tenant: "acme", Device: fmt.Sprintf("pos-%d", d), Time: at,
					Payload: &events.ConnOpened{ConnId: fmt.Sprint(m, d, k), DstHost: fmt.Sprintf("h%d.example", k), DstPort: 443}})
			}
		}
		if m == 5 {
			asm.Flush()
		}
		for _, w := range asm.Closed() {
			for _, col := range w.Batch.Columns() {
				for _, b := range col.Data().Buffers() {
					if b != nil && b.Len() > 0 {
						lo := uintptr(unsafe.Pointer(unsafe.SliceData(b.Bytes())))
						spans = append(spans, span{lo, lo + uintptr(b.Len())})
					}
				}
			}
			nd.Window(w, ctx)
			bc.Window(w, ctx)
			w.Release()
		}
	}
	if len(spans) == 0 {
		t.Fatal("no windows closed")
	}
	n := 0
	for _, m := range nd.seen {
		for dst := range m {
			n++
			if within(dst) {
				t.Errorf("new-destination keeps %q from a window's buffers", dst)
			}
		}
	}
	for k := range bc.flowKeys() {
		n++
		if within(k.dst) || within(k.device) || within(k.tenant) {
			t.Errorf("beaconing keeps flow %v from a window's buffers", k)
		}
	}
	for k, e := range prevalenceOf(t, bc) {
		if within(k.cohort) || within(k.dst) || within(e.co.name) || within(e.dst) {
			t.Errorf("beaconing keeps prevalence of %v from a window's buffers", k)
		}
		for _, d := range e.one {
			if within(d.device) {
				t.Errorf("beaconing keeps device %q of %v from a window's buffers", d.device, k)
			}
		}
		for d := range e.more {
			if within(d) {
				t.Errorf("beaconing keeps device %q of %v from a window's buffers", d, k)
			}
		}
	}
	if n == 0 {
		t.Fatal("the detectors remembered nothing: the test checks nothing")
	}
}
