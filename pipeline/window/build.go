package window

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// build turns a pending window into a Window. The devices are sorted by
// (tenant, device); a counting pass over the rows' device groups gives the
// permutation from arrival order to batch order (each device's rows in
// arrival order, sorted by (time, id) only when they did not arrive in that
// order), and every column is gathered through it into the Arrow buffers of
// the batch. The sizes are known exactly (rows, string bytes per column), so
// the buffers are cut from one slab and filled with plain stores: no
// builder bookkeeping per value.
func (a *Assembler) build(w *pending) *Window {
	n, ng := w.n, len(w.groups)
	order := resized(a.order, 0, ng)
	for g := range order {
		order[g] = int32(g)
	}
	// The devices' ids are read in one pass first: their states are
	// mostly out of cache when a window closes, and the loads of a pass
	// overlap where the sort's comparisons would wait for each in turn.
	keys := resized(a.keys, 0, ng)
	for g := range keys {
		d := w.groups[g].dev
		keys[g] = devKey{d.tenant.name, d.device}
	}
	slices.SortFunc(order, func(x, y int32) int {
		kx, ky := &keys[x], &keys[y]
		return cmp.Or(strings.Compare(kx.tenant, ky.tenant), strings.Compare(kx.device, ky.device))
	})
	pos := resized(a.pos, 0, ng)
	// The Window, its record, its numeric arrays and (one device: most
	// windows of imported history) its device list are one struct.
	wm := &a.cols.chunks.wins.take(1, n)[0]
	devs := wm.devs[:min(ng, len(wm.devs))]
	if ng > len(wm.devs) {
		devs = a.cols.chunks.devs.take(ng, n)
	}
	var tenantBytes, deviceBytes int
	i := 0
	for k, g := range order {
		key, m := &keys[g], int(w.groups[g].n)
		pos[g] = int32(i)
		d := &devs[k] // field by field (see the Window below)
		d.Tenant, d.Device, d.Rows = key.tenant, key.device, [2]int{i, i + m}
		tenantBytes += m * len(key.tenant)
		deviceBytes += m * len(key.device)
		i += m
	}
	perm := resized(a.perm, 0, n)
	for k := range blocks(n) {
		rs, _ := w.block(k, n)
		base := int32(k * blockRows)
		for r := range rs {
			g := rs[r].grp
			perm[pos[g]] = base + int32(r)
			pos[g]++
		}
	}
	// Rows usually arrive in (time, id) order per device; add noted
	// those that did not.
	for k, g := range order {
		if w.groups[g].unsorted {
			// Stable: duplicates of one event keep their log order.
			slices.SortStableFunc(perm[devs[k].Rows[0]:devs[k].Rows[1]], w.cmpRows)
		}
	}
	clear(keys) // no strings kept alive by the scratch
	a.order, a.pos, a.perm, a.keys = order, pos, perm, keys

	var strBytes [numStr]int
	for s := range strBytes {
		strBytes[s] = len(w.data[s])
	}
	// The columns without a value in any row, when the all-null cache
	// gives their arrays: they need no room in the batch's memory.
	var nullGroups uint8
	var nullStr [numStr]bool
	if a.nulls.serves(n) {
		var present uint8
		for k := range blocks(n) {
			rs, _ := w.block(k, n)
			for i := range rs {
				present |= rs[i].valid
			}
		}
		nullGroups = ^present & (vAuth<<1 - 1) // the five validity groups
		for s := range nullStr {
			nullStr[s] = strBytes[s] == 0
		}
	}
	// The tenant column of a window of one tenant comes from the cache,
	// and so does the device column of a window of one device (a host of
	// imported Zeek history, mostly): it is the same array as the tenant
	// column of a tenant of that name.
	var runCols [2]arrow.Array
	var runShared [2]bool
	if ng > 0 && devs[0].Tenant == devs[ng-1].Tenant { // sorted by tenant
		runCols[0], runShared[0] = a.tenantCols.get(devs[0].Tenant, n, &a.nulls, a.dicts)
	}
	if ng == 1 && devs[0].Device != "" {
		runCols[1], runShared[1] = a.tenantCols.get(devs[0].Device, n, &a.nulls, a.dicts)
	}
	c := &a.cols
	c.reset(a.batchMem, n, &strBytes, tenantBytes, deviceBytes, nullGroups, &nullStr, [2]bool{runCols[0] != nil, runCols[1] != nil})
	c.gather(&w.rows, perm)
	for k := range blocks(n) {
		_, ends := w.block(k, n)
		c.sink += touch(ends)
	}
	// A small window's values are copied as stringSpans lays them out;
	// a larger one's a column at a time (see stringSpans).
	var total int
	for _, b := range strBytes {
		total += b
	}
	fused := total <= fusedBytes
	a.spans = c.stringSpans(&w.rows, perm, a.spans, fused)
	if !fused {
		for s := range numStr {
			c.gatherStrings(s, &w.rows, a.spans)
		}
	}
	c.wm, c.arrs = wm, &wm.rec.cols
	cols := c.finish(a.dicts, &a.nulls)
	for k, col := range [2]int{ColTenant, ColDevice} {
		if cols[col] = runCols[k]; runCols[k] == nil {
			cols[col] = c.runStrings(k, devs, runOf[k])
		} else if runShared[k] {
			c.shared |= 1 << col
		}
	}
	shared, slab, slices := c.shared, c.slab, c.slices
	if slices == 0 {
		slab = nil // released
	}
	c.release()
	wm.rec.init(n, shared, slab, slices) // takes the columns' references, made in its cols
	c.arrs = nil
	// Field by field into the zero Window: a whole one stored went
	// through a bulk write barrier while the garbage collector marks.
	ww := &wm.w
	ww.Partition = w.part
	ww.Start, ww.End = time.Unix(0, w.start).UTC(), time.Unix(0, w.end).UTC()
	ww.Batch, ww.Devices = &wm.rec, devs
	return ww
}

