package window

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Every size gets the smallest class that holds it; classes grow, by at
// most a quarter, and are multiples of 128 bytes (64-byte aligned slabs).
func TestSlabClass(t *testing.T) {
	for c := 1; c < numSlabClasses; c++ {
		lo, hi := slabClassSize(c-1), slabClassSize(c)
		if hi <= lo || 4*hi > 5*lo || hi%128 != 0 {
			t.Fatalf("classes %d and %d: %d and %d bytes", c-1, c, lo, hi)
		}
	}
	check := func(size int) {
		c := slabClass(size)
		if slabClassSize(c) < size || c > 0 && slabClassSize(c-1) >= size {
			t.Fatalf("size %d: class %d of %d bytes", size, c, slabClassSize(c))
		}
	}
	for size := 1; size <= 1<<16; size++ {
		check(size)
	}
	for c := range 4 * 30 {
		for _, d := range []int{-1, 0, 1} {
			check(slabClassSize(c) + d)
		}
	}
}

// The pool hands a freed slab to a later request of its class or of up to
// slabFit classes below (half its size), never to a larger one nor to one
// of a class further below; it keeps at most maxSlabs slabs; a request past the
// classes and a slab not of its making go straight to the allocator; and
// every byte goes back when it is closed.
func TestSlabPool(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p := newSlabPool(mem)
	b := p.Allocate(3000)
	if len(b) != 3000 || cap(b) != slabClassSize(slabClass(3000)) {
		t.Fatalf("len %d cap %d", len(b), cap(b))
	}
	first := &b[:1][0]
	p.Free(b)
	if p.n != 1 {
		t.Fatalf("%d slabs kept", p.n)
	}
	if x := p.Allocate(cap(b) + 1); &x[:1][0] == first {
		t.Fatal("a slab served a larger request")
	} else {
		p.Free(x)
	}
	c := slabClass(3000)
	if x := p.Allocate(slabClassSize(c - slabFit - 1)); &x[:1][0] == first {
		t.Fatal("a slab served a request of a class more than slabFit below")
	} else {
		p.Free(x)
	}
	want := slabClassSize(c-slabFit-1) + 1 // of class c - slabFit
	x := p.Allocate(want)
	if &x[:1][0] != first || len(x) != want {
		t.Fatal("a freed slab did not serve a request of its class or a few below")
	}
	p.Free(x)
	// Past maxSlabs, slabs go back to the allocator.
	var all [][]byte
	for range maxSlabs + 10 {
		all = append(all, p.Allocate(100))
	}
	for _, s := range all {
		p.Free(s)
	}
	if p.n != maxSlabs {
		t.Fatalf("%d slabs kept, at most %d", p.n, maxSlabs)
	}
	odd := mem.Allocate(1000)
	p.Free(odd) // not a class size: back to mem
	p.close()
	if p.n != 0 || p.bytes != 0 {
		t.Fatalf("closed pool keeps %d slabs, %d bytes", p.n, p.bytes)
	}
	p.Free(p.Allocate(5000)) // after close: straight back
}

// Over Go's allocator, a closed pool's slabs serve the next pool (through
// spareSlabs, which the garbage collector or the race detector may empty:
// so at least one of a few tries); over any other, they go back to it.
func TestSlabPoolKeepsGoSlabs(t *testing.T) {
	reused := 0
	for range 20 {
		p := newSlabPool(memory.NewGoAllocator())
		b := p.Allocate(70_000)
		first := &b[:1][0]
		p.Free(b)
		p.close()
		q := newSlabPool(memory.NewGoAllocator())
		if x := q.Allocate(70_000); &x[:1][0] == first {
			reused++
			if q.n != 0 || q.bytes != 0 {
				t.Fatalf("after taking the only slab: %d slabs, %d bytes kept", q.n, q.bytes)
			}
		}
		q.close()
	}
	if reused == 0 {
		t.Fatal("no slab of a closed pool served the next")
	}
	// At most maxSpareBytes are left for the next pool.
	p0 := newSlabPool(memory.NewGoAllocator())
	var big [][]byte
	for range maxSpareBytes/(8<<20) + 3 {
		big = append(big, p0.Allocate(8<<20))
	}
	for _, b := range big {
		p0.Free(b)
	}
	p0.close()
	for range 5 {
		if l, ok := spareSlabs.Get().(*slabLists); ok {
			total := 0
			for _, c := range l {
				for _, b := range c {
					total += len(b)
				}
			}
			if total > maxSpareBytes {
				t.Fatalf("%d bytes left for the next pool, at most %d", total, maxSpareBytes)
			}
		}
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	p := newSlabPool(mem)
	p.Free(p.Allocate(70_000))
	p.close()
	mem.AssertSize(t, 0)
}
