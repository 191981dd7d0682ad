package window

import (
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// bufferLayout mirrors the fields of arrow-go's memory.Buffer, which a
// window's values buffers are written through (see sliceBuffer).
// TestBufferLayout checks field for field (names, types, offsets) that it
// is memory.Buffer's layout, so that an arrow-go upgrade that changes the
// struct fails the tests instead of corrupting memory.
type bufferLayout struct {
	refCount atomic.Int64
	buf      []byte
	length   int
	mutable  bool
	mem      memory.Allocator
	parent   *memory.Buffer
}

// sliceBuffer makes b, a zero Buffer, what memory.SliceBuffer(parent, off,
// n) returns: a buffer of parent's bytes [off, off+n) holding one reference
// to parent (dropped when b's own count, one, reaches zero), and one
// reference of its own. memory.SliceBuffer allocates the Buffer; a
// window's dozen values buffers (see columns.buffer) come from a chunk
// instead, as the plain buffers do. No exported API sets a Buffer's
// parent, hence the mirror.
func sliceBuffer(b *memory.Buffer, parent *memory.Buffer, off, n int) {
	parent.Retain()
	l := (*bufferLayout)(unsafe.Pointer(b))
	l.buf = parent.Bytes()[off : off+n]
	l.length = n
	l.parent = parent
	l.refCount.Store(1)
}

// resizableBuffer makes b, a zero Buffer, what memory.NewResizableBuffer(mem)
// returns: an empty mutable buffer of mem with one reference. A window's
// slab (see columns.reset) is one, from a chunk rather than an allocation.
func resizableBuffer(b *memory.Buffer, mem memory.Allocator) {
	l := (*bufferLayout)(unsafe.Pointer(b))
	l.mutable = true
	l.mem = mem
	l.refCount.Store(1)
}
