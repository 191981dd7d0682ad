package window

import (
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
)

// rowBuilders holds the Arrow builders of one (partition, window), one per
// column except tenant and device: those are written at close from the
// per-device row lists, since the rows come out grouped by device anyway.
type rowBuilders struct {
	time        *array.TimestampBuilder
	id          *array.FixedSizeBinaryBuilder
	typ         *array.Int8Builder
	connID      *array.StringBuilder
	dstHost     *array.StringBuilder
	dstIP       *array.StringBuilder
	dstPort     *array.Uint32Builder
	mode        *array.Int8Builder
	sni         *array.StringBuilder
	tlsFp       *array.StringBuilder
	bytesUp     *array.Uint64Builder
	bytesDown   *array.Uint64Builder
	durationNs  *array.Int64Builder
	closeReason *array.Int8Builder
	connState   *array.StringBuilder
	method      *array.StringBuilder
	status      *array.Uint32Builder
	outcome     *array.Int8Builder
	strictFp    *array.BinaryBuilder
	looseFp     *array.BinaryBuilder
	latencyNs   *array.Int64Builder
	authReason  *array.Int8Builder
	ivID        *array.StringBuilder

	n, cap int // rows appended, rows reserved
	hint   int // rows to reserve at first: the previous window's size
}

func newRowBuilders(mem memory.Allocator, hint int, dataHint *[NumCols]int) *rowBuilders {
	b := &rowBuilders{
		hint:        hint,
		time:        array.NewTimestampBuilder(mem, timestampType),
		id:          array.NewFixedSizeBinaryBuilder(mem, idType),
		typ:         array.NewInt8Builder(mem),
		connID:      array.NewStringBuilder(mem),
		dstHost:     array.NewStringBuilder(mem),
		dstIP:       array.NewStringBuilder(mem),
		dstPort:     array.NewUint32Builder(mem),
		mode:        array.NewInt8Builder(mem),
		sni:         array.NewStringBuilder(mem),
		tlsFp:       array.NewStringBuilder(mem),
		bytesUp:     array.NewUint64Builder(mem),
		bytesDown:   array.NewUint64Builder(mem),
		durationNs:  array.NewInt64Builder(mem),
		closeReason: array.NewInt8Builder(mem),
		connState:   array.NewStringBuilder(mem),
		method:      array.NewStringBuilder(mem),
		status:      array.NewUint32Builder(mem),
		outcome:     array.NewInt8Builder(mem),
		strictFp:    array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary),
		looseFp:     array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary),
		latencyNs:   array.NewInt64Builder(mem),
		authReason:  array.NewInt8Builder(mem),
		ivID:        array.NewStringBuilder(mem),
	}
	for i, bl := range b.builders() {
		if dataHint[i] > 0 {
			switch bl := bl.(type) {
			case *array.StringBuilder:
				bl.ReserveData(dataHint[i])
			case *array.BinaryBuilder:
				bl.ReserveData(dataHint[i])
			}
		}
	}
	return b
}

// builders lists the builders in column order (tenant and device excluded).
func (b *rowBuilders) builders() [NumCols]array.Builder {
	return [NumCols]array.Builder{
		ColTime: b.time, ColID: b.id, ColType: b.typ, ColConnID: b.connID,
		ColDstHost: b.dstHost, ColDstIP: b.dstIP, ColDstPort: b.dstPort, ColMode: b.mode,
		ColSNI: b.sni, ColTLSFp: b.tlsFp, ColBytesUp: b.bytesUp, ColBytesDown: b.bytesDown,
		ColDurationNs: b.durationNs, ColCloseReason: b.closeReason, ColConnState: b.connState,
		ColMethod: b.method, ColStatus: b.status, ColOutcome: b.outcome, ColStrictFp: b.strictFp,
		ColLooseFp: b.looseFp, ColLatencyNs: b.latencyNs, ColAuthReason: b.authReason, ColInterventionID: b.ivID,
	}
}

// finish turns the builders into arrays (tenant and device left nil) and
// releases the builders.
func (b *rowBuilders) finish() [NumCols]arrow.Array {
	var out [NumCols]arrow.Array
	for i, bl := range b.builders() {
		if bl != nil {
			out[i] = bl.NewArray()
			bl.Release()
		}
	}
	return out
}

func (b *rowBuilders) release() {
	for _, bl := range b.builders() {
		if bl != nil {
			bl.Release()
		}
	}
}

// reserve makes room for one more row in every builder. Builders grow in
// steps (doubling, from the size hint), so rows are written with the
// builders' unchecked appends: fixed-width values with UnsafeAppend, nulls
// with UnsafeAppendBoolToBitmap(false), strings with UnsafeAppend after a
// data-capacity check.
func (b *rowBuilders) reserve() {
	if b.n < b.cap {
		b.n++
		return
	}
	grow := max(b.cap, b.hint, 64)
	for _, bl := range b.builders() {
		if bl != nil {
			bl.Reserve(b.cap + grow - b.n)
		}
	}
	b.cap += grow
	b.n++
}

// bytesOf views s as bytes without copying; the builders copy what they get.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// appendBytes appends v (null when empty) to a binary or utf8 builder whose
// row capacity reserve has ensured.
func appendBytes(b *array.BinaryBuilder, v []byte) {
	if len(v) == 0 {
		b.AppendNull()
		return
	}
	if b.DataCap()-b.DataLen() < len(v) {
		b.ReserveData(max(len(v), b.DataCap(), 256))
	}
	b.UnsafeAppend(v)
}

func appendStr(b *array.StringBuilder, s string) { appendBytes(b.BinaryBuilder, bytesOf(s)) }

