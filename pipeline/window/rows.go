package window

import (
	"math"
	"unsafe"

	"github.com/halo-sec/halo/events"
)

// The string and binary columns: the indices of rows.data and row.end.
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

// strCols maps them to batch columns.
var strCols = [numStr]int{
	sConnID: ColConnID, sDstHost: ColDstHost, sDstIP: ColDstIP, sSNI: ColSNI, sTLSFp: ColTLSFp,
	sConnState: ColConnState, sMethod: ColMethod, sStrictFp: ColStrictFp, sLooseFp: ColLooseFp,
	sInterventionID: ColInterventionID,
}

// Validity bits of rows.valid: which groups of nullable fixed-width
// columns a row has.
const (
	vPort   = 1 << iota // dst_port
	vMode               // mode
	vClosed             // bytes_up, bytes_down, duration_ns, close_reason
	vTx                 // status, outcome, latency_ns
	vAuth               // auth_reason
)

// row is one row of a pending window: its fixed-width fields, 80 bytes.
// Add writes a row as one record, where one slice per column had it write
// to some fifteen slice tails, each a cache line of its own (and, with
// thousands of windows open, mostly out of cache). A row's fields that its
// type does not have (valid says which) keep whatever the slot held and
// are never read.
type row struct {
	t, dur, lat  int64
	up, down     uint64
	id           events.ID
	grp          int32 // the row's device group in the window
	port, status uint32
	typ, valid   uint8
	mode, reason int8
	outcome      int8
	auth         int8
}

// rows holds the rows of a pending window in arrival order: Add appends
// each event's row, with its strings appended to one byte slice per
// column, and at close build gathers the rows through the (tenant, device,
// time, id) permutation into the batch's columns: the records in one pass,
// each string column in one of its own. The rows, and each column's bytes,
// are first read in order, so that they stream into the cache, and the
// gathers' random reads then hit them.
//
// The records and their ends are kept in blocks of blockRows rows (the
// first may be shorter, and grows by doubling up to blockRows: a window of
// a dozen rows takes no more): a window that outgrows its room takes one
// more block, where a slice grew by doubling, copying every row it held and
// leaving the old slice, as large again as what it held, to the garbage
// collector. A process's first windows, which no earlier window sizes,
// made about twice their rows' memory in garbage that way (on the features
// package's benchmark log, some 85 MB of the first run's 240), which
// brought on garbage collections that scanned the whole heap.
type rows struct {
	n, cap int
	// r[k] holds rows k·blockRows on; every block but the last has
	// blockRows, and the last at most that.
	r [][]row
	// The ends of row i's strings in data, numStr from
	// ends[i>>blockShift][(i&blockMask)*numStr]: string column s of row i
	// is data[s][e:end], where e is the previous row's end (0 for row 0);
	// empty is null. Apart from the records, so that build's gathers of
	// the string columns read them from the core's cache (40 bytes a row,
	// against 80 the records).
	ends [][]uint32
	data [numStr][]byte
}

// Rows come in blocks of blockRows: 80 KB of records and 40 KB of ends.
const (
	blockShift = 10
	blockRows  = 1 << blockShift
	blockMask  = blockRows - 1
)

// row returns row i.
func (r *rows) row(i int) *row { return &r.r[i>>blockShift][i&blockMask] }

// rowEnds returns the string ends of row i.
func (r *rows) rowEnds(i int) *[numStr]uint32 {
	k := (i & blockMask) * numStr
	return (*[numStr]uint32)(r.ends[i>>blockShift][k : k+numStr])
}

// block returns the rows of block k among the first n, and their ends.
func (r *rows) block(k, n int) ([]row, []uint32) {
	m := min(len(r.r[k]), n-k*blockRows)
	return r.r[k][:m], r.ends[k][:m*numStr]
}

// blocks is the number of blocks holding the first n rows.
func blocks(n int) int { return (n + blockMask) >> blockShift }

// maxStrBytes bounds a window's string bytes (all columns together, so each
// column's too): Arrow utf8 and binary columns have int32 offsets.
var maxStrBytes = math.MaxInt32 // a variable so that a test can lower it

// resize gives r room for at least n rows, keeping the rows it holds.
func (r *rows) resize(n int) {
	for r.cap < n {
		k := len(r.r)
		switch {
		case k == 0:
			m := min(n, blockRows)
			r.r, r.ends = append(r.r, make([]row, m)), append(r.ends, make([]uint32, m*numStr))
			r.cap = m
		case len(r.r[k-1]) < blockRows: // the first block, short: grow it
			base := (k - 1) * blockRows
			keep := max(0, r.n-base)
			m := min(n-base, blockRows)
			r.r[k-1] = resized(r.r[k-1], keep, m)
			r.ends[k-1] = resized(r.ends[k-1], keep*numStr, m*numStr)
			r.cap = base + m
		default:
			r.r, r.ends = append(r.r, make([]row, blockRows)), append(r.ends, make([]uint32, blockRows*numStr))
			r.cap += blockRows
		}
	}
}