// windowMem holds a built Window with its record, its numeric arrays
// and, for a window of one device, its device list.
type windowMem struct {
	w    Window
	rec  record
	devs [1]DeviceRows
	// dst_port and status, bytes_up and bytes_down, duration_ns and
	// latency_ns (see columns.array)
	u32 [2]array.Uint32
	u64 [2]array.Uint64
	i64 [2]array.Int64
}

// runOf gives the value of the tenant and device columns of a device's rows.
var runOf = [2]func(*DeviceRows) string{
	func(d *DeviceRows) string { return d.Tenant },
	func(d *DeviceRows) string { return d.Device },
}

// cmpRows orders rows x and y by (time, id).
func (r *rows) cmpRows(x, y int32) int {
	rx, ry := r.row(int(x)), r.row(int(y))
	if c := cmp.Compare(rx.t, ry.t); c != 0 {
		return c
	}
	return bytes.Compare(rx.id[:], ry.id[:])
}

// columns holds the buffers of a batch being written, with typed views.
// Every buffer is cut from one slab; the memory.Buffer of a cut is made
// only when an array uses it (a validity bitmap of a column without nulls
// is not).
//
// Each array's data holds one reference to the slab: its values buffer (a
// string column's bytes) is a slice of the slab (memory.SliceBuffer), so
// the slab is freed, or recycled, when the last array of the window is
// released, whichever holds it. Its other buffers (validity bitmaps,
// offsets) view the same slab without a reference count of their own
// (plain): an array's buffers live exactly as long as the array, and
// one reference per array is all the slab needs. The plain buffers,
// like the arrays' Data and most arrays, come from chunks shared by
// windows (see chunk), where each buffer was an allocation, with a
// reference count taken and dropped on the slab.
type columns struct {
	n      int
	slab   *memory.Buffer // every buffer's bytes
	off    int            // the next free byte of slab
	align  int            // of each buffer in slab (a power of two)
	slices int            // the values buffers made (see buffer)
	wm     *windowMem     // the window's, holding its numeric arrays
	fixed  [NumCols]cut   // the data of each fixed-width column

	time                             []arrow.Timestamp
	id                               []byte
	typ, mode, reason, outcome, auth []int8
	port, status                     []uint32
	up, down                         []uint64
	dur, lat                         []int64
	// validity of the nullable fixed-width groups (vPort, vMode, vClosed,
	// vTx, vAuth), shared by the columns of a group, and their null counts
	valid      [5]cut
	validBuf   [5]*memory.Buffer
	validBits  [5][]byte
	validNulls [5]int
	// string and binary columns
	sBuf   [numStr][3]cut // validity, offsets, data
	sNull  [numStr]bool   // no value in any row, and no buffers (see reset)
	sNulls [numStr]int
	// memory the gather writes the all-null groups to (see reset): never
	// part of a batch
	scratch []byte
	// the tenant and device columns: validity, offsets, data; how many
	// are built
	run  [2][3]cut
	runs int
	// the batch's arrays
	arrs   *[NumCols]arrow.Array // the record's (see build)
	shared uint32                // the arrays of arrs from the caches (see record)
	// where the structs of the windows' arrays come from
	chunks struct {
		wins  chunk[windowMem]
		mem   chunk[colMem]
		bufs  chunk[memory.Buffer] // the slab, values and plain buffers
		strs  chunk[array.String]
		dicts chunk[dictMem]
		times chunk[array.Timestamp]
		fsbs  chunk[array.FixedSizeBinary]
		devs  chunk[DeviceRows] // the device lists of windows of several devices
	}
	// what touch read, kept so that the reads are not optimized away
	sink byte
}

// colMem is the memory of one array of a batch besides the Arrow buffers
// and the array itself: its Data and its buffer list. A batch's come from
// a chunk (finish), where each Data was an allocation: arrow-go's
// Data.Reset makes a Data of a zero one, as NewData would.
type colMem struct {
	data array.Data
	list [3]*memory.Buffer
}