// common appends the columns every row has.
func (b *rowBuilders) common(ev *events.Event, t int64, typ int8) {
	b.reserve()
	b.time.UnsafeAppend(arrow.Timestamp(t))
	b.id.UnsafeAppend(ev.ID[:])
	b.typ.UnsafeAppend(typ)
}

// dest carries the destination columns of a row.
type dest struct {
	host, ip, sni, tlsFp string
	port                 uint32
	mode                 int8
	ok                   bool // false: all null
	hasMode              bool
}

func (b *rowBuilders) appendDest(d *dest) {
	if !d.ok {
		b.dstHost.AppendNull()
		b.dstIP.AppendNull()
		b.dstPort.UnsafeAppendBoolToBitmap(false)
		b.mode.UnsafeAppendBoolToBitmap(false)
		b.sni.AppendNull()
		b.tlsFp.AppendNull()
		return
	}
	appendStr(b.dstHost, d.host)
	appendStr(b.dstIP, d.ip)
	b.dstPort.UnsafeAppend(d.port)
	if d.hasMode {
		b.mode.UnsafeAppend(d.mode)
	} else {
		b.mode.UnsafeAppendBoolToBitmap(false)
	}
	appendStr(b.sni, d.sni)
	appendStr(b.tlsFp, d.tlsFp)
}

func (b *rowBuilders) nullClosed() {
	b.bytesUp.UnsafeAppendBoolToBitmap(false)
	b.bytesDown.UnsafeAppendBoolToBitmap(false)
	b.durationNs.UnsafeAppendBoolToBitmap(false)
	b.closeReason.UnsafeAppendBoolToBitmap(false)
	b.connState.AppendNull()
}

func (b *rowBuilders) nullTx() {
	b.method.AppendNull()
	b.status.UnsafeAppendBoolToBitmap(false)
	b.outcome.UnsafeAppendBoolToBitmap(false)
	b.strictFp.AppendNull()
	b.looseFp.AppendNull()
	b.latencyNs.UnsafeAppendBoolToBitmap(false)
}

func (b *rowBuilders) opened(ev *events.Event, t int64, p *events.ConnOpened) {
	b.common(ev, t, TypeConnOpened)
	appendStr(b.connID, p.ConnId)
	b.appendDest(&dest{host: p.DstHost, ip: p.DstIp, port: p.DstPort, mode: enumIndex(int32(p.Mode), ModeNames), hasMode: true, sni: p.Sni, tlsFp: p.TlsFp, ok: true})
	b.nullClosed()
	b.nullTx()
	b.authReason.UnsafeAppendBoolToBitmap(false)
	b.ivID.AppendNull()
}

func (b *rowBuilders) closed(ev *events.Event, t int64, p *events.ConnClosed, d *dest) {
	b.common(ev, t, TypeConnClosed)
	appendStr(b.connID, p.ConnId)
	b.appendDest(d)
	b.bytesUp.UnsafeAppend(p.BytesUp)
	b.bytesDown.UnsafeAppend(p.BytesDown)
	b.durationNs.UnsafeAppend(p.DurationNs)
	b.closeReason.UnsafeAppend(enumIndex(int32(p.Reason), CloseReasonNames))
	appendStr(b.connState, p.State)
	b.nullTx()
	b.authReason.UnsafeAppendBoolToBitmap(false)
	b.ivID.AppendNull()
}

func (b *rowBuilders) blocked(ev *events.Event, t int64, p *events.ConnBlocked) {
	b.common(ev, t, TypeConnBlocked)
	appendStr(b.connID, p.ConnId)
	b.appendDest(&dest{host: p.DstHost, ip: p.DstIp, port: p.DstPort, ok: true})
	b.nullClosed()
	b.method.AppendNull()
	b.status.UnsafeAppendBoolToBitmap(false)
	b.outcome.UnsafeAppendBoolToBitmap(false)
	appendBytes(b.strictFp, p.StrictFp)
	b.looseFp.AppendNull()
	b.latencyNs.UnsafeAppendBoolToBitmap(false)
	b.authReason.UnsafeAppendBoolToBitmap(false)
	appendStr(b.ivID, p.InterventionId)
}

func (b *rowBuilders) tx(ev *events.Event, t int64, p *events.TxObserved) {
	b.common(ev, t, TypeTxObserved)
	appendStr(b.connID, p.ConnId)
	appendStr(b.dstHost, p.Host)
	b.dstIP.AppendNull()
	b.dstPort.UnsafeAppendBoolToBitmap(false)
	b.mode.UnsafeAppendBoolToBitmap(false)
	b.sni.AppendNull()
	b.tlsFp.AppendNull()
	b.nullClosed()
	appendStr(b.method, p.Method)
	b.status.UnsafeAppend(p.Status)
	b.outcome.UnsafeAppend(enumIndex(int32(p.Outcome), OutcomeNames))
	appendBytes(b.strictFp, p.StrictFp)
	appendBytes(b.looseFp, p.LooseFp)
	b.latencyNs.UnsafeAppend(p.LatencyNs)
	b.authReason.UnsafeAppendBoolToBitmap(false)
	b.ivID.AppendNull()
}

func (b *rowBuilders) authFailed(ev *events.Event, t int64, p *events.AuthFailed) {
	b.common(ev, t, TypeAuthFailed)
	b.connID.AppendNull()
	b.appendDest(&dest{})
	b.nullClosed()
	b.nullTx()
	b.authReason.UnsafeAppend(enumIndex(int32(p.Reason), AuthReasonNames))
	b.ivID.AppendNull()
}
