package window

import (
	"flag"
	"math/bits"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// slabPool recycles the Arrow memory of released windows (Config.Recycle).
// Every buffer of a window's batch is cut from one slab (see columns.cut);
// when the consumer releases the window, and with it the last reference to
// the slab, Arrow frees the slab through this allocator, which keeps it for
// a later window instead of handing it back to the Assembler's allocator.
// Consumers may release windows on other goroutines, so it is safe for
// concurrent use.
//
// Slabs come in size classes (see slabClass), and a request takes a kept
// slab of its class or of the next four (twice its class's size), so one
// large window's slab does not end up under a small one's few rows. It
// keeps at most maxSlabs slabs and maxSlabBytes bytes: enough for the
// windows a pipeline has in flight at its peak (hundreds of small ones
// when a replay's stages fall behind the assembler; a pool of a few dozen
// slabs then served a third of the windows of the Zeek logs' replay). A
// slab it does not keep, and everything once the Assembler is released
// (close), goes back to the underlying allocator, so a
// memory.CheckedAllocator still sees every byte come back. Over Go's own
// allocator (memory.GoAllocator, the default), whose Free does nothing,
// close keeps the slabs for the next Assembler instead (spareSlabs), as
// the pending windows are kept (spares): a replay or a test makes one
// Assembler after another, and each would allocate, and leave to the
// garbage collector, the slabs of the windows it has in flight at once
// (tens of MB for windows of thousands of rows).
type slabPool struct {
	mem    memory.Allocator
	poison bool // overwrite freed slabs (see poisonFreed)
	goMem  bool // mem is a *memory.GoAllocator: close keeps the slabs in spareSlabs

	mu     sync.Mutex
	free   [numSlabClasses][][]byte // by class; len == cap == the class's size
	n      int                      // slabs kept
	bytes  int                      // and their bytes
	closed bool
}

const (
	// maxSlabs and maxSlabBytes bound what a slabPool keeps;
	// maxSpareBytes what a closed one leaves for the next (spareSlabs),
	// until the garbage collector clears it.
	maxSlabs      = 1024
	maxSlabBytes  = 256 << 20
	maxSpareBytes = 64 << 20
	// Size classes: four a doubling, from minSlab bytes (class 0).
	minSlabShift   = 9
	minSlab        = 1 << minSlabShift
	numSlabClasses = 4 * (48 - minSlabShift)
	// slabFit is how many classes above its own a request takes a slab
	// from: four, up to twice its class's size.
	slabFit = 4
)

// slabClassSize is the size of the slabs of class c: 2^e times 1, 5/4,
// 6/4 or 7/4 (multiples of 128 bytes, so 64-byte aligned as Arrow asks).
func slabClassSize(c int) int { return (4 + c&3) << (c>>2 + minSlabShift - 2) }

// slabClass returns the class of the smallest slabs that hold size bytes.
func slabClass(size int) int {
	if size <= minSlab {
		return 0
	}
	// 2^e < size <= 2^(e+1); the classes of that octave are (4+m)<<(e-2)
	// for m in 0..3, and m == 4 is the next octave's first.
	e := bits.Len(uint(size-1)) - 1
	b := e - 2
	m := (size - 1 - 1<<e) >> b // (size - 2^e) / 2^b, rounded up, minus one
	return (b-minSlabShift+2)*4 + m + 1
}

// spareSlabs holds the kept slabs of closed pools over Go's allocator
// (*slabLists), for the next pool: Go memory that no window exposes, held
// until the garbage collector clears the pool.
var spareSlabs sync.Pool

type slabLists [numSlabClasses][][]byte

func newSlabPool(mem memory.Allocator) *slabPool {
	p := &slabPool{mem: mem, poison: poisonFreed()}
	if _, ok := mem.(*memory.GoAllocator); ok {
		p.goMem = true
		if l, ok := spareSlabs.Get().(*slabLists); ok {
			p.free = *l
			for _, c := range p.free {
				p.n += len(c)
				for _, b := range c {
					p.bytes += len(b)
				}
			}
		}
	}
	return p
}

// poisonFreed reports whether freed slabs are to be overwritten with
// poisonByte: in test binaries, unless they run benchmarks. A consumer that
// keeps a view into a window after releasing it (a string of a column, say)
// then sees garbage at once in every test of every package that runs the
// pipeline (golden files, live-against-replay comparisons), instead of
// another window's rows now and then.
func poisonFreed() bool {
	if !testing.Testing() {
		return false
	}
	f := flag.Lookup("test.bench")
	return f == nil || f.Value.String() == ""
}

// poisonByte fills freed slabs in tests: not valid UTF-8, so a string kept
// from a released window cannot pass for a host name.
const poisonByte = 0xA5

// Allocate returns size bytes, whatever they held before: the caller
// overwrites or zeroes every byte it exposes.
func (p *slabPool) Allocate(size int) []byte {
	c := slabClass(size)
	if c >= numSlabClasses {
		return p.mem.Allocate(size)
	}
	p.mu.Lock()
	for k := c; k <= c+slabFit && k < numSlabClasses; k++ {
		// The most recently freed slab of the class: the likeliest in cache.
		if l := p.free[k]; len(l) > 0 {
			b := l[len(l)-1]
			l[len(l)-1] = nil
			p.free[k] = l[:len(l)-1]
			p.n--
			p.bytes -= cap(b)
			p.mu.Unlock()
			return b[:size]
		}
	}
	p.mu.Unlock()
	n := slabClassSize(c)
	b := p.mem.Allocate(n)[:n:n]
	return b[:size]
}

// Reallocate is Allocate, a copy and Free (the window code never grows a
// slab; memory.Allocator requires the method).
func (p *slabPool) Reallocate(size int, b []byte) []byte {
	if cap(b) >= size {
		return b[:size]
	}
	out := p.Allocate(size)
	copy(out, b)
	p.Free(b)
	return out
}

// Free keeps b for a later Allocate, or hands it back to the underlying
// allocator.
func (p *slabPool) Free(b []byte) {
	b = b[:cap(b)]
	c := slabClass(len(b))
	if c >= numSlabClasses || slabClassSize(c) != len(b) {
		p.mem.Free(b) // not a slab of Allocate's
		return
	}
	if p.poison {
		for i := range b {
			b[i] = poisonByte
		}
	}
	p.mu.Lock()
	if p.closed || p.n >= maxSlabs || p.bytes+len(b) > maxSlabBytes {
		p.mu.Unlock()
		p.mem.Free(b)
		return
	}
	p.free[c] = append(p.free[c], b)
	p.n++
	p.bytes += len(b)
	p.mu.Unlock()
}

// close hands every kept slab back, and every slab freed from now on.
func (p *slabPool) close() {
	p.mu.Lock()
	free := p.free
	p.free, p.n, p.bytes, p.closed = [numSlabClasses][][]byte{}, 0, 0, true
	p.mu.Unlock()
	if p.goMem {
		// Keep at most maxSpareBytes, the smaller slabs first, for the
		// collector to drop the rest at once.
		kept := 0
		for c := range free {
			for i, b := range free[c] {
				if kept+len(b) > maxSpareBytes {
					clear(free[c][i:])
					free[c] = free[c][:i]
					break
				}
				kept += len(b)
			}
		}
		if kept > 0 {
			spareSlabs.Put((*slabLists)(&free))
		}
		return
	}
	for _, l := range free {
		for _, b := range l {
			p.mem.Free(b)
		}
	}
}
