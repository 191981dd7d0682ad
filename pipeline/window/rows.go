package window

import (
	"math"
	"unsafe"

	"github.com/halo-sec/halo/events"
)

// The string and binary columns: the indices of rows.data and rows.strEnd.
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

// rows holds the rows of a pending window in arrival order, one slice per
// column: Add writes each event's values straight into them, and at close
// build gathers every column through the (tenant, device, time, id)
// permutation, one column at a time: each column is first read in order,
// so that it streams into the cache, and the gather's random reads then hit
// it. The fixed-width slices all have length cap (n of them in use); a
// row's fields that its type does not have (valid says which) keep
// whatever the slot held and are never read. String column s of row i is
// data[s][strEnd[s][i-1]:strEnd[s][i]] (from 0 for row 0); empty is null.
type rows struct {
	n, cap                      int
	grp                         []int32 // the row's device group in the window
	t                           []int64
	id                          []events.ID
	typ, valid                  []uint8
	mode, reason, outcome, auth []int8
	port, status                []uint32
	up, down                    []uint64
	dur, lat                    []int64
	strEnd                      [numStr][]uint32
	data                        [numStr][]byte
}

// maxStrBytes bounds a window's string bytes (all columns together, so each
// column's too): Arrow utf8 and binary columns have int32 offsets.
var maxStrBytes = math.MaxInt32 // a variable so that a test can lower it

// resize gives r room for at least n rows, keeping the rows it holds.
func (r *rows) resize(n int) {
	r.grp = resized(r.grp, r.n, n)
	r.t = resized(r.t, r.n, n)
	r.id = resized(r.id, r.n, n)
	r.typ = resized(r.typ, r.n, n)
	r.valid = resized(r.valid, r.n, n)
	r.mode = resized(r.mode, r.n, n)
	r.reason = resized(r.reason, r.n, n)
	r.outcome = resized(r.outcome, r.n, n)
	r.auth = resized(r.auth, r.n, n)
	r.port = resized(r.port, r.n, n)
	r.status = resized(r.status, r.n, n)
	r.up = resized(r.up, r.n, n)
	r.down = resized(r.down, r.n, n)
	r.dur = resized(r.dur, r.n, n)
	r.lat = resized(r.lat, r.n, n)
	for s := range r.strEnd {
		r.strEnd[s] = resized(r.strEnd[s], r.n, n)
	}
	r.cap = n
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
// field unset) and returns its index.
func (w *pending) add(g int32, t int64, id *events.ID) int {
	i := w.n
	if i == w.cap {
		w.resize(max(2*w.cap, 256))
	}
	w.grp[i], w.t[i], w.id[i], w.valid[i] = g, t, *id, 0
	w.n++
	return i
}

// putStr appends s as string column col of the row being filled (whose
// ends then records where its strings end).
func (w *pending) putStr(col int, s string) {
	if s == "" {
		return
	}
	w.strTotal += len(s)
	w.data[col] = append(w.data[col], s...)
}

func (w *pending) putBytes(col int, b []byte) {
	w.putStr(col, unsafe.String(unsafe.SliceData(b), len(b)))
}

// ends records the string ends of row i.
func (w *pending) ends(i int) {
	for s := range w.strEnd {
		w.strEnd[s][i] = uint32(len(w.data[s]))
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

func (w *pending) putDest(i int, d *dest) {
	if !d.ok {
		return
	}
	w.putStr(sDstHost, d.host)
	w.putStr(sDstIP, d.ip)
	w.putStr(sSNI, d.sni)
	w.putStr(sTLSFp, d.tlsFp)
	w.port[i] = d.port
	v := uint8(vPort)
	if d.hasMode {
		w.mode[i] = d.mode
		v |= vMode
	}
	w.valid[i] |= v
}

// fill sets the columns of row i from ev (the payload already
// type-checked, its connection id read) and the joined destination d of a
// conn.closed.
func (w *pending) fill(i int, ev *events.Event, connID string, d *dest) {
	switch p := ev.Payload.(type) {
	case *events.ConnOpened:
		w.typ[i] = uint8(TypeConnOpened)
		w.putStr(sConnID, connID)
		w.putDest(i, &dest{host: p.DstHost, ip: p.DstIp, port: p.DstPort, mode: enumIndex(int32(p.Mode), ModeNames), hasMode: true, sni: p.Sni, tlsFp: p.TlsFp, ok: true})
	case *events.ConnClosed:
		w.typ[i] = uint8(TypeConnClosed)
		w.putStr(sConnID, connID)
		w.putDest(i, d)
		w.up[i], w.down[i], w.dur[i] = p.BytesUp, p.BytesDown, p.DurationNs
		w.reason[i] = enumIndex(int32(p.Reason), CloseReasonNames)
		w.putStr(sConnState, p.State)
		w.valid[i] |= vClosed
	case *events.ConnBlocked:
		w.typ[i] = uint8(TypeConnBlocked)
		w.putStr(sConnID, connID)
		w.putDest(i, &dest{host: p.DstHost, ip: p.DstIp, port: p.DstPort, ok: true})
		w.putBytes(sStrictFp, p.StrictFp)
		w.putStr(sInterventionID, p.InterventionId)
	case *events.TxObserved:
		w.typ[i] = uint8(TypeTxObserved)
		w.putStr(sConnID, connID)
		w.putStr(sDstHost, p.Host)
		w.putStr(sMethod, p.Method)
		w.status[i] = p.Status
		w.outcome[i] = enumIndex(int32(p.Outcome), OutcomeNames)
		w.putBytes(sStrictFp, p.StrictFp)
		w.putBytes(sLooseFp, p.LooseFp)
		w.lat[i] = p.LatencyNs
		w.valid[i] |= vTx
	case *events.AuthFailed:
		w.typ[i] = uint8(TypeAuthFailed)
		w.auth[i] = enumIndex(int32(p.Reason), AuthReasonNames)
		w.valid[i] |= vAuth
	}
	w.ends(i)
}
