package window

import (
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A window's dictionary, timestamp and fixed-size binary arrays are zero
// structs from the chunks that arrow-go's exported API cannot make what its
// constructors make (no Reset sets their unexported fields), so they are
// written through mirrors of arrow-go's structs: arrayLayout is the array
// struct each embeds first, and dictionaryLayout, timestampLayout and
// fixedSizeBinaryLayout are array.Dictionary, array.Timestamp and
// array.FixedSizeBinary. TestArrayLayouts checks field for field (names,
// types, offsets, into the embedded struct) that each is its struct's
// layout, so that an arrow-go upgrade that changes one fails the tests
// instead of corrupting memory.
type arrayLayout struct {
	refCount        atomic.Int64
	data            *array.Data
	nullBitmapBytes []byte
}

// dataLayout mirrors array.Data: build sets a Data's dictionary through
// it without a reference (see newData), and a record's release reads the
// counts of its arrays' Data through it (see record.sole).
type dataLayout struct {
	refCount   atomic.Int64
	dtype      arrow.DataType
	nulls      int
	offset     int
	length     int
	buffers    []*memory.Buffer
	childData  []arrow.ArrayData
	dictionary *array.Data
}

type dictionaryLayout struct {
	array   arrayLayout
	indices arrow.Array
	dict    arrow.Array
}

type timestampLayout struct {
	array            arrayLayout
	values           []arrow.Timestamp
	layout           string
	useDefaultLayout bool
}

type fixedSizeBinaryLayout struct {
	array      arrayLayout
	valueBytes []byte
	bytewidth  int32
}

// init makes l, a zero array, the array of d (from newData, not shared
// yet: see setCount), holding one reference to d, as arrow-go's
// constructors do (refCount 1, then setData).
func (l *arrayLayout) init(d *array.Data) {
	addCount(&(*dataLayout)(unsafe.Pointer(d)).refCount, 1)
	l.data = d
	if bufs := d.Buffers(); len(bufs) > 0 && bufs[0] != nil {
		l.nullBitmapBytes = bufs[0].Bytes()
	}
	setCount(&l.refCount, 1)
}

// setCount and addCount set and add to the reference count of a struct
// of a window being built, which no other goroutine can see yet (a zero
// struct from the chunks, the window's slab: the window reaches its
// consumers over a channel, or the caller of Closed, once built). A
// window's arrays, Data and buffers took some 25 atomic operations on
// their counts, each a locked instruction that waits for the stores
// before it (the gathers') to drain; arrow-go has no other way to set them.
func setCount(c *atomic.Int64, n int64) { *(*int64)(unsafe.Pointer(c)) = n }

func addCount(c *atomic.Int64, n int64) { *(*int64)(unsafe.Pointer(c)) += n }

// timestampArray returns the Timestamp array of d (from newData), holding
// the one reference to d: what array.NewTimestampData(d) returns (the
// default ValueStr layout), made of a zero Timestamp from the chunks.
func (c *columns) timestampArray(d *array.Data) arrow.Array {
	a := &c.chunks.times.take(1, c.n)[0]
	a.Reset(d) // what setData sets
	setCount(&(*arrayLayout)(unsafe.Pointer(a)).refCount, 1)
	(*timestampLayout)(unsafe.Pointer(a)).useDefaultLayout = true
	return a
}

// fixedSizeBinaryArray returns the FixedSizeBinary array of d (from
// newData, no offset), holding the one reference to d: what
// array.NewFixedSizeBinaryData(d) returns, made of a zero FixedSizeBinary
// from the chunks.
func (c *columns) fixedSizeBinaryArray(d *array.Data) arrow.Array {
	a := &c.chunks.fsbs.take(1, c.n)[0]
	l := (*fixedSizeBinaryLayout)(unsafe.Pointer(a))
	l.bytewidth = int32(d.DataType().(arrow.FixedWidthDataType).BitWidth() / 8)
	if vals := d.Buffers()[1]; vals != nil {
		l.valueBytes = vals.Bytes()
	}
	l.array.init(d)
	return a
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
	for i, b := range bufs { // one by one: see newData
		im.list[i] = b
	}
	list := im.list[:len(bufs):len(bufs)]
	idx := &im.data
	c.setData(idx, d.DataType().(*arrow.DictionaryType).IndexType, d.Len(), list, d.NullN(), d.Offset())
	m.idx.Reset(idx) // takes the indices' Data's one reference
	setCount(&(*arrayLayout)(unsafe.Pointer(&m.idx)).refCount, 1)
	l := (*dictionaryLayout)(unsafe.Pointer(&m.dict))
	l.indices = &m.idx
	l.array.init(d)
	return &m.dict
}

// immortal is the reference count of a shared dictionary's Data (see
// newDictionaries): far from zero in both directions, so that the windows'
// Data, which hold it without a reference (newData), can drop one when a
// consumer's retention sends a window's release down arrow-go's path
// (record.Release), and consumers can take and drop theirs, without the
// count ever reaching zero.
const immortal = 1 << 62

// immortalize sets d's reference count to immortal. d is not shared yet.
func immortalize(d *array.Data) { (*dataLayout)(unsafe.Pointer(d)).refCount.Store(immortal) }
