package window

import (
	"math"
	"unsafe"

	"github.com/halo-sec/halo/events"
)

// The string and binary columns, in the order of row.str.
const (
	sConnID = iota
	sDstHost
	sDstIP
	sSNI
	sTLSFp
	sConnState
	sMethod
	sStrictFp
	sLooseFp
	sInterventionID
	numStr
)

// strCols maps row.str positions to columns.
var strCols = [numStr]int{
	sConnID: ColConnID, sDstHost: ColDstHost, sDstIP: ColDstIP, sSNI: ColSNI, sTLSFp: ColTLSFp,
	sConnState: ColConnState, sMethod: ColMethod, sStrictFp: ColStrictFp, sLooseFp: ColLooseFp,
	sInterventionID: ColInterventionID,
}

// Validity bits of row.valid: which groups of nullable fixed-width columns
// the row has.
const (
	vPort   = 1 << iota // dst_port
	vMode               // mode
	vClosed             // bytes_up, bytes_down, duration_ns, close_reason
	vTx                 // status, outcome, latency_ns
	vAuth               // auth_reason
)

// strRef locates a string of a row, in the row's buf (inline bit set) or in
// its window's arena; n == 0 is null (empty strings are stored as null).
type strRef struct{ off, n uint32 }

// row is one event of a pending window: the per-device row lists hold
// these, and the batch's columns are written from them in (tenant, device,
// time, id) order when the window closes. Only the fields of the row's type
// are set (valid says which); the others keep whatever a recycled slot held
// and are never read.
type row struct {
	t        int64
	id       events.ID
	up, down uint64
	dur, lat int64
	port     uint32
	status   uint32
	typ      int8
	mode     int8
	reason   int8
	outcome  int8
	auth     int8
	valid    uint8
	used     uint8 // bytes of buf in use
	str      [numStr]strRef
	buf      [rowBuf]byte
}

// maxStrBytes bounds a window's string bytes (all columns together, so each
// column's too): Arrow utf8 and binary columns have int32 offsets.
var maxStrBytes = math.MaxInt32 // a variable so that a test can lower it

// Strings of a row live in the row itself while they fit in rowBuf bytes
// (the common case: connection id, host, IP, fingerprint) and in the
// window's arena beyond; a reference with the inline bit set points into
// row.buf. Either way they are read back with the row at close, so the copy
// into the batch reads memory that is already in cache.
const (
	rowBuf = 112
	inline = 1 << 31
)

// putStr stores s as string column col of r.
func (w *pending) putStr(r *row, col int, s string) {
	if s == "" {
		return
	}
	w.strBytes[col] += len(s)
	w.strTotal += len(s)
	if u := int(r.used); u+len(s) <= rowBuf {
		copy(r.buf[u:], s)
		r.used += uint8(len(s))
		r.str[col] = strRef{inline | uint32(u), uint32(len(s))}
		return
	}
	off := len(w.arena)
	w.grow(len(s))
	w.arena = append(w.arena, s...)
	r.str[col] = strRef{uint32(off), uint32(len(s))}
}

func (w *pending) putBytes(r *row, col int, b []byte) {
	w.putStr(r, col, unsafe.String(unsafe.SliceData(b), len(b)))
}

// strOf returns the bytes of string column col of x.
func strOf(x *row, ref strRef, arena []byte) []byte {
	if ref.off&inline != 0 {
		o := ref.off &^ inline
		return x.buf[o : o+ref.n]
	}
	return arena[ref.off : ref.off+ref.n]
}

// grow makes room for n more arena bytes, doubling.
func (w *pending) grow(n int) {
	if cap(w.arena)-len(w.arena) < n {
		grown := make([]byte, len(w.arena), max(2*cap(w.arena), len(w.arena)+n, 4096))
		copy(grown, w.arena)
		w.arena = grown
	}
}

// rowSize is an upper bound of the arena bytes an event adds.
func rowSize(ev *events.Event, d *dest) int {
	n := 0
	switch p := ev.Payload.(type) {
	case *events.ConnOpened:
		n = len(p.ConnId) + len(p.DstHost) + len(p.DstIp) + len(p.Sni) + len(p.TlsFp)
	case *events.ConnClosed:
		n = len(p.ConnId) + len(p.State) + len(d.host) + len(d.ip) + len(d.sni) + len(d.tlsFp)
	case *events.ConnBlocked:
		n = len(p.ConnId) + len(p.DstHost) + len(p.DstIp) + len(p.StrictFp) + len(p.InterventionId)
	case *events.TxObserved:
		n = len(p.ConnId) + len(p.Host) + len(p.Method) + len(p.StrictFp) + len(p.LooseFp)
	}
	return n
}