// newData returns the Data of the batch's next array, as array.NewData
// (with dict, NewDataWithDictionary) would, but without a reference: the
// array made of it (see array) takes the one it keeps, where NewData's
// would be dropped right after, two atomic operations an array. Nor does
// it take one on dict's Data, one of the shared dictionaries, whose count
// is immortal (see newDictionaries).
//
// Its buffers are the validity bitmap (nil for none) and the values (b1),
// or the offsets (b1) and the values (b2) of a string column (b2 nil for
// a fixed-width one). The list is written pointer by pointer: a copy of
// a slice of them called typedslicecopy, and its bulk write barrier while
// the garbage collector marks, for each array of every window.
func (c *columns) newData(dt arrow.DataType, valid, b1, b2 *memory.Buffer, nulls int, dict arrow.Array) *array.Data {
	m := &c.chunks.mem.take(1, c.n)[0]
	m.list[0], m.list[1] = valid, b1
	list := m.list[:2:2]
	if b2 != nil {
		m.list[2] = b2
		list = m.list[:3:3]
	}
	d := &m.data
	c.setData(d, dt, c.n, list, nulls, 0)
	if dict != nil {
		(*dataLayout)(unsafe.Pointer(d)).dictionary = dict.Data().(*array.Data)
	}
	return d
}

// setData makes d, a zero Data from the chunks, what Data.Reset makes of
// it (with no children): it sets the fields and retains the buffers,
// those of the window's slab (the values buffers, not shared yet) with a
// plain add (see setCount).
func (c *columns) setData(d *array.Data, dt arrow.DataType, n int, bufs []*memory.Buffer, nulls, offset int) {
	for _, b := range bufs {
		if b == nil {
			continue
		}
		if l := (*bufferLayout)(unsafe.Pointer(b)); c.slab != nil && l.parent == c.slab {
			addCount(&l.refCount, 1)
		} else {
			b.Retain()
		}
	}
	l := (*dataLayout)(unsafe.Pointer(d))
	l.dtype, l.length, l.buffers, l.nulls, l.offset = dt, n, bufs, nulls, offset
}

// chunk hands out the structs of windows' arrays (Window and record,
// Data, Buffer, the arrays, device lists) from allocations of
// chunkBytes, each shared by the windows that take from it. A window's
// were four allocations, of 0.5
// to 2 KiB: sizes of which a span holds a few, so that every few windows
// the allocator refilled a span (and swept it), which cost the allocations
// several times their zeroing. A chunk stays alive as long as any of its
// windows (or a column of one a consumer retains); the structs are never
// reused.
//
// A released array still points to the window's Arrow memory (arrow-go
// drops its Data, not its view of the values), so a chunk kept alive by
// one window keeps the others' memory from the garbage collector too
// (without Config.Recycle: with it, the slab pool has it anyway). Only
// windows of up to chunkRows rows share chunks, which bounds that memory
// to some MB; a larger window costs its rows far more than its few
// dozen structs, and has each of its own. A window takes its structs one
// at a time, as it makes its arrays: none is left unused (sized up front,
// a window's took a quarter more than it used, memory the collector
// then allocated and scanned).
//
// The chunk's slice stays put and an index moves along it: moving the
// slice wrote its pointer at every take, some fifty a window, each
// through the write barrier while the garbage collector marks.
type chunk[T any] struct {
	free []T
	next int // free[next:] is free
}

const (
	// chunkBytes is the size of the allocations of a chunk: past the
	// allocator's size classes (32 KiB), so that each is one span of
	// its own.
	chunkBytes = 40 << 10
	// chunkRows is the most rows of a window that takes from chunks.
	chunkRows = 512
)

// take returns n zero Ts for a window of rows rows.
func (ch *chunk[T]) take(n, rows int) []T {
	if rows > chunkRows {
		return make([]T, n)
	}
	k := ch.next
	if len(ch.free)-k < n {
		var t T
		ch.free, k = make([]T, max(n, chunkBytes/int(unsafe.Sizeof(t)))), 0
	}
	ch.next = k + n
	return ch.free[k : k+n : k+n]
}

// cut is a range of a columns' slab.
type cut struct{ off, n int }

// cut takes the next size bytes of the window's slab (laid out by reset
// before the slab is allocated). Every buffer of a window's columns comes
// from one allocation: a sparse window of a few dozen rows used to cost
// some fifty.
func (c *columns) cut(size int) cut {
	k := cut{c.off, size}
	c.off += (size + c.align - 1) &^ (c.align - 1)
	return k
}

func (c *columns) bytes(k cut) []byte { return c.slab.Bytes()[k.off : k.off+k.n] }

// buffer makes the memory.Buffer of k, holding a reference to the slab:
// the values buffer of an array (see columns). It has no reference of its
// own until the array's Data takes one (newData), and its reference to
// the slab is counted by release, once for all: memory.SliceBuffer took
// both, and build dropped the first right after, four atomic operations
// a buffer where one is left. The record keeps it as column col's
// values buffer (see record.sole).
func (c *columns) buffer(col int, k cut) *memory.Buffer {
	b := &c.chunks.bufs.take(1, c.n)[0]
	sliceBuffer(b, c.slab, k.off, k.n)
	c.slices++
	c.wm.rec.vals[col] = b
	return b
}

