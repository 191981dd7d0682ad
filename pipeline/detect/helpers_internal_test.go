package detect

import (
	"fmt"
	"testing"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

// eachWindow adds evs to asm and calls check on every window it closes,
// the last ones after a Flush, releasing each after its check.
func eachWindow(asm *window.Assembler, evs []events.Event, check func(*window.Window)) {
	run := func() {
		for _, w := range asm.Closed() {
			check(w)
			w.Release()
		}
	}
	for i := range evs {
		asm.Add(&evs[i])
		run()
	}
	asm.Flush()
	run()
}

// newDetector makes the detector registered as name with opts.
func newDetector[T any](t *testing.T, name string, opts map[string]string) T {
	t.Helper()
	ds, err := New([]string{name}, map[string]map[string]string{name: opts})
	if err != nil {
		t.Fatal(err)
	}
	return ds[0].(T)
}

// flowKeys returns the keys of the flows b holds, checking that each is
// kept under its key, found by it, and no device is kept without flows.
func (b *Beaconing) flowKeys() map[beaconKey]bool {
	keys := map[beaconKey]bool{}
	for dk, dev := range b.flows {
		if dev.key != dk || dev.flows.Len() == 0 {
			panic(fmt.Sprintf("device %v kept as %v with %d flows", dev.key, dk, dev.flows.Len()))
		}
		n := 0
		for dst, st := range dev.flows.all() {
			if st.dev != dev || st.dst != dst || st.gone {
				panic(fmt.Sprintf("flow %v kept as %v/%s (gone %v)", st.key(), dk, dst, st.gone))
			}
			if got := dev.flows.get(dstHash(b.seed, dst), dst); got != st {
				panic(fmt.Sprintf("flow %v not found by its destination", st.key()))
			}
			n++
			if st.lastAt != st.times[len(st.times)-1] {
				panic(fmt.Sprintf("flow %v: last time %d, its times end at %d", st.key(), st.lastAt, st.times[len(st.times)-1]))
			}
			keys[st.key()] = true
		}
		if n != dev.flows.Len() {
			panic(fmt.Sprintf("device %v holds %d flows, counts %d", dev.key, n, dev.flows.Len()))
		}
	}
	return keys
}
