package detect

import (
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

	cols cols // RunWindow's scratch
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
}

func dictIdx(a arrow.Array) []int8 {
	return a.(*array.Dictionary).Indices().(*array.Int8).Int8Values()
}

func colsOf(w *window.Window) cols {
	b := w.Batch
	return cols{
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

func (c *cols) id(i int) events.ID {
	var id events.ID
	copy(id[:], c.ids.Value(i))
	return id
}

// dst names a row's destination: the host, else the IP.
func (c *cols) dst(i int) string {
	if h := c.host.Value(i); h != "" {
		return h
	}
	return c.ip.Value(i)
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
		}
	}()
	for _, d := range dets {
		var f []Finding
		if cd, ok := d.(colsDetector); ok {
			if c == nil {
				c = &ctx.cols // kept in ctx: a cols escapes to the heap
				*c = colsOf(w)
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
