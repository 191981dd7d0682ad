package window

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// sameLayout fails t unless got has want's layout field for field (names,
// types, offsets, size), into the fields of unexported struct types,
// which the mirror can only copy.
func sameLayout(t *testing.T, path string, got, want reflect.Type) {
	t.Helper()
	if got.Size() != want.Size() || got.Align() != want.Align() || got.NumField() != want.NumField() {
		t.Fatalf("%s: size %d align %d %d fields; want size %d align %d %d fields",
			path, got.Size(), got.Align(), got.NumField(), want.Size(), want.Align(), want.NumField())
	}
	for i := range want.NumField() {
		g, w := got.Field(i), want.Field(i)
		if g.Name != w.Name || g.Offset != w.Offset {
			t.Fatalf("%s field %d: mirror has %s at %d, want %s at %d", path, i, g.Name, g.Offset, w.Name, w.Offset)
		}
		if g.Type == w.Type {
			continue
		}
		if w.Type.Kind() == reflect.Struct && !w.Type.Field(0).IsExported() && g.Type.Kind() == reflect.Struct {
			sameLayout(t, path+"."+w.Name, g.Type, w.Type)
			continue
		}
		t.Fatalf("%s field %d (%s): mirror has type %v, want %v", path, i, w.Name, g.Type, w.Type)
	}
}

// The mirrors must be their arrow-go structs' layouts field for field:
// the window's arrays are written through them.
func TestArrayLayouts(t *testing.T) {
	sameLayout(t, "Dictionary", reflect.TypeOf(dictionaryLayout{}), reflect.TypeOf(array.Dictionary{}))
	sameLayout(t, "Timestamp", reflect.TypeOf(timestampLayout{}), reflect.TypeOf(array.Timestamp{}))
	sameLayout(t, "FixedSizeBinary", reflect.TypeOf(fixedSizeBinaryLayout{}), reflect.TypeOf(array.FixedSizeBinary{}))
	sameLayout(t, "Data", reflect.TypeOf(dataLayout{}), reflect.TypeOf(array.Data{}))
	// layoutOf reads each array type it knows through arrayLayout: the
	// struct each embeds first.
	for _, a := range []any{array.String{}, array.Uint32{}, array.Uint64{}, array.Int64{}, array.Timestamp{},
		array.FixedSizeBinary{}, array.Binary{}, array.Dictionary{}, array.Int8{}} {
		// (through the generic numeric array the numeric types embed)
		typ, path := reflect.TypeOf(a), reflect.TypeOf(a).Name()
		for typ.Name() != "array" {
			f := typ.Field(0)
			if !f.Anonymous || f.Offset != 0 {
				t.Fatalf("%s: first field %s (embedded %v) at %d", path, f.Name, f.Anonymous, f.Offset)
			}
			typ, path = f.Type, path+"."+f.Name
		}
		sameLayout(t, path, reflect.TypeOf(arrayLayout{}), typ)
	}
}

// A shared dictionary's count is immortal: windows' columns hold it
// without a reference, and their release by arrow-go's path (a consumer
// retained a column) drops one; it stays far from zero, and the
// dictionary whole.
func TestDictionariesImmortal(t *testing.T) {
	dicts := newDictionaries()
	col := ColCloseReason
	d := dicts[col].Data().(*array.Data)
	count := &(*dataLayout)(unsafe.Pointer(d)).refCount
	if count.Load() != immortal {
		t.Fatalf("count %d", count.Load())
	}
	want := dicts[col].String()
	for range 1000 {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		vals := memory.NewResizableBuffer(mem)
		vals.Resize(3)
		var c columns
		c.n = 3
		a := c.dictionaryArray(c.newData(Schema.Field(col).Type, nil, vals, nil, 0, dicts[col]))
		vals.Release()
		if a.(*array.Dictionary).Dictionary().String() != want {
			t.Fatal("dictionary changed")
		}
		a.Release()
		mem.AssertSize(t, 0)
	}
	// Each array dropped one it never took (its Data's) and took and
	// dropped its Dictionary()'s.
	if got := count.Load(); got != immortal-1000 || dicts[col].String() != want || dicts[col].Len() != len(CloseReasonNames) {
		t.Fatalf("count %d, dictionary %v", got, dicts[col])
	}
}