// dest carries the destination columns of a row.
type dest struct {
	host, ip, sni, tlsFp string
	port                 uint32
	mode                 int8
	ok                   bool // false: all null
	hasMode              bool
}

func (w *pending) putDest(r *row, d *dest) {
	if !d.ok {
		return
	}
	w.putStr(r, sDstHost, d.host)
	w.putStr(r, sDstIP, d.ip)
	w.putStr(r, sSNI, d.sni)
	w.putStr(r, sTLSFp, d.tlsFp)
	r.port = d.port
	r.valid |= vPort
	if d.hasMode {
		r.mode = d.mode
		r.valid |= vMode
	}
}

// fill sets the columns of r from ev (the payload already type-checked)
// and the joined destination d of a conn.closed.
func (w *pending) fill(r *row, ev *events.Event, d *dest) {
	switch p := ev.Payload.(type) {
	case *events.ConnOpened:
		r.typ = TypeConnOpened
		w.putStr(r, sConnID, p.ConnId)
		w.putDest(r, &dest{host: p.DstHost, ip: p.DstIp, port: p.DstPort, mode: enumIndex(int32(p.Mode), ModeNames), hasMode: true, sni: p.Sni, tlsFp: p.TlsFp, ok: true})
	case *events.ConnClosed:
		r.typ = TypeConnClosed
		w.putStr(r, sConnID, p.ConnId)
		w.putDest(r, d)
		r.up, r.down, r.dur = p.BytesUp, p.BytesDown, p.DurationNs
		r.reason = enumIndex(int32(p.Reason), CloseReasonNames)
		w.putStr(r, sConnState, p.State)
		r.valid |= vClosed
	case *events.ConnBlocked:
		r.typ = TypeConnBlocked
		w.putStr(r, sConnID, p.ConnId)
		w.putDest(r, &dest{host: p.DstHost, ip: p.DstIp, port: p.DstPort, ok: true})
		w.putBytes(r, sStrictFp, p.StrictFp)
		w.putStr(r, sInterventionID, p.InterventionId)
	case *events.TxObserved:
		r.typ = TypeTxObserved
		w.putStr(r, sConnID, p.ConnId)
		w.putStr(r, sDstHost, p.Host)
		w.putStr(r, sMethod, p.Method)
		r.status = p.Status
		r.outcome = enumIndex(int32(p.Outcome), OutcomeNames)
		w.putBytes(r, sStrictFp, p.StrictFp)
		w.putBytes(r, sLooseFp, p.LooseFp)
		r.lat = p.LatencyNs
		r.valid |= vTx
	case *events.AuthFailed:
		r.typ = TypeAuthFailed
		r.auth = enumIndex(int32(p.Reason), AuthReasonNames)
		r.valid |= vAuth
	}
}

// Rows live in fixed-size blocks: a window grows by a block at a time (no
// copying), and a closed window's blocks go back to its Assembler's pool for
// the next windows.
const (
	blockChunks = 64                      // chunks of a block
	blockRows   = blockChunks * chunkRows // rows of a block
)

type rowBlock [blockRows]row

// blockPool recycles the row blocks of closed windows. Together with the
// blocks of the open windows it keeps at most as many as the open windows
// ever held at once (plus minFreeBlocks): windows close in bursts (every
// partition crosses a window boundary at about the same time), and the
// blocks of one burst are what the next windows need.
type blockPool struct {
	free  []*rowBlock
	inUse int // blocks held by open windows
	peak  int // the most blocks open windows held at once
}

const minFreeBlocks = 16

func (p *blockPool) get() *rowBlock {
	p.inUse++
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return b
	}
	p.peak = max(p.peak, p.inUse)
	return new(rowBlock)
}

// put takes back the blocks of a closed window.
func (p *blockPool) put(bs []*rowBlock) {
	p.inUse -= len(bs)
	for _, b := range bs {
		if p.inUse+len(p.free) >= p.peak+minFreeBlocks {
			break
		}
		p.free = append(p.free, b)
	}
	clear(bs)
}
