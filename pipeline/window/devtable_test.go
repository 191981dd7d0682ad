package window

import (
	"fmt"
	"hash/maphash"
	"testing"
)

// The device table finds every (tenant, device) exactly, also when hashes
// collide and across the rebuilds of keep.
func TestDevTable(t *testing.T) {
	seed := maphash.MakeSeed()
	var tb devTable
	want := map[devKey]*devState{}
	for i := range 300 {
		for _, tenant := range []string{"acme", "beta"} {
			k := devKey{tenant, fmt.Sprintf("pos-%d", i)}
			h := keyHash(devHash(seed, k.tenant), devHash(seed, k.device))
			if i%3 == 0 {
				h = 42 // a collision chain
			}
			if tb.find(h, k.tenant, k.device) != nil {
				t.Fatalf("%v found before insert", k)
			}
			d := &devState{key: k, h: h}
			tb.insert(d)
			want[k] = d
		}
	}
	check := func() {
		t.Helper()
		if tb.n != len(want) {
			t.Fatalf("%d states, want %d", tb.n, len(want))
		}
		for k, d := range want {
			if got := tb.find(d.h, k.tenant, k.device); got != d {
				t.Fatalf("%v: found %p, want %p", k, got, d)
			}
		}
	}
	check()
	tb.keep(func(d *devState) bool { return d.key.tenant == "beta" || len(d.key.device)%2 == 0 })
	for k := range want {
		if !(k.tenant == "beta" || len(k.device)%2 == 0) {
			if got := tb.find(want[k].h, k.tenant, k.device); got != nil {
				t.Fatalf("%v kept", k)
			}
			delete(want, k)
		}
	}
	check()
	tb.keep(func(d *devState) bool { return d.key.device == "pos-3" })
	for k := range want {
		if k.device != "pos-3" {
			delete(want, k)
		}
	}
	check()
	if len(tb.slots) != 16 {
		t.Errorf("%d slots for %d states", len(tb.slots), tb.n)
	}
}
