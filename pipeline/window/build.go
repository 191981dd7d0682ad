package window

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// build turns a pending window into a Window: the devices sorted by
// (tenant, device), each device's rows walked chunk by chunk (and sorted by
// (time, id) when they did not arrive in that order), and every row written
// into the Arrow buffers of the batch. The sizes are known exactly (rows,
// string bytes per column), so the buffers are allocated once and filled
// with plain stores: no builder bookkeeping per value.
func (a *Assembler) build(w *pending) *Window {
	slices.SortFunc(w.groups, func(x, y group) int {
		return cmp.Or(strings.Compare(x.dev.key.tenant, y.dev.key.tenant), strings.Compare(x.dev.key.device, y.dev.key.device))
	})
	c := newColumns(a.slabs, w.n, &w.strBytes)
	devs := make([]DeviceRows, len(w.groups))
	var tmp []row
	i := 0
	for gi := range w.groups {
		g := &w.groups[gi]
		lo := i
		// Rows usually arrive in (time, id) order per device; check.
		sorted := true
		var prev *row
		for k, ch := int32(0), g.head; k < g.n; k++ {
			if k > 0 && k%chunkRows == 0 {
				ch = w.chunkNext[ch]
			}
			x := w.row(ch, k%chunkRows)
			if prev != nil && cmpRows(prev, x) > 0 {
				sorted = false
				break
			}
			prev = x
		}
		if sorted {
			for k, ch := int32(0), g.head; k < g.n; k++ {
				if k > 0 && k%chunkRows == 0 {
					ch = w.chunkNext[ch]
				}
				c.put(i, w.row(ch, k%chunkRows), w.arena)
				i++
			}
		} else {
			tmp = tmp[:0]
			for k, ch := int32(0), g.head; k < g.n; k++ {
				if k > 0 && k%chunkRows == 0 {
					ch = w.chunkNext[ch]
				}
				tmp = append(tmp, *w.row(ch, k%chunkRows))
			}
			// Stable: duplicates of one event keep their log order.
			slices.SortStableFunc(tmp, func(x, y row) int { return cmpRows(&x, &y) })
			for k := range tmp {
				c.put(i, &tmp[k], w.arena)
				i++
			}
		}
		devs[gi] = DeviceRows{Tenant: g.dev.key.tenant, Device: g.dev.key.device, Rows: [2]int{lo, i}}
	}
	cols := c.finish(a.dicts)
	cols[ColTenant] = runStrings(a.mem, devs, func(d *DeviceRows) string { return d.Tenant })
	cols[ColDevice] = runStrings(a.mem, devs, func(d *DeviceRows) string { return d.Device })
	batch := array.NewRecordBatch(Schema, cols, int64(w.n))
	for _, col := range cols {
		col.Release()
	}
	return &Window{
		Partition: w.part,
		Start:     time.Unix(0, w.start).UTC(),
		End:       time.Unix(0, w.end).UTC(),
		Batch:     batch,
		Devices:   devs,
	}
}

// columns holds the buffers of a batch being written, with typed views.
type columns struct {
	mem   memory.Allocator
	n     int
	slab  *memory.Buffer          // every buffer's bytes
	off   int                     // the next free byte of slab
	bufs  []*memory.Buffer        // every buffer, released by finish
	fixed [NumCols]*memory.Buffer // the data buffer of each fixed-width column

	time                             []arrow.Timestamp
	id                               []byte
	typ, mode, reason, outcome, auth []int8
	port, status                     []uint32
	up, down                         []uint64
	dur, lat                         []int64
	// validity of the nullable fixed-width groups (vPort, vMode, vClosed,
	// vTx, vAuth), shared by the columns of a group, and their null counts
	valid      [5]*memory.Buffer
	validBits  [5][]byte
	validNulls [5]int
	// string and binary columns
	offs   [numStr][]int32
	data   [numStr][]byte
	pos    [numStr]int32
	sBuf   [numStr][3]*memory.Buffer // validity, offsets, data
	sBits  [numStr][]byte
	sNulls [numStr]int
}