// array returns the array of column col (type dt) of d (from newData),
// which holds the one reference to d. The numeric and utf8 arrays are
// zero arrays of the window's memory (wm, strs: from chunks) that
// arrow-go's Reset and Retain make what its constructors would (these set
// nothing else): a window's dozen arrays were a dozen allocations. The
// dictionary, timestamp and fixed-size binary arrays are zero arrays from
// the chunks too, written through mirrors (see mirrors.go).
func (c *columns) array(col int, dt arrow.DataType, d *array.Data) arrow.Array {
	var a arrow.Array
	switch col {
	case ColDstPort, ColStatus:
		a = resetNumeric(&c.wm.u32[min(col-ColDstPort, 1)], d)
	case ColBytesUp, ColBytesDown:
		a = resetNumeric(&c.wm.u64[col-ColBytesUp], d)
	case ColDurationNs, ColLatencyNs:
		a = resetNumeric(&c.wm.i64[min(col-ColDurationNs, 1)], d)
	default:
		switch dt.ID() {
		case arrow.DICTIONARY:
			a = c.dictionaryArray(d)
		case arrow.TIMESTAMP:
			a = c.timestampArray(d)
		case arrow.FIXED_SIZE_BINARY:
			a = c.fixedSizeBinaryArray(d)
		case arrow.STRING:
			s := &c.chunks.strs.take(1, c.n)[0]
			s.Reset(d)
			setCount(&(*arrayLayout)(unsafe.Pointer(s)).refCount, 1)
			a = s
		default:
			a = array.MakeFromData(d)
		}
	}
	return a
}

// resetNumeric makes a, a zero array of the window's (see setCount), the
// array of d (with one reference).
func resetNumeric[P interface {
	*T
	arrow.Array
	Reset(*array.Data)
}, T any](a P, d *array.Data) arrow.Array {
	a.Reset(d)
	setCount(&(*arrayLayout)(unsafe.Pointer(a)).refCount, 1)
	return a
}

// plainBuffer makes a memory.Buffer of k without a reference count (see
// columns): an array's buffer besides its values.
func (c *columns) plainBuffer(k cut) *memory.Buffer {
	b := &c.chunks.bufs.take(1, c.n)[0]
	b.Reset(c.bytes(k))
	return b
}

// Alignment of the buffers in a slab: Arrow's recommended 64 bytes, or 8
// (the other alignment the format allows, and the widest value's) in a
// window of fewer than smallRows rows, where 64 would more than double
// the slab of a window of a dozen rows.
const (
	bigAlign  = 64
	smallRows = 64
)

// fixedCol is a fixed-width column: its width in bytes and its validity
// group (-1: never null).
type fixedCol struct{ col, width, group int }

var fixedCols = [...]fixedCol{
	{ColTime, 8, -1}, {ColID, 16, -1}, {ColType, 1, -1},
	{ColDstPort, 4, 0}, {ColMode, 1, 1},
	{ColBytesUp, 8, 2}, {ColBytesDown, 8, 2}, {ColDurationNs, 8, 2}, {ColCloseReason, 1, 2},
	{ColStatus, 4, 3}, {ColOutcome, 1, 3}, {ColLatencyNs, 8, 3},
	{ColAuthReason, 1, 4},
}

