package window

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// The device table finds every (tenant, device) exactly, also when hashes
// collide and across the rebuilds of keep, for ids of every length around
// shortDev (compared in the state's copy) and longer (compared as strings).
func TestDevTable(t *testing.T) {
	seed := rand.Uint64()
	tenants := []*tenantID{{name: "acme"}, {name: "beta"}, {name: ""}}
	for _, tn := range tenants {
		tn.h = devHash(seed, tn.name)
	}
	type key struct {
		tenant *tenantID
		device string
	}
	type entry struct {
		d *devState
		h uint64
	}
	var tb devTable
	want := map[key]entry{}
	name := func(i int) string {
		// ids of 0 to 40 bytes that differ in one byte only, at the start,
		// the middle or the end
		n := i % 41
		b := []byte(strings.Repeat("x", n))
		if n > 0 {
			b[(i/41)%n] = byte('a' + i/41/n%26)
		}
		return string(b) + fmt.Sprint("#", i/41/n1(n)/26)
	}
	for i := range 900 {
		for _, tn := range tenants {
			k := key{tn, name(i)}
			if _, dup := want[k]; dup {
				continue
			}
			h := keyHash(tn.h, devHash(seed, k.device))
			if i%3 == 0 {
				h = 42 // a collision chain
			}
			if tb.find(h, k.tenant, k.device) != nil {
				t.Fatalf("%v found before insert", k)
			}
			d := newDevState(tn, k.device, 0)
			tb.Insert(h, d)
			want[k] = entry{d, h}
		}
	}
	check := func() {
		t.Helper()
		if tb.Len() != len(want) {
			t.Fatalf("%d states, want %d", tb.Len(), len(want))
		}
		for k, e := range want {
			if got := tb.find(e.h, k.tenant, k.device); got != e.d {
				t.Fatalf("%q/%q: found %p, want %p", k.tenant.name, k.device, got, e.d)
			}
			// one byte more or less, or another tenant: not found
			if got := tb.find(e.h, k.tenant, k.device+"x"); got != nil && got.device != k.device+"x" {
				t.Fatalf("%q/%q+x: found %q", k.tenant.name, k.device, got.device)
			}
			other := tenants[0]
			if k.tenant == other {
				other = tenants[1]
			}
			if got := tb.find(e.h, other, k.device); got != nil && got.tenant != other {
				t.Fatalf("%q/%q: found under tenant %q", other.name, k.device, got.tenant.name)
			}
		}
	}
	check()
	drop := func(f func(key) bool) {
		for k, e := range want { // in random order
			if f(k) {
				tb.Remove(e.h, e.d)
				delete(want, k)
				if got := tb.find(e.h, k.tenant, k.device); got != nil {
					t.Fatalf("%v found after remove", k)
				}
			}
		}
		check()
	}
	drop(func(k key) bool { return k.tenant.name == "acme" && len(k.device)%2 == 1 })
	drop(func(k key) bool { return k.device != name(3) && k.device != name(299) })
	for i := range 100 { // the freed slots are reused
		k := key{tenants[0], fmt.Sprintf("new-%d", i)}
		d := newDevState(k.tenant, k.device, 0)
		h := uint64(i % 7)
		tb.Insert(h, d)
		want[k] = entry{d, h}
	}
	check()
	drop(func(key) bool { return true })
}

func n1(n int) int { return max(n, 1) }

// eqShort agrees with string comparison for every pair of short ids of
// one length, random and differing in one byte.
func TestEqShort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= shortDev; n++ {
		for range 2000 {
			x := make([]byte, n)
			for i := range x {
				x[i] = byte(rng.IntN(4)) // few values: many equal pairs
			}
			y := append([]byte(nil), x...)
			if n > 0 && rng.IntN(2) == 0 {
				y[rng.IntN(n)] ^= byte(1 + rng.IntN(255))
			}
			var b [shortDev]byte
			copy(b[:], x)
			if got, want := eqShort(&b, string(y)), string(x) == string(y); got != want {
				t.Fatalf("eqShort(%x, %x) = %v", x, y, got)
			}
		}
	}
}