// buf cuts the next size bytes of the window's slab (zeroed when zero is
// set; the other buffers are overwritten entirely). Every buffer of a
// window's columns comes from one allocation: a sparse window of a few
// dozen rows used to cost some fifty.
func (c *columns) buf(size int, zero bool) *memory.Buffer {
	b := memory.SliceBuffer(c.slab, c.off, size)
	c.off += align(size)
	if zero {
		clear(b.Buf())
	}
	c.bufs = append(c.bufs, b)
	return b
}

// align rounds n up to Arrow's recommended 64-byte alignment.
func align(n int) int { return (n + 63) &^ 63 }

func newColumns(mem memory.Allocator, n int, strBytes *[numStr]int) *columns {
	c := &columns{mem: mem, n: n, bufs: make([]*memory.Buffer, 0, NumCols+5+3*numStr)}
	// The slab holds every buffer below, each at a 64-byte boundary.
	bitmap := int(bitutil.BytesForBits(int64(n)))
	size := align(8*n)*5 + align(16*n) + align(n)*5 + align(4*n)*2 + align(bitmap)*5
	for s := range numStr {
		size += align(bitmap) + align(4*(n+1)) + align(strBytes[s])
	}
	c.slab = memory.NewResizableBuffer(mem)
	c.slab.Resize(size)
	defer func() { c.slab.Release() }() // the buffers cut from it hold it now
	fixed := func(col, width int) []byte {
		c.fixed[col] = c.buf(width*n, false)
		return c.fixed[col].Bytes()
	}
	c.time = arrow.TimestampTraits.CastFromBytes(fixed(ColTime, 8))
	c.id = fixed(ColID, 16)
	c.typ = arrow.Int8Traits.CastFromBytes(fixed(ColType, 1))
	c.mode = arrow.Int8Traits.CastFromBytes(fixed(ColMode, 1))
	c.reason = arrow.Int8Traits.CastFromBytes(fixed(ColCloseReason, 1))
	c.outcome = arrow.Int8Traits.CastFromBytes(fixed(ColOutcome, 1))
	c.auth = arrow.Int8Traits.CastFromBytes(fixed(ColAuthReason, 1))
	c.port = arrow.Uint32Traits.CastFromBytes(fixed(ColDstPort, 4))
	c.status = arrow.Uint32Traits.CastFromBytes(fixed(ColStatus, 4))
	c.up = arrow.Uint64Traits.CastFromBytes(fixed(ColBytesUp, 8))
	c.down = arrow.Uint64Traits.CastFromBytes(fixed(ColBytesDown, 8))
	c.dur = arrow.Int64Traits.CastFromBytes(fixed(ColDurationNs, 8))
	c.lat = arrow.Int64Traits.CastFromBytes(fixed(ColLatencyNs, 8))
	for g := range c.valid {
		c.valid[g] = c.buf(bitmap, true)
		c.validBits[g] = c.valid[g].Bytes()
	}
	for s := range numStr {
		c.sBuf[s] = [3]*memory.Buffer{c.buf(bitmap, true), c.buf(4*(n+1), false), c.buf(strBytes[s], false)}
		c.sBits[s] = c.sBuf[s][0].Bytes()
		c.offs[s] = arrow.Int32Traits.CastFromBytes(c.sBuf[s][1].Bytes())
		c.data[s] = c.sBuf[s][2].Bytes()
	}
	return c
}

func setBit(b []byte, i int) { b[i>>3] |= 1 << (i & 7) }

// put writes row x as row i. Null slots get zeros, so the batch's bytes are
// a function of the rows alone.
func (c *columns) put(i int, x *row, arena []byte) {
	c.time[i] = arrow.Timestamp(x.t)
	copy(c.id[16*i:16*i+16], x.id[:])
	c.typ[i] = x.typ
	v := x.valid
	if v&vPort != 0 {
		c.port[i] = x.port
		setBit(c.validBits[0], i)
	} else {
		c.port[i] = 0
		c.validNulls[0]++
	}
	if v&vMode != 0 {
		c.mode[i] = x.mode
		setBit(c.validBits[1], i)
	} else {
		c.mode[i] = 0
		c.validNulls[1]++
	}
	if v&vClosed != 0 {
		c.up[i], c.down[i], c.dur[i], c.reason[i] = x.up, x.down, x.dur, x.reason
		setBit(c.validBits[2], i)
	} else {
		c.up[i], c.down[i], c.dur[i], c.reason[i] = 0, 0, 0, 0
		c.validNulls[2]++
	}
	if v&vTx != 0 {
		c.status[i], c.outcome[i], c.lat[i] = x.status, x.outcome, x.lat
		setBit(c.validBits[3], i)
	} else {
		c.status[i], c.outcome[i], c.lat[i] = 0, 0, 0
		c.validNulls[3]++
	}
	if v&vAuth != 0 {
		c.auth[i] = x.auth
		setBit(c.validBits[4], i)
	} else {
		c.auth[i] = 0
		c.validNulls[4]++
	}
	for s := range numStr {
		ref := x.str[s]
		p := c.pos[s]
		c.offs[s][i] = p
		if ref.n == 0 {
			c.sNulls[s]++
			continue
		}
		copy(c.data[s][p:], strOf(x, ref, arena))
		c.pos[s] = p + int32(ref.n)
		setBit(c.sBits[s], i)
	}
}