// reset prepares c, reused from an earlier window, for a batch of n rows.
// The groups of nullGroups (bit g: validity group g) and the string
// columns of nullStr have no value in any row and their arrays come from
// the all-null cache: they get no room in the slab (the gather writes
// their zeros to scratch memory instead). The tenant and device columns of
// cached (0: tenant, 1: device) come from the tenant cache, and get none
// either.
func (c *columns) reset(mem memory.Allocator, n int, strBytes *[numStr]int, tenantBytes, deviceBytes int, nullGroups uint8, nullStr *[numStr]bool, cached [2]bool) {
	// Field by field, not *c = columns{...}: the struct is 2 KiB with
	// pointers, whose copy while the garbage collector marks cost a write
	// barrier per pointer slot, every window. What the layout below
	// leaves unset for a column it does not lay out is never read.
	c.n, c.off, c.slices, c.runs, c.shared = n, 0, 0, 0, 0
	c.slab, c.wm, c.arrs = nil, nil, nil
	c.validBuf, c.validNulls = [5]*memory.Buffer{}, [5]int{}
	c.fixed, c.valid, c.sBuf, c.run = [NumCols]cut{}, [5]cut{}, [numStr][3]cut{}, [2][3]cut{}
	c.align = bigAlign
	if n < smallRows {
		c.align = 8
	}
	bitmap := int(bitutil.BytesForBits(int64(n)))
	// Lay the buffers out, then allocate the slab.
	var scratch [len(fixedCols)]cut
	inScratch := 0
	for k, f := range fixedCols {
		if f.group >= 0 && nullGroups&(1<<f.group) != 0 {
			scratch[k] = cut{inScratch, f.width * n}
			inScratch += (f.width*n + 7) &^ 7
			continue
		}
		c.fixed[f.col] = c.cut(f.width * n)
	}
	var validScratch [5]cut
	for g := range c.valid {
		if nullGroups&(1<<g) != 0 {
			validScratch[g] = cut{inScratch, bitmap}
			inScratch += (bitmap + 7) &^ 7
			continue
		}
		c.valid[g] = c.cut(bitmap)
	}
	for s := range numStr {
		if c.sNull[s] = nullStr[s]; !nullStr[s] {
			c.sBuf[s] = [3]cut{c.cut(bitmap), c.cut(4 * (n + 1)), c.cut(strBytes[s] + copyPad)}
			c.sBuf[s][2].n = strBytes[s] // the values, then copyPad bytes that no array holds
		}
	}
	for k, total := range [2]int{tenantBytes, deviceBytes} {
		if cached[k] {
			continue // no column to build
		}
		c.runs++
		c.run[k] = [3]cut{c.cut(bitmap), c.cut(4 * (n + 1)), c.cut(total)}
	}
	c.slab = &c.chunks.bufs.take(1, n)[0]
	resizableBuffer(c.slab, mem)
	c.slab.Resize(c.off)
	if cap(c.scratch) < inScratch {
		c.scratch = make([]byte, inScratch+inScratch/4)
	}
	// The bitmaps are zeroed; the other buffers are overwritten entirely.
	for g := range c.valid {
		if nullGroups&(1<<g) != 0 {
			c.validBits[g] = c.scratch[validScratch[g].off : validScratch[g].off+bitmap]
		} else {
			c.validBits[g] = c.bytes(c.valid[g])
			clear(c.validBits[g])
		}
	}
	for s := range numStr {
		if !nullStr[s] {
			clear(c.bytes(c.sBuf[s][0]))
		}
	}
	for k := range c.run {
		if !cached[k] {
			clear(c.bytes(c.run[k][0]))
		}
	}
	var views [NumCols][]byte
	for k, f := range fixedCols {
		if f.group >= 0 && nullGroups&(1<<f.group) != 0 {
			views[f.col] = c.scratch[scratch[k].off : scratch[k].off+scratch[k].n]
		} else {
			views[f.col] = c.bytes(c.fixed[f.col])
		}
	}
	c.time = arrow.TimestampTraits.CastFromBytes(views[ColTime])
	c.id = views[ColID]
	c.typ = arrow.Int8Traits.CastFromBytes(views[ColType])
	c.mode = arrow.Int8Traits.CastFromBytes(views[ColMode])
	c.reason = arrow.Int8Traits.CastFromBytes(views[ColCloseReason])
	c.outcome = arrow.Int8Traits.CastFromBytes(views[ColOutcome])
	c.auth = arrow.Int8Traits.CastFromBytes(views[ColAuthReason])
	c.port = arrow.Uint32Traits.CastFromBytes(views[ColDstPort])
	c.status = arrow.Uint32Traits.CastFromBytes(views[ColStatus])
	c.up = arrow.Uint64Traits.CastFromBytes(views[ColBytesUp])
	c.down = arrow.Uint64Traits.CastFromBytes(views[ColBytesDown])
	c.dur = arrow.Int64Traits.CastFromBytes(views[ColDurationNs])
	c.lat = arrow.Int64Traits.CastFromBytes(views[ColLatencyNs])
}

func setBit(b []byte, i int) { b[i>>3] |= 1 << (i & 7) }

// gather writes the fixed-width columns of the rows in perm order, one
// row at a time: a row's fields are one record (two cache lines), where a
// gather per column read some fifteen. Null slots get zeros, so the batch's
// bytes are a function of the rows alone.
func (c *columns) gather(r *rows, perm []int32) {
	n := len(perm)
	for k := range blocks(n) {
		rs, _ := r.block(k, n)
		c.sink += touch(rs)
	}
	rs := r.r
	time, id, typ := c.time[:n], c.id[:16*n], c.typ[:n]
	port, mode, auth := c.port[:n], c.mode[:n], c.auth[:n]
	up, down, dur, reason := c.up[:n], c.down[:n], c.dur[:n], c.reason[:n]
	status, outcome, lat := c.status[:n], c.outcome[:n], c.lat[:n]
	for i, x := range perm {
		r := &rs[x>>blockShift][x&blockMask]
		time[i] = arrow.Timestamp(r.t)
		*(*[16]byte)(id[16*i:]) = r.id
		typ[i] = int8(r.typ)
		v := r.valid
		if v&vPort != 0 {
			port[i] = r.port
			setBit(c.validBits[0], i)
		} else {
			port[i] = 0
			c.validNulls[0]++
		}
		if v&vMode != 0 {
			mode[i] = r.mode
			setBit(c.validBits[1], i)
		} else {
			mode[i] = 0
			c.validNulls[1]++
		}
		if v&vClosed != 0 {
			up[i], down[i], dur[i], reason[i] = r.up, r.down, r.dur, r.reason
			setBit(c.validBits[2], i)
		} else {
			up[i], down[i], dur[i], reason[i] = 0, 0, 0, 0
			c.validNulls[2]++
		}
		if v&vTx != 0 {
			status[i], outcome[i], lat[i] = r.status, r.outcome, r.lat
			setBit(c.validBits[3], i)
		} else {
			status[i], outcome[i], lat[i] = 0, 0, 0
			c.validNulls[3]++
		}
		if v&vAuth != 0 {
			auth[i] = r.auth
			setBit(c.validBits[4], i)
		} else {
			auth[i] = 0
			c.validNulls[4]++
		}
	}
}

