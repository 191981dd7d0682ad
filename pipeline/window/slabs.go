package window

import (
	"flag"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// slabPool recycles the Arrow memory of released windows (Config.Recycle).
// Every buffer of a window's batch is cut from one slab (see columns.cut);
// when the consumer
// releases the window, and with it the last reference to the slab, Arrow
// frees the slab through this allocator, which keeps it for a later window
// instead of handing it back to the Assembler's allocator. Consumers may
// release windows on other goroutines, so it is safe for concurrent use.
//
// It keeps at most maxSlabs slabs and maxSlabBytes bytes; a slab it does
// not keep, and everything once the Assembler is released (close), goes
// back to the underlying allocator, so a memory.CheckedAllocator still sees
// every byte come back. A kept slab serves a request of at least a quarter
// of its size, so one large window's slab does not end up under a small
// one's few rows for long.
type slabPool struct {
	mem      memory.Allocator
	maxSlabs int
	poison   bool // overwrite freed slabs (see poisonFreed)

	mu     sync.Mutex
	free   [][]byte // len == cap == the length the underlying allocator returned
	bytes  int      // the bytes of free
	closed bool
}

// maxSlabBytes bounds the bytes a slabPool keeps.
const maxSlabBytes = 256 << 20

func newSlabPool(mem memory.Allocator, maxSlabs int) *slabPool {
	return &slabPool{mem: mem, maxSlabs: maxSlabs, poison: poisonFreed()}
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
	p.mu.Lock()
	best := -1
	for i, b := range p.free {
		if c := cap(b); c >= size && c/4 <= size && (best < 0 || c < cap(p.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := p.free[best]
		last := len(p.free) - 1
		p.free[best] = p.free[last]
		p.free[last] = nil
		p.free = p.free[:last]
		p.bytes -= cap(b)
		p.mu.Unlock()
		return b[:size]
	}
	p.mu.Unlock()
	// A quarter more than asked, so that the partition's next window, a
	// little larger, fits too.
	n := align(size + size/4)
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
	if p.poison {
		for i := range b {
			b[i] = poisonByte
		}
	}
	p.mu.Lock()
	if p.closed || len(p.free) >= p.maxSlabs || p.bytes+len(b) > maxSlabBytes {
		p.mu.Unlock()
		p.mem.Free(b)
		return
	}
	p.free = append(p.free, b)
	p.bytes += len(b)
	p.mu.Unlock()
}

// close hands every kept slab back, and every slab freed from now on.
func (p *slabPool) close() {
	p.mu.Lock()
	free := p.free
	p.free, p.bytes, p.closed = nil, 0, true
	p.mu.Unlock()
	for _, b := range free {
		p.mem.Free(b)
	}
}
