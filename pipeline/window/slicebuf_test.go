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
// sliceBuffer's, once retained (as a Data does) and counted by
// setSliceRefs, behaves as memory.SliceBuffer's: same bytes, same parent,
// and the parent's memory freed when the last of them is released, not
// before.
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
	var b [2]memory.Buffer
	sliceBuffer(&b[0], parent, 10, 30)
	sliceBuffer(&b[1], parent, 40, 20)
	b[0].Retain() // the Datas' references
	b[1].Retain()
	setSliceRefs(parent, 2)
	ref := memory.SliceBuffer(parent, 10, 30)
	if !bytes.Equal(b[0].Bytes(), ref.Bytes()) || b[0].Len() != ref.Len() || b[0].Cap() != ref.Cap() || b[0].Parent() != parent || b[0].Mutable() != ref.Mutable() {
		t.Fatalf("sliceBuffer: %v len %d cap %d parent %p; SliceBuffer: %v len %d cap %d parent %p",
			b[0].Bytes(), b[0].Len(), b[0].Cap(), b[0].Parent(), ref.Bytes(), ref.Len(), ref.Cap(), ref.Parent())
	}
	if &b[0].Bytes()[0] != &parent.Bytes()[10] || &b[1].Bytes()[0] != &parent.Bytes()[40] || b[1].Len() != 20 {
		t.Fatal("sliceBuffer's bytes are not the view of the parent's asked for")
	}
	ref.Release()
	b[0].Retain() // a consumer's reference
	b[0].Release()
	b[1].Release()
	if mem.CurrentAlloc() == 0 {
		t.Fatal("parent freed while a slice holds it")
	}
	if b[1].Len() != 0 || b[1].Parent() != nil {
		t.Errorf("released slice: len %d parent %p", b[1].Len(), b[1].Parent())
	}
	b[0].Release()
	if mem.CurrentAlloc() != 0 {
		t.Fatal("parent not freed with its last slice")
	}

	// No slices: setSliceRefs drops the maker's reference.
	empty := new(memory.Buffer)
	resizableBuffer(empty, mem)
	empty.Resize(10)
	setSliceRefs(empty, 0)
	if mem.CurrentAlloc() != 0 {
		t.Fatal("setSliceRefs(0) did not free the parent")
	}
}
