package window

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// bufferLayout must be memory.Buffer's layout field for field: sliceBuffer
// writes a Buffer through it.
func TestBufferLayout(t *testing.T) {
	got, want := reflect.TypeOf(bufferLayout{}), reflect.TypeOf(memory.Buffer{})
	if got.Size() != want.Size() || got.Align() != want.Align() || got.NumField() != want.NumField() {
		t.Fatalf("bufferLayout: size %d align %d %d fields; memory.Buffer: size %d align %d %d fields",
			got.Size(), got.Align(), got.NumField(), want.Size(), want.Align(), want.NumField())
	}
	for i := range want.NumField() {
		g, w := got.Field(i), want.Field(i)
		if g.Name != w.Name || g.Type != w.Type || g.Offset != w.Offset {
			t.Errorf("field %d: bufferLayout has %s %v at %d, memory.Buffer %s %v at %d", i, g.Name, g.Type, g.Offset, w.Name, w.Type, w.Offset)
		}
	}
}

// resizableBuffer's buffer is a resizable buffer of its allocator, and
// sliceBuffer's behaves as memory.SliceBuffer's: same bytes, same
// parent, and the parent's memory freed when the last of them and the
// parent itself are released.
func TestSliceBufferMatchesArrow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	parent := new(memory.Buffer)
	resizableBuffer(parent, mem)
	if ref := memory.NewResizableBuffer(mem); !parent.Mutable() || parent.Len() != ref.Len() || parent.Cap() != ref.Cap() {
		t.Fatalf("resizableBuffer: mutable %v len %d cap %d", parent.Mutable(), parent.Len(), parent.Cap())
	}
	parent.Resize(100)
	for i := range parent.Bytes() {
		parent.Bytes()[i] = byte(i)
	}
	ref := memory.SliceBuffer(parent, 10, 30)
	var b memory.Buffer
	sliceBuffer(&b, parent, 10, 30)
	if !bytes.Equal(b.Bytes(), ref.Bytes()) || b.Len() != ref.Len() || b.Cap() != ref.Cap() || b.Parent() != parent || b.Mutable() != ref.Mutable() {
		t.Fatalf("sliceBuffer: %v len %d cap %d parent %p; SliceBuffer: %v len %d cap %d parent %p",
			b.Bytes(), b.Len(), b.Cap(), b.Parent(), ref.Bytes(), ref.Len(), ref.Cap(), ref.Parent())
	}
	if &b.Bytes()[0] != &parent.Bytes()[10] {
		t.Fatal("sliceBuffer's bytes are not a view of the parent's")
	}
	b.Retain() // a consumer's reference
	parent.Release()
	ref.Release()
	b.Release()
	if mem.CurrentAlloc() == 0 {
		t.Fatal("parent freed while a slice holds it")
	}
	b.Release()
	if b.Len() != 0 || b.Parent() != nil {
		t.Errorf("released slice: len %d parent %p", b.Len(), b.Parent())
	}
}