// stringSpans lays out the string columns of the rows in perm order: their
// offsets, validity bits and null counts, and in spans (returned, grown
// from the one given), column after column, where each value is in its
// column's pending bytes: its start and end (end<<32 | start), for the
// non-null values alone, in order (n slots a column, the first n-nulls
// used). A null takes no entry: gatherStrings's pass reads only the
// values it copies, where one over every row (more than half of them
// null, in a window of mixed events) read the offsets of each as well. A row's ends, and its predecessor's (where its
// values begin), are adjacent, so this one pass reads a row's ends once
// for every column; a pass per column read them ten times, each time at
// random through a window's ends (40 bytes a row: 500 KB for 12 500 rows,
// more than the core's cache), where the offsets and starts written here are
// then read in order.
//
// With fused, it copies the values too, as it lays them out (spans is
// left as given), which reads each column's pending bytes at random: for
// a window whose string bytes are few (fusedBytes), all of them in the
// core's cache, where the pass of gatherStrings per column, which reads
// back the offsets and starts, cost about as much as the copies.
func (c *columns) stringSpans(r *rows, perm []int32, spans []uint64, fused bool) []uint64 {
	n := len(perm)
	if !fused {
		spans = resized(spans, 0, numStr*n)
	}
	ends := r.ends
	// The columns built, and their buffers.
	type col struct {
		bits     []byte
		offs     []int32
		sp       []uint64 // the column's spans
		dst, src []byte   // fused: see copyString
		s        int      // the column
		pos      int32
		nulls    int
	}
	var (
		cols   [numStr]col
		active int
	)
	for s := range numStr {
		if c.sNull[s] { // no buffers: the array comes from the all-null cache
			c.sNulls[s] = n
			continue
		}
		if len(r.data[s]) == 0 { // all null
			clear(c.bytes(c.sBuf[s][1]))
			c.sNulls[s] = n
			continue
		}
		sp := &cols[active]
		sp.s = s
		sp.bits = c.bytes(c.sBuf[s][0])
		sp.offs = arrow.Int32Traits.CastFromBytes(c.bytes(c.sBuf[s][1]))[:n+1]
		if fused {
			sp.dst, sp.src = c.strDst(s), r.data[s]
			c.sink += touch(sp.src)
			sp.src = sp.src[:cap(sp.src)]
		} else {
			sp.sp = spans[s*n : (s+1)*n]
		}
		active++
	}
	act := cols[:active]
	// The rows are taken spanRows at a time: their ends found once,
	// then each column's values laid out over them in a loop of its own,
	// whose state stays in registers (a loop over the columns for each
	// row kept it in memory, some twenty instructions a value), its
	// validity bits set as one word. The chunk's ends, 2 lines a row,
	// stay in the core's cache from one column to the next.
	var zero [numStr]uint32
	var los, his [spanRows]*[numStr]uint32
	for c0 := 0; c0 < n; c0 += spanRows {
		m := min(spanRows, n-c0)
		for j, x := range perm[c0 : c0+m] {
			e := ends[x>>blockShift]
			k := int(x&blockMask) * numStr
			his[j] = (*[numStr]uint32)(e[k : k+numStr])
			switch {
			case k > 0:
				los[j] = (*[numStr]uint32)(e[k-numStr : k])
			case x > 0: // the last row of the block before
				los[j] = r.rowEnds(int(x) - 1)
			default:
				los[j] = &zero
			}
		}
		lo, hi := los[:m], his[:m]
		for a := range act {
			sp := &act[a]
			s, pos, nulls := sp.s, sp.pos, sp.nulls
			offs := sp.offs[c0 : c0+m]
			var word uint64
			if fused {
				// Inline: a fused window is small, often a few rows,
				// where a call a column would cost more than the
				// registers it frees.
				dst, src := sp.dst, sp.src
				for j := range offs {
					l, h := lo[j][s], hi[j][s]
					offs[j] = pos
					if l == h {
						nulls++
						continue
					}
					copyString(dst, int(pos), src, int(l), int(h))
					pos += int32(h - l)
					word |= 1 << j
				}
			} else {
				v := c0 - nulls // the column's values so far
				pos, v, word = spanValues(offs, lo, hi, s, pos, sp.sp, v)
				nulls = c0 + m - v
			}
			sp.pos, sp.nulls = pos, nulls
			bits := sp.bits[c0>>3 : c0>>3+(m+7)>>3]
			if len(bits) == 8 {
				binary.LittleEndian.PutUint64(bits, word)
			} else {
				for b := range bits {
					bits[b] = byte(word >> (8 * b))
				}
			}
		}
	}
	for a := range act {
		sp := &act[a]
		sp.offs[n] = sp.pos
		c.sNulls[sp.s] = sp.nulls
	}
	return spans
}

