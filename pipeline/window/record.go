package window

import (
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// record is the arrow.RecordBatch of a window's rows: arrow-go's own record
// batch (array.NewRecordBatch) without what it costs a window of a dozen
// rows: a copy of the column list, a type comparison per column against the
// schema, and a reference taken on each column (and the builder's dropped
// right after). build makes the columns with Schema's types and n rows, and
// hands its one reference to each to the record, which drops them when it
// is released. Retain and Release may be called from any goroutine.
//
// The columns of shared are arrays of the assembler's caches (all-null
// columns, tenant columns: see nullArrays), which are never released: the
// record takes no reference to them and drops none, so that building and
// releasing a window costs no atomic operation on their counts, which the
// assembler's goroutine and the consumers' would otherwise pass back and
// forth between their cores, a dozen times a window of imported history.
//
// Everything else behaves as arrow-go's: SetColumn and NewSlice return
// arrow-go record batches, MarshalJSON gives the same JSON.
type record struct {
	refs   atomic.Int64
	rows   int64
	shared uint32 // bit i: column i is shared (see above)
	cols   [NumCols]arrow.Array
	// vals[i] is column i's values buffer when build made it of the
	// slab (see columns.buffer), so that sole finds it without reading
	// the column's Data first.
	vals [NumCols]*memory.Buffer
	// The window's slab, and the references to it: one per values buffer
	// (see columns.release). nil when no column uses it.
	slab   *memory.Buffer
	slices int64
}

// init makes r, a zero record whose cols build has set, a record of n
// rows that owns one reference to each of its columns but those of shared
// (bit i: column i), which must have Schema's types and n rows, and whose
// columns' values buffers hold the slices references to slab. build
// writes the columns in place: a copy of the 25 interfaces, and the
// clearing of the list they came from, cost a write barrier per pointer
// while the garbage collector marks, every window.
func (r *record) init(n int, shared uint32, slab *memory.Buffer, slices int) {
	r.rows, r.shared = int64(n), shared
	r.slab, r.slices = slab, int64(slices)
	setCount(&r.refs, 1) // not shared yet
}

func (r *record) Retain() { r.refs.Add(1) }

// Release drops a reference; the last frees the window's memory. When no
// consumer holds a reference to anything of the window's own columns (see
// sole), which is the rule (consumers keep no views past a window), the
// record frees the slab itself: arrow-go's release of the columns took an
// atomic operation on each array, its Data, its values buffer and the
// slab (a dictionary column's indices besides), some fifty a window, each
// on a cache line the assembling goroutine wrote on the other core, one
// after the other. Otherwise (a consumer retained a column, its Data or a
// buffer, or sliced a column) the columns are released as arrow-go's
// record releases them, and the slab lives as long as the last of them.
// The structs the fast path leaves with their counts (and the views of the
// freed slab) are reachable by no one that holds a reference; the chunks
// they came from are never reused (see chunk).
func (r *record) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.sole() {
		if r.slab != nil {
			// What the slab's release does at its last reference, by
			// the one that holds all of them (see sole).
			l := (*bufferLayout)(unsafe.Pointer(r.slab))
			l.mem.Free(l.buf)
			l.buf, l.length = nil, 0
		}
	} else {
		for i, c := range r.cols {
			if r.shared&(1<<i) == 0 {
				c.Release()
			}
		}
	}
	r.slab = nil
	clear(r.cols[:])
	clear(r.vals[:])
}

