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

// sliceBuffer makes b, a zero Buffer, a buffer of parent's bytes [off,
// off+n) that drops a reference to parent when its own count reaches zero,
// as memory.SliceBuffer(parent, off, n) returns, but holding no reference
// yet, either its own or to parent: the Data it goes to takes the first
// (Data.Reset retains its buffers), and setSliceRefs gives parent one for
// each such buffer, once all are made. memory.SliceBuffer allocates the
// Buffer and takes both references, which the builder of a window's dozen
// values buffers (see columns.buffer) then dropped in part; these come
// from a chunk instead, as the plain buffers do. No exported API sets a
// Buffer's parent, hence the mirror.
func sliceBuffer(b *memory.Buffer, parent *memory.Buffer, off, n int) {
	l := (*bufferLayout)(unsafe.Pointer(b))
	l.buf = parent.Bytes()[off : off+n]
	l.length = n
	l.parent = parent
}

// setSliceRefs replaces the one reference to parent its maker holds with
// one for each of the n buffers sliceBuffer made of it. Nothing else may
// hold parent yet (it is a plain store).
func setSliceRefs(parent *memory.Buffer, n int) {
	if n == 0 {
		parent.Release()
		return
	}
	setCount(&(*bufferLayout)(unsafe.Pointer(parent)).refCount, int64(n))
}

// resizableBuffer makes b, a zero Buffer, what memory.NewResizableBuffer(mem)
// returns: an empty mutable buffer of mem with one reference. A window's
// slab (see columns.reset) is one, from a chunk rather than an allocation.
func resizableBuffer(b *memory.Buffer, mem memory.Allocator) {
	l := (*bufferLayout)(unsafe.Pointer(b))
	l.mutable = true
	l.mem = mem
	setCount(&l.refCount, 1)
}