// The time and id arrays are what arrow-go's constructors make of the same
// Data (values, nulls, strings, JSON), and their release frees the buffers
// as arrow-go's does.
func TestTimeAndIDArraysMatchArrow(t *testing.T) {
	for _, col := range []int{ColTime, ColID} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		dt := Schema.Field(col).Type
		width := dt.(arrow.FixedWidthDataType).BitWidth() / 8
		const n = 29
		vals := memory.NewResizableBuffer(mem)
		vals.Resize(n * width)
		for i := range vals.Bytes() {
			vals.Bytes()[i] = byte(i * 7)
		}
		var c columns
		c.n = n
		d := c.newData(dt, nil, vals, nil, 0, nil)
		var got arrow.Array
		if col == ColTime {
			got = c.timestampArray(d)
		} else {
			got = c.fixedSizeBinaryArray(d)
		}
		wd := array.NewData(dt, n, []*memory.Buffer{nil, vals}, nil, 0, 0)
		want := array.MakeFromData(wd)
		wd.Release()
		vals.Release()
		if reflect.TypeOf(got) != reflect.TypeOf(want) || !array.Equal(got, want) || got.String() != want.String() || got.NullN() != 0 {
			t.Fatalf("column %d: %v, want %v", col, got, want)
		}
		gj, _ := got.MarshalJSON()
		wj, _ := want.MarshalJSON()
		if string(gj) != string(wj) {
			t.Fatalf("column %d: JSON %s, want %s", col, gj, wj)
		}
		for i := range n {
			if got.ValueStr(i) != want.ValueStr(i) || got.GetOneForMarshal(i) != nil && fmt.Sprint(got.GetOneForMarshal(i)) != fmt.Sprint(want.GetOneForMarshal(i)) {
				t.Fatalf("column %d row %d: %s, want %s", col, i, got.ValueStr(i), want.ValueStr(i))
			}
		}
		if col == ColID {
			g, w := got.(*array.FixedSizeBinary), want.(*array.FixedSizeBinary)
			for i := range n {
				if !bytes.Equal(g.Value(i), w.Value(i)) {
					t.Fatalf("id %d: %x, want %x", i, g.Value(i), w.Value(i))
				}
			}
		}
		releaseBoth(t, mem, got, want)
	}
}

// dictionaryArray's array is what array.MakeFromData makes of the same
// Data (values, nulls, indices, dictionary, JSON), and its release frees
// the buffers as arrow-go's does: the memory goes when the last of the
// arrays holding it is released, not before.
func TestDictionaryArrayMatchesArrow(t *testing.T) {
	for _, nulls := range []bool{false, true} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		dicts := newDictionaries()
		col := ColCloseReason
		dt := Schema.Field(col).Type
		const n = 37
		vals := memory.NewResizableBuffer(mem)
		vals.Resize(n)
		var valid *memory.Buffer
		nullN := 0
		if nulls {
			valid = memory.NewResizableBuffer(mem)
			valid.Resize(int(bitutil.BytesForBits(n)))
			clear(valid.Bytes())
		}
		for i := range n {
			vals.Bytes()[i] = byte(i % len(CloseReasonNames))
			if valid != nil {
				if i%3 == 0 {
					nullN++
				} else {
					setBit(valid.Bytes(), i)
				}
			}
		}
		var c columns
		c.n = n
		got := c.dictionaryArray(c.newData(dt, valid, vals, nil, nullN, dicts[col]))
		wd := array.NewDataWithDictionary(dt, n, []*memory.Buffer{valid, vals}, nullN, 0, dicts[col].Data().(*array.Data))
		want := array.MakeFromData(wd)
		wd.Release()
		// The makers' references to the buffers: the arrays hold theirs.
		vals.Release()
		if valid != nil {
			valid.Release()
		}
		g, w := got.(*array.Dictionary), want.(*array.Dictionary)
		if !array.Equal(got, want) || g.NullN() != w.NullN() || g.Len() != w.Len() || g.String() != w.String() {
			t.Fatalf("nulls %v: %v (%d nulls), want %v (%d nulls)", nulls, got, g.NullN(), want, w.NullN())
		}
		gi, wi := g.Indices().(*array.Int8), w.Indices().(*array.Int8)
		if !array.Equal(gi, wi) || len(gi.Int8Values()) != n || unsafe.Pointer(&gi.Int8Values()[0]) != unsafe.Pointer(&vals.Bytes()[0]) {
			t.Fatalf("nulls %v: indices %v, want %v", nulls, gi, wi)
		}
		if !array.Equal(g.Dictionary(), w.Dictionary()) || !arrow.TypeEqual(g.DataType(), w.DataType()) {
			t.Fatalf("nulls %v: dictionary %v %v, want %v %v", nulls, g.Dictionary(), g.DataType(), w.Dictionary(), w.DataType())
		}
		gj, _ := g.MarshalJSON()
		wj, _ := w.MarshalJSON()
		if string(gj) != string(wj) {
			t.Fatalf("nulls %v: JSON %s, want %s", nulls, gj, wj)
		}
		for i := range n {
			if g.IsNull(i) != w.IsNull(i) || g.GetValueIndex(i) != w.GetValueIndex(i) {
				t.Fatalf("nulls %v: row %d differs", nulls, i)
			}
		}
		releaseBoth(t, mem, got, want)
	}
}

// releaseBoth releases got, the mirror-made array, through a consumer's
// reference and its own, then want, arrow-go's array of the same buffers:
// the buffers must outlive got's references and be freed with want's.
func releaseBoth(t *testing.T, mem *memory.CheckedAllocator, got, want arrow.Array) {
	t.Helper()
	got.Retain() // a consumer's
	got.Release()
	got.Release()
	if mem.CurrentAlloc() == 0 {
		t.Fatal("buffers freed while arrow-go's array holds them")
	}
	want.Release()
	mem.AssertSize(t, 0)
}