// spanValues lays out string column s of a chunk of rows (lo and hi: their
// ends, offs: their offsets) from pos, the column's next byte, and v, its
// next value in out: it returns them past the chunk, and the chunk's
// validity bits. A function of its own, called once a
// column and chunk of a large window, so that its loop has the registers
// to itself: inline in stringSpans, the loop kept its index and bits on
// the stack.
func spanValues(offs []int32, lo, hi []*[numStr]uint32, s int, pos int32, out []uint64, v int) (int32, int, uint64) {
	if uint(s) >= numStr { // s below numStr from here on: no check a value
		panic("window: no such string column")
	}
	lo, hi = lo[:len(offs)], hi[:len(offs)]
	var word uint64
	for j := range offs {
		l, h := lo[j][s], hi[j][s]
		offs[j] = pos
		if l == h {
			continue
		}
		out[v] = uint64(h)<<32 | uint64(l)
		v++
		pos += int32(h - l)
		word |= 1 << j
	}
	return pos, v, word
}

// gatherStrings copies the values of string column s into its data buffer,
// in the order stringSpans laid them out (spans: theirs, one a non-null
// value, written one after the other from the buffer's start).
func (c *columns) gatherStrings(s int, r *rows, spans []uint64) {
	n := c.n
	if c.sNull[s] || c.sNulls[s] == n {
		return
	}
	dst := c.strDst(s)
	src := r.data[s]
	c.sink += touch(src)
	src = src[:cap(src)]
	pos := 0
	for _, v := range spans[s*n : s*n+n-c.sNulls[s]] {
		lo, hi := int(uint32(v)), int(v>>32)
		copyString(dst, pos, src, lo, hi)
		pos += hi - lo
	}
}

// strDst returns the data buffer of string column s and the copyPad bytes
// after it (see reset).
func (c *columns) strDst(s int) []byte {
	k := c.sBuf[s][2]
	return c.slab.Bytes()[k.off : k.off+k.n+copyPad]
}

// finish makes the arrays (tenant and device left nil). A column without
// a value in any row is taken from nulls when it serves it.
func (c *columns) finish(dicts *dictionaries, nulls *nullArrays) []arrow.Array {
	n := c.n
	cols := c.arrs[:]
	mk := func(col, group int) {
		if group >= 0 && c.validNulls[group] == n {
			if c.null(col, nulls, dicts) {
				return
			}
		}
		if dicts[col] != nil && (group < 0 || c.validNulls[group] == 0) && c.constant(col, nulls, dicts) {
			return
		}
		var valid *memory.Buffer
		nulls := 0
		if group >= 0 && c.validNulls[group] > 0 {
			if c.validBuf[group] == nil {
				c.validBuf[group] = c.plainBuffer(c.valid[group])
			}
			valid, nulls = c.validBuf[group], c.validNulls[group]
		}
		dt := colTypes[col]
		cols[col] = c.array(col, dt, c.newData(dt, valid, c.buffer(col, c.fixed[col]), nil, nulls, dicts[col]))
	}
	mk(ColTime, -1)
	mk(ColID, -1)
	mk(ColType, -1)
	mk(ColDstPort, 0)
	mk(ColMode, 1)
	for _, col := range []int{ColBytesUp, ColBytesDown, ColDurationNs, ColCloseReason} {
		mk(col, 2)
	}
	for _, col := range []int{ColStatus, ColOutcome, ColLatencyNs} {
		mk(col, 3)
	}
	mk(ColAuthReason, 4)
	for s := range numStr {
		col := strCols[s]
		if c.sNulls[s] == n {
			if c.null(col, nulls, dicts) {
				continue
			}
		}
		var valid *memory.Buffer
		if c.sNulls[s] > 0 {
			valid = c.plainBuffer(c.sBuf[s][0])
		}
		dt := colTypes[col]
		cols[col] = c.array(col, dt, c.newData(dt, valid, c.plainBuffer(c.sBuf[s][1]), c.buffer(col, c.sBuf[s][2]), c.sNulls[s], nil))
	}
	return cols
}

// null sets column col to the all-null array of nulls when it serves the
// batch's rows, and reports whether it did.
func (c *columns) null(col int, nulls *nullArrays, dicts *dictionaries) bool {
	a, shared := nulls.get(col, c.n, dicts)
	if a == nil {
		return false
	}
	c.arrs[col] = a
	if shared {
		c.shared |= 1 << col
	}
	return true
}

