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
	drop := func(f func(devKey) bool) {
		for k, d := range want { // in random order
			if f(k) {
				tb.remove(d)
				delete(want, k)
				if got := tb.find(d.h, k.tenant, k.device); got != nil {
					t.Fatalf("%v found after remove", k)
				}
			}
		}
		check()
	}
	drop(func(k devKey) bool { return k.tenant == "acme" && len(k.device)%2 == 1 })
	drop(func(k devKey) bool { return k.device != "pos-3" && k.device != "pos-299" })
	for i := range 100 { // the freed slots are reused
		k := devKey{"acme", fmt.Sprintf("new-%d", i)}
		d := &devState{key: k, h: uint64(i % 7)}
		tb.insert(d)
		want[k] = d
	}
	check()
	drop(func(devKey) bool { return true })
}
