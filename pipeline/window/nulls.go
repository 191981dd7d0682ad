package window

import (
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// nullArrays caches the all-null columns of small windows. A column that
// no row of a window fills (the transaction and authentication columns of
// a window of connections, say: ten of the 25 in imported Zeek history) is
// the same array in every window of that many rows: a validity bitmap of
// zeros, zeros for the values (or offsets), no string bytes. Building it
// costs a window the same four to seven heap objects as a filled column,
// and releasing it as many reference counts; the cache builds it once per
// (column, rows) and hands every window a reference to it instead.
//
// The arrays are immutable, as every Arrow array, and never released: their
// memory is Go memory (nullZeros, the shared dictionaries), which the
// garbage collector frees once neither the cache nor a window refers to
// them. The cache's own reference is never dropped, so windows need none:
// a window takes no reference to a shared array and drops none (see
// record), and a consumer's own Retain and Release, balanced, cannot
// bring its count to zero.
type nullArrays struct {
	byCol [NumCols][]arrow.Array // by rows; nil where not made yet
	n     int                    // arrays made (all-null and constant)
	off   bool                   // serve nothing (tests compare with the arrays built per window)
	// constant dictionary columns (see constant): by column, index, rows
	consts [NumCols][][]arrow.Array
}

const (
	// maxNullRows is the largest window whose all-null columns are
	// cached: the cost is per window, and a window of more rows pays
	// mostly per row.
	maxNullRows = 512
	// maxNullArrays bounds the arrays cached (each some 500 bytes of
	// objects; their bytes are nullZeros); beyond, get makes an array per
	// call.
	maxNullArrays = 4096
)

// nullZeros backs every cached array's buffers: enough zeros for the
// values of maxNullRows rows of the widest nullable fixed-width column
// (8 bytes), for their offsets (4·(rows+1)) and their validity bitmap.
// It is never written.
var nullZeros = func() []byte {
	const n = 8*maxNullRows + 64
	b := make([]byte, n+64)
	// 64-byte aligned, as the allocators align Arrow buffers.
	shift := int((64 - uintptr(unsafe.Pointer(unsafe.SliceData(b)))%64) % 64)
	return b[shift : shift+n : shift+n]
}()

// serves reports whether get gives the all-null columns of windows of
// rows rows.
func (c *nullArrays) serves(rows int) bool { return rows > 0 && rows <= maxNullRows && !c.off }

// get returns an all-null array of column col with rows rows, or nil when
// it does not serve rows. A shared array is the cache's (the caller takes
// no reference: see above); when the cache is full the array is made for
// the caller alone, which owns its one reference.
func (c *nullArrays) get(col, rows int, dicts *dictionaries) (a arrow.Array, shared bool) {
	if !c.serves(rows) {
		return nil, false
	}
	byRows := c.byCol[col]
	if rows < len(byRows) && byRows[rows] != nil {
		return byRows[rows], true
	}
	a = newNullArray(col, rows, dicts)
	if c.n >= maxNullArrays {
		return a, false
	}
	byRows = withRow(byRows, rows)
	c.byCol[col] = byRows
	byRows[rows] = a
	c.n++
	return a, true
}

// withRow returns byRows (arrays by rows) with room for index rows
// (rows <= maxNullRows): grown, when it is too short, to the next power
// of two above rows, at most maxNullRows+1 entries.
func withRow(byRows []arrow.Array, rows int) []arrow.Array {
	if rows < len(byRows) {
		return byRows
	}
	k := 16
	for k <= rows {
		k *= 2
	}
	return append(byRows, make([]arrow.Array, min(k, maxNullRows+1)-len(byRows))...)
}

// newNullArray builds the all-null array of column col with rows rows
// exactly as a window's columns are built (validity bitmap of zeros, zeros
// for the values and offsets, an empty data buffer for strings), on
// nullZeros.
func newNullArray(col, rows int, dicts *dictionaries) arrow.Array {
	typ := colTypes[col]
	zeros := func(n int) *memory.Buffer { return memory.NewBufferBytes(nullZeros[:n:n]) }
	valid := zeros(int(bitutil.BytesForBits(int64(rows))))
	var d *array.Data
	switch t := typ.(type) {
	case *arrow.StringType, *arrow.BinaryType:
		d = array.NewData(typ, rows, []*memory.Buffer{valid, zeros(4 * (rows + 1)), zeros(0)}, nil, rows, 0)
	case *arrow.DictionaryType:
		width := t.IndexType.(arrow.FixedWidthDataType).Bytes()
		d = array.NewDataWithDictionary(typ, rows, []*memory.Buffer{valid, zeros(width * rows)}, rows, 0, dicts[col].Data().(*array.Data))
	case arrow.FixedWidthDataType:
		d = array.NewData(typ, rows, []*memory.Buffer{valid, zeros(t.Bytes() * rows)}, nil, rows, 0)
	default:
		panic("window: no all-null array of column " + Schema.Field(col).Name)
	}
	a := array.MakeFromData(d)
	d.Release()
	return a
}

// constant returns the dictionary column col of rows rows without nulls
// whose every index is v, or nil when it does not serve rows (or the
// cache is full). Like the all-null columns, such a column is the same
// array in every window of that many rows: imported Zeek history has a
// window's mode (every connection imported) and often its type so, and a
// dictionary column built per window costs five heap objects and their
// reference counts. The array is shared, as get's.
func (c *nullArrays) constant(col, rows int, v int8, dicts *dictionaries) arrow.Array {
	if !c.serves(rows) || v < 0 {
		return nil
	}
	byV := c.consts[col]
	if int(v) < len(byV) && rows < len(byV[v]) && byV[v][rows] != nil {
		return byV[v][rows]
	}
	if c.n >= maxNullArrays {
		return nil
	}
	if int(v) >= len(byV) {
		byV = append(byV, make([][]arrow.Array, int(v)+1-len(byV))...)
		c.consts[col] = byV
	}
	byV[v] = withRow(byV[v], rows)
	vals := constBytes(v)[:rows:rows]
	d := array.NewDataWithDictionary(colTypes[col], rows, []*memory.Buffer{nil, memory.NewBufferBytes(vals)}, 0, 0, dicts[col].Data().(*array.Data))
	a := array.MakeFromData(d)
	d.Release()
	byV[v][rows] = a
	c.n++
	return a
}

// constVals holds, for each index v, maxNullRows bytes of v at
// v·maxNullRows (64-byte aligned, as nullZeros), made on first use and
// never written after: assemblers on several goroutines share it.
var constVals = sync.OnceValue(func() []byte {
	const n = 128 * maxNullRows
	b := make([]byte, n+64)
	shift := int((64 - uintptr(unsafe.Pointer(unsafe.SliceData(b)))%64) % 64)
	b = b[shift : shift+n : shift+n]
	for i := range b {
		b[i] = byte(i / maxNullRows)
	}
	return b
})

func constBytes(v int8) []byte {
	k := int(v) * maxNullRows
	return constVals()[k : k+maxNullRows : k+maxNullRows]
}

// release forgets the arrays (leaving them to the windows that still
// share them, and then to the garbage collector: they are never released).
func (c *nullArrays) release() {
	clear(c.byCol[:])
	clear(c.consts[:])
	c.n = 0
}

// tenantArrays caches the tenant column of windows whose rows all belong
// to one tenant (a fleet of one tenant, an import, a partition of a small
// deployment): that column is the tenant's id repeated, the same array in
// every such window of that many rows. The device column of a window of
// one device is the same array for the device's id (a host of imported
// Zeek history, mostly), and comes from here too. Like nullArrays it
// serves windows of up to maxNullRows rows, and its arrays are immutable,
// shared, in Go memory and never released.
type tenantArrays struct {
	byTenant map[string][]arrow.Array // by rows
	bytes    int                      // of the arrays' buffers
	off      bool                     // serve nothing (tests)
}

// maxTenantBytes bounds the bytes of the cached tenant columns.
const maxTenantBytes = 4 << 20

// get returns the tenant column of a window of rows rows of tenant alone
// (nil, or an all-null column for tenant "", when it is not served), and
// whether it is shared (the caller takes no reference) as nullArrays.get.
func (c *tenantArrays) get(tenant string, rows int, nulls *nullArrays, dicts *dictionaries) (arrow.Array, bool) {
	if c.off || rows <= 0 || rows > maxNullRows {
		return nil, false
	}
	if tenant == "" {
		return nulls.get(ColTenant, rows, dicts)
	}
	byRows := c.byTenant[tenant]
	if rows < len(byRows) && byRows[rows] != nil {
		return byRows[rows], true
	}
	size := 4*(rows+1) + rows*len(tenant)
	if c.bytes+size > maxTenantBytes {
		return nil, false
	}
	a := newTenantArray(tenant, rows)
	if c.byTenant == nil {
		c.byTenant = make(map[string][]arrow.Array)
	}
	byRows = withRow(byRows, rows)
	c.byTenant[tenant] = byRows
	byRows[rows] = a
	c.bytes += size
	return a, true
}

// newTenantArray builds the utf8 column of rows rows that all hold tenant
// (not empty) exactly as the window's tenant column is built: no validity
// bitmap, offsets, the bytes.
func newTenantArray(tenant string, rows int) arrow.Array {
	offs := make([]int32, rows+1)
	data := make([]byte, 0, rows*len(tenant))
	for i := range rows {
		offs[i] = int32(len(data))
		data = append(data, tenant...)
	}
	offs[rows] = int32(len(data))
	d := array.NewData(arrow.BinaryTypes.String, rows, []*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offs)), memory.NewBufferBytes(data)}, nil, 0, 0)
	a := array.MakeFromData(d)
	d.Release()
	return a
}

// release forgets the arrays (see nullArrays.release).
func (c *tenantArrays) release() {
	c.byTenant, c.bytes = nil, 0
}
