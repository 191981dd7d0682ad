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

// build turns a pending window into a Window: the builders become arrays in
// arrival order, the per-device row lists give the permutation to (tenant,
// device, time, id) order, and every column is gathered through it.
func (a *Assembler) build(w *pending, dataHint *[NumCols]int) *Window {
	cols := w.b.finish()
	w.b = nil
	for i, c := range cols {
		if b, ok := c.(interface{ ValueBytes() []byte }); ok {
			n := len(b.ValueBytes())
			dataHint[i] = n + n/8
		}
	}
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	slices.SortFunc(w.groups, func(x, y group) int {
		return cmp.Or(strings.Compare(x.dev.key.tenant, y.dev.key.tenant), strings.Compare(x.dev.key.device, y.dev.key.device))
	})
	n := int(w.rows)
	times := cols[ColTime].(*array.Timestamp).TimestampValues()
	idBytes := cols[ColID].Data().Buffers()[1].Bytes()
	perm := make([]int32, n)
	devs := make([]DeviceRows, len(w.groups))
	pos := 0
	for gi, g := range w.groups {
		lo := pos
		sorted := true
		for r := g.head; r >= 0; r = w.next[r] {
			perm[pos] = r
			if pos > lo && sorted && cmpRow(times, idBytes, perm[pos-1], r) > 0 {
				sorted = false
			}
			pos++
		}
		if !sorted {
			slices.SortStableFunc(perm[lo:pos], func(x, y int32) int { return cmpRow(times, idBytes, x, y) })
		}
		devs[gi] = DeviceRows{Tenant: g.dev.key.tenant, Device: g.dev.key.device, Rows: [2]int{lo, pos}}
	}

	out := make([]arrow.Array, NumCols)
	out[ColTenant] = runStrings(a.mem, devs, func(d *DeviceRows) string { return d.Tenant })
	out[ColDevice] = runStrings(a.mem, devs, func(d *DeviceRows) string { return d.Device })
	for i, c := range cols {
		if c == nil {
			continue
		}
		if a.dicts[i] != nil {
			idx := take(a.mem, c, perm)
			out[i] = array.NewDictionaryArray(Schema.Field(i).Type, idx, a.dicts[i])
			idx.Release()
		} else {
			out[i] = take(a.mem, c, perm)
		}
	}
	batch := array.NewRecordBatch(Schema, out, int64(n))
	for _, c := range out {
		c.Release()
	}
	return &Window{
		Partition: w.part,
		Start:     time.Unix(0, w.start).UTC(),
		End:       time.Unix(0, w.end).UTC(),
		Batch:     batch,
		Devices:   devs,
	}
}

// cmpRow orders rows x and y by (time, id).
func cmpRow(times []arrow.Timestamp, ids []byte, x, y int32) int {
	if c := cmp.Compare(times[x], times[y]); c != 0 {
		return c
	}
	return bytes.Compare(ids[16*int(x):16*int(x)+16], ids[16*int(y):16*int(y)+16])
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

// take gathers the rows perm of src (no offset, as builders make them) into
// a new array of the same type. It handles the types of Schema's builder
// columns: fixed-width primitives and binary/utf8.
func take(mem memory.Allocator, src arrow.Array, perm []int32) arrow.Array {
	d := src.Data()
	n := len(perm)
	var valid *memory.Buffer
	nulls := src.NullN()
	if nulls > 0 {
		valid = newBuf(mem, int(bitutil.BytesForBits(int64(n))), true)
		sb, vb := d.Buffers()[0].Bytes(), valid.Bytes()
		for i, r := range perm {
			if bitutil.BitIsSet(sb, int(r)) {
				bitutil.SetBit(vb, i)
			}
		}
	}
	var bufs []*memory.Buffer
	switch a := src.(type) {
	case *array.String:
		bufs = takeBinary(mem, a.ValueOffsets(), d.Buffers()[2], perm)
	case *array.Binary:
		bufs = takeBinary(mem, a.ValueOffsets(), d.Buffers()[2], perm)
	default:
		w := d.DataType().(arrow.FixedWidthDataType).BitWidth() / 8
		data := newBuf(mem, n*w, false)
		takeFixed(data.Bytes(), d.Buffers()[1].Bytes(), w, perm)
		bufs = []*memory.Buffer{data}
	}
	bufs = append([]*memory.Buffer{valid}, bufs...)
	out := array.NewData(d.DataType(), n, bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	arr := array.MakeFromData(out)
	out.Release()
	return arr
}

func takeFixed(dst, src []byte, w int, perm []int32) {
	switch w {
	case 1:
		for i, r := range perm {
			dst[i] = src[r]
		}
	case 4:
		s, d := arrow.Uint32Traits.CastFromBytes(src), arrow.Uint32Traits.CastFromBytes(dst)
		for i, r := range perm {
			d[i] = s[r]
		}
	case 8:
		s, d := arrow.Uint64Traits.CastFromBytes(src), arrow.Uint64Traits.CastFromBytes(dst)
		for i, r := range perm {
			d[i] = s[r]
		}
	default:
		for i, r := range perm {
			copy(dst[i*w:(i+1)*w], src[int(r)*w:(int(r)+1)*w])
		}
	}
}

// takeBinary gathers the values perm of an offsets+data binary layout and
// returns the new offsets and data buffers.
func takeBinary(mem memory.Allocator, offs []int32, data *memory.Buffer, perm []int32) []*memory.Buffer {
	total := 0
	for _, r := range perm {
		total += int(offs[r+1] - offs[r])
	}
	ob := newBuf(mem, (len(perm)+1)*4, false)
	db := newBuf(mem, total, false)
	o := arrow.Int32Traits.CastFromBytes(ob.Bytes())
	var src []byte
	if data != nil {
		src = data.Bytes()
	}
	dst := db.Bytes()
	pos := int32(0)
	for i, r := range perm {
		o[i] = pos
		pos += int32(copy(dst[pos:], src[offs[r]:offs[r+1]]))
	}
	o[len(perm)] = pos
	return []*memory.Buffer{ob, db}
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