// constant takes the array of dictionary column col (int8 indices, no
// nulls) from the cache when every row has the same index, and reports
// whether it did.
func (c *columns) constant(col int, nulls *nullArrays, dicts *dictionaries) bool {
	if !nulls.serves(c.n) {
		return false
	}
	vals := c.bytes(c.fixed[col])
	v := vals[0]
	for _, x := range vals[1:] {
		if x != v {
			return false
		}
	}
	a := nulls.constant(col, c.n, int8(v), dicts)
	if a == nil {
		return false
	}
	c.arrs[col] = a
	c.shared |= 1 << col
	return true
}

// release gives the slab one reference per values buffer made, in place
// of its own (the arrays hold theirs): nothing else holds the slab yet.
func (c *columns) release() {
	setSliceRefs(c.slab, c.slices)
	c.slab, c.wm = nil, nil
}

// runStrings builds run k of the tenant and device columns: a utf8 column
// that repeats f(d) over each device's rows (null where f(d) is empty).
func (c *columns) runStrings(k int, devs []DeviceRows, f func(*DeviceRows) string) arrow.Array {
	n, nulls := c.n, 0
	bits := c.bytes(c.run[k][0])
	o := arrow.Int32Traits.CastFromBytes(c.bytes(c.run[k][1]))[:n+1]
	dst := c.bytes(c.run[k][2])
	pos, row := int32(0), 0
	for i := range devs {
		s := f(&devs[i])
		m := devs[i].Rows[1] - devs[i].Rows[0]
		if s == "" {
			for range m {
				o[row] = pos
				row++
			}
			nulls += m
			continue
		}
		// The device's m values, s each, are written once and then
		// doubled, a copy of what is written so far each time: a copy
		// per row was a call to memmove per row (a large window's
		// device holds dozens, its tenant thousands).
		start, total := int(pos), m*len(s)
		out := dst[start : start+total]
		for done := copy(out, s); done < total; {
			done += copy(out[done:], out[:done])
		}
		bitutil.SetBitsTo(bits, int64(row), int64(m), true)
		for range m {
			o[row] = pos
			pos += int32(len(s))
			row++
		}
	}
	o[n] = pos
	var valid *memory.Buffer
	if nulls > 0 {
		valid = c.plainBuffer(c.run[k][0])
	}
	dt := arrow.BinaryTypes.String
	return c.array(ColTenant+k, dt, c.newData(dt, valid, c.plainBuffer(c.run[k][1]), c.buffer(ColTenant+k, c.run[k][2]), nulls, nil))
}

// spanRows is how many rows stringSpans lays out at a time: a word of
// validity bits.
const spanRows = 64

// fusedBytes is the most string bytes of a window (all its columns
// together) whose values stringSpans copies itself.
var fusedBytes = 16 << 10 // a variable so that a test can move it

// copyPad is how far past a value's end copyString may read and write: the
// slab holds that much after each string column's values (see reset), and
// a pending window's bytes mostly have that much room (see newPending).
const copyPad = 32

// copyString copies src[lo:hi] to dst[pos:]. A value of up to copyPad
// bytes (mostly an address, an id or a hash) far enough from both ends is
// copied by two 16-byte loads and stores, without a call to memmove, which
// cost more than the copy: the bytes it writes past the value's end belong
// to the values of the column that follow, which are written after it, or
// to the column's padding. The bytes it reads past the value's end may be
// past the pending bytes' length, within their capacity.
func copyString(dst []byte, pos int, src []byte, lo, hi int) {
	if hi-lo <= copyPad && uint(pos)+copyPad <= uint(len(dst)) && uint(lo)+copyPad <= uint(len(src)) {
		// Two 16-byte halves through pointers, the bounds checked above
		// (dst and src do not overlap): a copy of the whole array the
		// compiler makes a call to memmove, and slices of the two add a
		// dozen instructions of bounds checks and masks.
		d := unsafe.Add(unsafe.Pointer(unsafe.SliceData(dst)), pos)
		s := unsafe.Add(unsafe.Pointer(unsafe.SliceData(src)), lo)
		*(*[16]byte)(d) = *(*[16]byte)(s)
		*(*[16]byte)(unsafe.Add(d, 16)) = *(*[16]byte)(unsafe.Add(s, 16))
		return
	}
	copy(dst[pos:], src[lo:hi])
}

// touch reads one byte of each cache line of s, in order, and returns their
// sum. The rows of a window were written up to a window's length ago and
// are mostly out of cache when it closes; the gathers read them in
// permutation order, where every cache line missed costs a full memory
// latency. Read in order first, they stream in at memory bandwidth (the
// hardware prefetcher follows), and the gather, column by column, finds
// them in the core's cache.
func touch[T any](s []T) byte {
	if len(s) == 0 {
		return 0
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
	var sum byte
	for i := 0; i < len(b); i += 64 {
		sum += b[i]
	}
	return sum
}