// resized returns a slice of length n holding the first keep elements of s
// (s itself when it is long enough).
func resized[T any](s []T, keep, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	out := make([]T, n)
	copy(out, s[:keep])
	return out
}

// reset empties r, keeping its memory.
func (r *rows) reset() {
	r.n = 0
	for s := range r.data {
		r.data[s] = r.data[s][:0]
	}
}

// add appends a row of device group g with time t and id (every other
// field unset) and returns it with its index.
func (w *pending) add(g int32, t int64, id *events.ID) (*row, int) {
	i := w.n
	if i == w.cap {
		w.resize(min(max(2*w.cap, 256), w.cap+blockRows))
	}
	r := w.row(i)
	r.grp, r.t, r.id, r.valid = g, t, *id, 0
	w.n++
	return r, i
}

// putStr appends s as string column col of the row being filled (whose
// records where its strings end).
//
// A column's bytes usually have room (sized by the partition's last
// window: see newPending), and then only the slice's length is written:
// append wrote its pointer and capacity back too, the pointer through the
// write barrier while the garbage collector marks (some five values an
// event).
func (w *pending) putStr(col int, s string) {
	m := len(s)
	if m == 0 {
		return
	}
	w.strTotal += m
	n := len(w.data[col])
	if cap(w.data[col])-n < m {
		w.data[col] = append(w.data[col], s...)
		return
	}
	w.data[col] = w.data[col][:n+m] // the length alone
	copy(w.data[col][n:], s)
}

func (w *pending) putBytes(col int, b []byte) {
	w.putStr(col, unsafe.String(unsafe.SliceData(b), len(b)))
}

// endRow records the string ends of row i.
func (w *pending) endRow(i int) {
	e := w.rowEnds(i)
	for s := range e {
		e[s] = uint32(len(w.data[s]))
	}
}

// rowSize is an upper bound of the string bytes an event adds.
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
	w.putStr(sDstHost, d.host)
	w.putStr(sDstIP, d.ip)
	w.putStr(sSNI, d.sni)
	w.putStr(sTLSFp, d.tlsFp)
	r.port = d.port
	v := uint8(vPort)
	if d.hasMode {
		r.mode = d.mode
		v |= vMode
	}
	r.valid |= v
}

// fill sets the fields of row i, r (the last), from ev (the payload already
// type-checked, its connection id read) and the joined destination d of a
// conn.closed.
func (w *pending) fill(i int, r *row, ev *events.Event, connID string, d *dest) {
	switch p := ev.Payload.(type) {
	case *events.ConnOpened:
		r.typ = uint8(TypeConnOpened)
		w.putStr(sConnID, connID)
		w.putDest(r, &dest{host: p.DstHost, ip: p.DstIp, port: p.DstPort, mode: enumIndex(int32(p.Mode), ModeNames), hasMode: true, sni: p.Sni, tlsFp: p.TlsFp, ok: true})
	case *events.ConnClosed:
		r.typ = uint8(TypeConnClosed)
		w.putStr(sConnID, connID)
		w.putDest(r, d)
		r.up, r.down, r.dur = p.BytesUp, p.BytesDown, p.DurationNs
		r.reason = enumIndex(int32(p.Reason), CloseReasonNames)
		w.putStr(sConnState, p.State)
		r.valid |= vClosed
	case *events.ConnBlocked:
		r.typ = uint8(TypeConnBlocked)
		w.putStr(sConnID, connID)
		w.putDest(r, &dest{host: p.DstHost, ip: p.DstIp, port: p.DstPort, ok: true})
		w.putBytes(sStrictFp, p.StrictFp)
		w.putStr(sInterventionID, p.InterventionId)
	case *events.TxObserved:
		r.typ = uint8(TypeTxObserved)
		w.putStr(sConnID, connID)
		w.putStr(sDstHost, p.Host)
		w.putStr(sMethod, p.Method)
		r.status = p.Status
		r.outcome = enumIndex(int32(p.Outcome), OutcomeNames)
		w.putBytes(sStrictFp, p.StrictFp)
		w.putBytes(sLooseFp, p.LooseFp)
		r.lat = p.LatencyNs
		r.valid |= vTx
	case *events.AuthFailed:
		r.typ = uint8(TypeAuthFailed)
		r.auth = enumIndex(int32(p.Reason), AuthReasonNames)
		r.valid |= vAuth
	}
	w.endRow(i)
}
