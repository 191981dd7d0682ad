package detect

import (
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

// WindowDetector looks at every closed window, in (start, partition) order.
// Detectors may keep state across windows (per device and destination); it
// is rebuilt by re-reading the log on restart (the pipeline's warm-up).
type WindowDetector interface {
	Name() string
	Window(w *window.Window, c *Context) []Finding
}

// Context is what window detectors may consult besides the window.
type Context struct {
	// Cohort returns the device's cohort key (tenant/model/firmware).
	Cohort func(tenant, device string) string

	cols    cols    // RunWindow's scratch
	scratch scratch // the memory of cols' tables, kept across windows
	// The window detectors RunWindow last ran, and each as a
	// colsDetector (nil if it is not one): asCols.
	dets     []WindowDetector
	asserted []colsDetector
}

// cols gives typed access to a window's columns.
type cols struct {
	typ     []int8
	times   []arrow.Timestamp
	ids     *array.FixedSizeBinary
	host    *array.String
	ip      *array.String
	port    *array.Uint32
	reason  []int8
	state   *array.String
	auth    []int8
	ivID    *array.String
	bytesUp *array.Uint64

	w *window.Window
	// The window's destinations, cohorts and row counts, made by the
	// first detector that needs them (see dstIDs, cohort and counts), in
	// s.
	s                                *scratch
	haveDsts, haveCohort, haveCounts bool
}

// scratch is the memory of a window's cols tables. Its strings alias the
// window's buffers: forget clears them once the window is done.
type scratch struct {
	dstOf   []int32        // by row: index in dsts of a connection row's destination, -1 for other rows
	dsts    keySet[string] // the window's distinct destinations; the first is "" (none)
	cohorts []string       // by index in the window's devices
	counts  []typeCounts   // by index in the window's devices
}

// typeCounts holds how many rows of each type (window.TypeConnOpened...,
// the ColType dictionary's index, masked to 3 bits) a device has in a
// window. The dictionary has 5 types; an index past 7 would add to
// another type's count, which the detectors take as a bound: more rows,
// never a device passed over that should not be.
type typeCounts [8]int32

func dictIdx(a arrow.Array) []int8 {
	return a.(*array.Dictionary).Indices().(*array.Int8).Int8Values()
}

func colsOf(w *window.Window) cols {
	b := w.Batch
	return cols{
		w:       w,
		typ:     dictIdx(b.Column(window.ColType)),
		times:   b.Column(window.ColTime).(*array.Timestamp).TimestampValues(),
		ids:     b.Column(window.ColID).(*array.FixedSizeBinary),
		host:    b.Column(window.ColDstHost).(*array.String),
		ip:      b.Column(window.ColDstIP).(*array.String),
		port:    b.Column(window.ColDstPort).(*array.Uint32),
		reason:  dictIdx(b.Column(window.ColCloseReason)),
		state:   b.Column(window.ColConnState).(*array.String),
		auth:    dictIdx(b.Column(window.ColAuthReason)),
		ivID:    b.Column(window.ColInterventionID).(*array.String),
		bytesUp: b.Column(window.ColBytesUp).(*array.Uint64),
	}
}

// id returns row i's event id: the column's 16 bytes moved as one array
// (a copy into an array called memmove).
func (c *cols) id(i int) events.ID {
	return events.ID(c.ids.Value(i))
}

// dst names a row's destination: the host, else the IP.
func (c *cols) dst(i int) string {
	if h := c.host.Value(i); h != "" {
		return h
	}
	return c.ip.Value(i)
}

// dstIDs returns, by row, the index in names of the destination (c.dst)
// of each conn.opened and conn.closed row (-1 for the other rows), and
// the window's distinct destinations, names[0] being "" (none): the
// detectors key what they count by these small ints rather than by the
// strings, each hashed once per window and not once per row and detector.
// names alias the window's buffers.
func (c *cols) dstIDs() (ids []int32, names []string) {
	s := c.scratchMem()
	if c.haveDsts {
		return s.dstOf, s.dsts.keys
	}
	c.haveDsts = true
	n := len(c.typ)
	ids = slices.Grow(s.dstOf[:0], n)[:n]
	s.dsts.reset()
	s.dsts.index("")
	prev, prevID := "", int32(0) // rows to one destination often follow each other
	for i, t := range c.typ {
		if t != window.TypeConnOpened && t != window.TypeConnClosed {
			ids[i] = -1
			continue
		}
		d := c.dst(i)
		if d == prev {
			ids[i] = prevID
			continue
		}
		id, _ := s.dsts.index(d)
		ids[i], prev, prevID = id, d, id
	}
	s.dstOf = ids
	return ids, s.dsts.keys
}

// cohort returns the cohort (Context.Cohort) of the window's device di,
// asked once per window for every detector.
func (c *cols) cohort(ctx *Context, di int) string {
	s := c.scratchMem()
	if !c.haveCohort {
		c.haveCohort = true
		s.cohorts = slices.Grow(s.cohorts[:0], len(c.w.Devices))[:len(c.w.Devices)]
		for i, d := range c.w.Devices {
			s.cohorts[i] = ""
			if d.Tenant != "" && d.Device != "" {
				s.cohorts[i] = ctx.Cohort(d.Tenant, d.Device)
			}
		}
	}
	return s.cohorts[di]
}

// counts returns how many rows of each type the window's device di has,
// counted once per window for every detector: a rule detector skips a
// device whose rows are too few to reach its threshold without a pass
// of its own over them (most windows' devices reach none: flood, scan,
// auth-failures and blocked-attempts each read every row of every
// window).
func (c *cols) counts(di int) *typeCounts {
	s := c.scratchMem()
	if !c.haveCounts {
		c.haveCounts = true
		devs := c.w.Devices
		s.counts = slices.Grow(s.counts[:0], len(devs))[:len(devs)]
		for j, d := range devs {
			var n typeCounts
			for _, t := range c.typ[d.Rows[0]:d.Rows[1]] {
				n[t&7]++
			}
			s.counts[j] = n
		}
	}
	return &s.counts[di]
}

// bytesSent returns the sum of the bytes sent in the connections a device's
// conn.closed rows close, or math.MaxUint64 if it overflows: a bound on
// what flood adds up for any one of its destinations.
func (c *cols) bytesSent(d window.DeviceRows) uint64 {
	var sum uint64
	for i := d.Rows[0]; i < d.Rows[1]; i++ {
		if c.typ[i] == window.TypeConnClosed {
			b := c.bytesUp.Value(i)
			if sum+b < sum {
				return math.MaxUint64
			}
			sum += b
		}
	}
	return sum
}

func (c *cols) scratchMem() *scratch {
	if c.s == nil {
		c.s = &scratch{} // a detector's Window, without RunWindow's
	}
	return c.s
}

// forget clears what the scratch memory holds of a window.
func (s *scratch) forget() {
	s.dsts.reset()
	clear(s.cohorts)
}

// failed reports whether a conn.closed row is a failed or refused
// connection: closed as refused, timeout or error by the edge, or an
// imported connection whose state shows no established session (Zeek S0,
// REJ, RSTOS0, RSTRH, SH, SHR, OTH).
func (c *cols) failed(i int) bool {
	switch events.CloseReason(c.reason[i]) {
	case events.CloseReason_CLOSE_REASON_REFUSED, events.CloseReason_CLOSE_REASON_TIMEOUT, events.CloseReason_CLOSE_REASON_ERROR:
		return true
	}
	switch c.state.Value(i) {
	case "S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR", "OTH":
		return true
	}
	return false
}

// capIDs keeps at most n ids.
func capIDs(ids []events.ID, n int) []events.ID {
	if len(ids) > n {
		return ids[:n]
	}
	return ids
}

// extend returns s one element longer, reusing its capacity: the new last
// element holds what the memory held (the caller sets what it needs) or,
// when s had to grow, the zero value.
func extend[T any](s []T) []T {
	if len(s) < cap(s) {
		return s[:len(s)+1]
	}
	var zero T
	return append(s, zero)
}

// colsDetector is a window detector of this package: it reads the
// window's columns through cols.
type colsDetector interface {
	window(w *window.Window, c *cols, ctx *Context) []Finding
}

// RunWindow runs the window detectors on w, in order, and appends to out
// the findings of each that found any. It reads the window's columns once
// for the detectors of this package (once per detector was 1% of a
// replay), into ctx's scratch memory: windows sharing a Context are run
// one at a time.
func RunWindow(out [][]Finding, dets []WindowDetector, w *window.Window, ctx *Context) [][]Finding {
	if ctx == nil {
		ctx = &Context{}
	}
	var c *cols
	defer func() {
		if c != nil {
			*c = cols{} // forget the window's columns
			ctx.scratch.forget()
		}
	}()
	for i, d := range dets {
		var f []Finding
		if cd := ctx.asCols(dets, i); cd != nil {
			if c == nil {
				c = &ctx.cols // kept in ctx: a cols escapes to the heap
				*c = colsOf(w)
				c.s = &ctx.scratch
			}
			f = cd.window(w, c, ctx)
		} else {
			f = d.Window(w, ctx)
		}
		if len(f) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// asCols returns dets[i] as a colsDetector, nil if it is not one. The
// assertion is kept in ctx for the detector at i: asserted once per window
// and detector it went through the runtime's itab table most times (the
// call site's cache of types fills slowly: 0.15% of a replay); comparing
// the detector with the one kept costs two words.
func (ctx *Context) asCols(dets []WindowDetector, i int) colsDetector {
	d := dets[i]
	if i < len(ctx.dets) && ctx.dets[i] == d {
		return ctx.asserted[i]
	}
	if len(ctx.dets) != len(dets) {
		ctx.dets = make([]WindowDetector, len(dets))
		ctx.asserted = make([]colsDetector, len(dets))
	}
	cd, _ := d.(colsDetector)
	ctx.dets[i], ctx.asserted[i] = d, cd
	return cd
}
