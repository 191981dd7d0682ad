package window

import (
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// dictionaryLayout mirrors the fields of arrow-go's array.Dictionary (its
// embedded array's, then its own), which a window's dictionary arrays are
// written through (see dictionaryArray). TestDictionaryLayout checks field
// for field (names, types, offsets) that it is array.Dictionary's layout,
// so that an arrow-go upgrade that changes the struct fails the tests
// instead of corrupting memory.
type dictionaryLayout struct {
	array struct {
		refCount        atomic.Int64
		data            *array.Data
		nullBitmapBytes []byte
	}
	indices arrow.Array
	dict    arrow.Array
}

// dictMem is the memory of a dictionary array of a batch besides its
// Data and buffers: the array and its indices' array. A batch's come from
// a chunk, with the indices' Data (see dictionaryArray).
type dictMem struct {
	dict array.Dictionary
	idx  array.Int8
}

// dictionaryArray returns the dictionary array of d (from newData, with a
// dictionary and int8 indices), which holds the one reference to d: what
// array.MakeFromData(d) returns, an array.Dictionary whose indices are an
// Int8 array of a Data of the same buffers, but made of zero structs from
// the chunks. MakeFromData allocated the three (the Dictionary, the
// indices' Data and array), and took and dropped a reference on the
// indices' Data and each of its buffers besides, for each of the few
// dictionary columns of every window. No exported API makes a Dictionary
// of given parts (its indices are set by an unexported method), hence
// the mirror.
func (c *columns) dictionaryArray(d *array.Data) arrow.Array {
	m := &c.chunks.dicts.take(1, c.n)[0]
	bufs := d.Buffers()
	im := &c.chunks.mem.take(1, c.n)[0]
	list := im.list[:copy(im.list[:], bufs):len(bufs)]
	idx := &im.data
	idx.Reset(d.DataType().(*arrow.DictionaryType).IndexType, d.Len(), list, nil, d.NullN(), d.Offset())
	m.idx.Reset(idx) // takes the indices' Data's one reference
	m.idx.Retain()
	d.Retain()
	l := (*dictionaryLayout)(unsafe.Pointer(&m.dict))
	l.array.data = d
	if len(bufs) > 0 && bufs[0] != nil {
		l.array.nullBitmapBytes = bufs[0].Bytes()
	}
	l.indices = &m.idx
	l.array.refCount.Store(1)
	return &m.dict
}