// finish makes the arrays (tenant and device left nil) and releases the
// buffers' own references.
func (c *columns) finish(dicts *dictionaries) []arrow.Array {
	n := c.n
	cols := make([]arrow.Array, NumCols)
	mk := func(col, group int) {
		var valid *memory.Buffer
		nulls := 0
		if group >= 0 && c.validNulls[group] > 0 {
			valid, nulls = c.valid[group], c.validNulls[group]
		}
		bufs := []*memory.Buffer{valid, c.fixed[col]}
		var d *array.Data
		if dict := dicts[col]; dict != nil {
			d = array.NewDataWithDictionary(Schema.Field(col).Type, n, bufs, nulls, 0, dict.Data().(*array.Data))
		} else {
			d = array.NewData(Schema.Field(col).Type, n, bufs, nil, nulls, 0)
		}
		cols[col] = array.MakeFromData(d)
		d.Release()
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
		c.offs[s][n] = c.pos[s]
		var valid *memory.Buffer
		if c.sNulls[s] > 0 {
			valid = c.sBuf[s][0]
		}
		col := strCols[s]
		d := array.NewData(Schema.Field(col).Type, n, []*memory.Buffer{valid, c.sBuf[s][1], c.sBuf[s][2]}, nil, c.sNulls[s], 0)
		cols[col] = array.MakeFromData(d)
		d.Release()
	}
	for _, x := range c.bufs {
		x.Release()
	}
	return cols
}

// cmpRows orders rows by (time, id).
func cmpRows(x, y *row) int {
	if c := cmp.Compare(x.t, y.t); c != 0 {
		return c
	}
	return bytes.Compare(x.id[:], y.id[:])
}

// newBuf returns a buffer of n bytes from mem, zeroed when zero is set (the
// other buffers are overwritten entirely).
func newBuf(mem memory.Allocator, n int, zero bool) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(n)
	if zero {
		clear(b.Buf())
	}
	return b
}

// runStrings builds a utf8 column that repeats f(d) over each device's rows
// (null where f(d) is empty).
func runStrings(mem memory.Allocator, devs []DeviceRows, f func(*DeviceRows) string) arrow.Array {
	n, total, nulls := 0, 0, 0
	for i := range devs {
		k := devs[i].Rows[1] - devs[i].Rows[0]
		n += k
		total += k * len(f(&devs[i]))
		if f(&devs[i]) == "" {
			nulls += k
		}
	}
	var valid *memory.Buffer
	if nulls > 0 {
		valid = newBuf(mem, int(bitutil.BytesForBits(int64(n))), true)
	}
	ob := newBuf(mem, (n+1)*4, false)
	db := newBuf(mem, total, false)
	o := arrow.Int32Traits.CastFromBytes(ob.Bytes())
	dst := db.Bytes()
	pos, row := int32(0), 0
	for i := range devs {
		s := f(&devs[i])
		for r := devs[i].Rows[0]; r < devs[i].Rows[1]; r++ {
			o[row] = pos
			pos += int32(copy(dst[pos:], s))
			if valid != nil && s != "" {
				bitutil.SetBit(valid.Bytes(), row)
			}
			row++
		}
	}
	o[n] = pos
	data := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{valid, ob, db}, nil, nulls, 0)
	for _, b := range []*memory.Buffer{valid, ob, db} {
		if b != nil {
			b.Release()
		}
	}
	arr := array.MakeFromData(data)
	data.Release()
	return arr
}