// sole reports whether the record's references are the only ones to its
// own columns' arrays, their Data, their values buffers and the slab
// (nothing of the window's memory besides has a count: see columns): each
// count holds exactly what build gave it. It reads the counts without
// writing them, loads the processor overlaps where the atomic decrements
// ran one after the other.
//
// Reading the counts one at a time is enough even while consumers that
// hold a reference work on other goroutines: a struct is read after every
// struct a consumer could reach it from (an array before its Data, before
// its values buffer, before the slab; a dictionary array before its
// indices' array), so a consumer that holds a reference to a struct after
// it is read got it from one read later, which it held when that one was
// read (it cannot take a reference without holding one), and that count
// was too high. With the record's count at zero, nothing else hands one out.
func (r *record) sole() bool {
	// In three passes over the columns: the arrays, then their Data and
	// a dictionary's indices, then the indices' Data and the values
	// buffers. Each struct is a cache miss, mostly of a line the
	// assembling goroutine wrote on the other core, and a pass's loads
	// do not depend on each other (the values buffers' addresses are the
	// record's own, not read from the Data), so their misses overlap:
	// column by column, each struct's load waited for the one before,
	// which gave its address. The passes keep every chain's order above
	// (an array, then its Data and indices, then the indices' Data and
	// the values buffer, then the slab); the structs of different columns
	// do not reach each other.
	var (
		cols       [NumCols]int
		arrs, idxs [NumCols]*arrayLayout
		bad        int64
		n          int
	)
	for i, c := range r.cols {
		if r.shared&(1<<i) != 0 {
			continue
		}
		a, idx := layoutOf(c)
		if a == nil || r.vals[i] == nil {
			// Not an array build makes, or not of the window's memory
			// (a column made for this window alone: see nullArrays.get).
			return false
		}
		bad |= a.refCount.Load() ^ 1
		cols[n], arrs[n], idxs[n] = i, a, idx
		n++
	}
	for k := range n {
		bad |= (*dataLayout)(unsafe.Pointer(arrs[k].data)).refCount.Load() ^ 1
		if idx := idxs[k]; idx != nil { // a dictionary's indices: an Int8 array of a Data of the same buffers
			bad |= idx.refCount.Load() ^ 1
		}
	}
	for k := range n {
		vals := int64(1)
		if idx := idxs[k]; idx != nil {
			bad |= (*dataLayout)(unsafe.Pointer(idx.data)).refCount.Load() ^ 1
			vals = 2
		}
		b := (*bufferLayout)(unsafe.Pointer(r.vals[cols[k]]))
		if b.parent != r.slab {
			return false
		}
		bad |= b.refCount.Load() ^ vals
	}
	if r.slab != nil {
		bad |= (*bufferLayout)(unsafe.Pointer(r.slab)).refCount.Load() ^ r.slices
	}
	return bad == 0
}

// layoutOf returns the array struct of a, an array of a type build makes
// (nil otherwise), and for a dictionary array its indices' (an Int8 array).
func layoutOf(a arrow.Array) (l, indices *arrayLayout) {
	var p unsafe.Pointer
	switch x := a.(type) {
	case *array.String:
		p = unsafe.Pointer(x)
	case *array.Uint32:
		p = unsafe.Pointer(x)
	case *array.Uint64:
		p = unsafe.Pointer(x)
	case *array.Int64:
		p = unsafe.Pointer(x)
	case *array.Timestamp:
		p = unsafe.Pointer(x)
	case *array.FixedSizeBinary:
		p = unsafe.Pointer(x)
	case *array.Binary:
		p = unsafe.Pointer(x)
	case *array.Dictionary:
		idx, ok := (*dictionaryLayout)(unsafe.Pointer(x)).indices.(*array.Int8)
		if !ok {
			return nil, nil
		}
		return (*arrayLayout)(unsafe.Pointer(x)), (*arrayLayout)(unsafe.Pointer(idx))
	default:
		return nil, nil
	}
	return (*arrayLayout)(p), nil
}

func (r *record) Schema() *arrow.Schema    { return Schema }
func (r *record) Metadata() arrow.Metadata { return arrow.Metadata{} }
func (r *record) NumRows() int64           { return r.rows }
func (r *record) NumCols() int64           { return NumCols }
func (r *record) Columns() []arrow.Array   { return r.cols[:] }
func (r *record) Column(i int) arrow.Array { return r.cols[i] }
func (r *record) ColumnName(i int) string  { return Schema.Field(i).Name }

// plain returns the columns as an arrow-go record batch (retaining them).
func (r *record) plain() arrow.RecordBatch {
	return array.NewRecordBatch(Schema, r.cols[:], r.rows)
}

func (r *record) SetColumn(i int, col arrow.Array) (arrow.RecordBatch, error) {
	p := r.plain()
	defer p.Release()
	return p.SetColumn(i, col)
}

func (r *record) NewSlice(i, j int64) arrow.RecordBatch {
	p := r.plain()
	defer p.Release()
	return p.NewSlice(i, j)
}

func (r *record) MarshalJSON() ([]byte, error) {
	p := r.plain()
	defer p.Release()
	return p.MarshalJSON()
}
