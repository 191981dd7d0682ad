package tunnel

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/tunnel/fingerprint"
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// serveConnect carries a CONNECT stream: the edge sees its destination, the
// inner TLS ClientHello (SNI and fingerprint), sizes and timing, never its
// content.
func (e *Edge) serveConnect(w http.ResponseWriter, r *http.Request, dc *deviceConn) {
	start := time.Now()
	connID := events.NewID().String()
	host, port, err := splitTarget(r.Host, 0)
	if err != nil {
		e.m.Refusals.WithLabelValues("bad_target").Inc()
		writeError(w, http.StatusBadRequest, "bad_target", err.Error()+" (CONNECT needs host:port)", nil)
		return
	}
	t := intervention.Target{Host: host, Port: port}
	if reason, bad := e.forbidden(dc, t, start); bad {
		e.blockResponse(w, dc, connID, t, reason, start)
		return
	}
	opened := &events.ConnOpened{ConnId: connID, SrcAddr: dc.remote, DstHost: host, DstPort: port, Mode: events.ConnMode_CONN_MODE_CONNECT, Transport: "tcp"}
	fail := func(status int, code string, reason events.CloseReason, err error) {
		e.m.Requests.WithLabelValues("connect", code).Inc()
		e.emitOpenClose(dc, start, opened, &events.ConnClosed{ConnId: connID, DurationNs: int64(time.Since(start)), Reason: reason, Error: err.Error()})
		writeError(w, status, code, err.Error(), nil)
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.cfg.DialTimeout)
	defer cancel()
	ip, err := e.resolve(ctx, host)
	if err != nil {
		fail(http.StatusBadGateway, "dns_error", events.CloseReason_CLOSE_REASON_ERROR, err)
		return
	}
	t.IP = ip
	opened.DstIp = ip.String()
	if reason, bad := e.forbidden(dc, t, start); bad {
		e.blockResponse(w, dc, connID, t, reason, start)
		return
	}
	var d net.Dialer
	up, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, uint16(port)).String())
	if err != nil {
		status := http.StatusBadGateway
		if dialReason(err) == events.CloseReason_CLOSE_REASON_TIMEOUT {
			status = http.StatusGatewayTimeout
		}
		fail(status, "connect_failed", dialReason(err), err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		writeError(w, http.StatusInternalServerError, "internal", "cannot take over the connection", nil)
		return
	}
	if !e.track() {
		up.Close()
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "the edge is shutting down", nil)
		return
	}
	defer e.wg.Done()
	_, brw, err := hj.Hijack()
	if err != nil {
		up.Close()
		dc.Close()
		return
	}
	dc.SetDeadline(time.Time{})
	if _, err := dc.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		up.Close()
		dc.Close()
		e.emitOpenClose(dc, start, opened, &events.ConnClosed{ConnId: connID, DurationNs: int64(time.Since(start)), Reason: events.CloseReason_CLOSE_REASON_CLIENT, Error: err.Error()})
		return
	}
	tn := &tunnel{e: e, dc: dc, up: up, in: brw.Reader}
	tn.last.Store(time.Now().UnixNano())
	s := &stream{conn: dc, target: t, cut: func(r events.CloseReason) { dc.cutWith(r) }}
	e.addStream(s)
	defer e.removeStream(s)
	tn.idle = time.AfterFunc(e.cfg.TunnelIdleTimeout, tn.checkIdle)
	defer tn.idle.Stop()

	// Destination to device, from the start (server-first protocols). A
	// clean end of one direction is passed on as a half-close; an error
	// ends both. The idle timer ends a stream stuck half-open.
	downDone := make(chan error, 1)
	go func() {
		err := tn.pipe(dc, up, &tn.recv, "server")
		if err == nil {
			dc.CloseWrite()
		} else {
			dc.Close()
		}
		downDone <- err
	}()

	// Device to destination: first look at the ClientHello, if any.
	tn.peek(opened)
	e.emit(events.Event{ID: events.NewID(), Tenant: dc.dev.Tenant, Device: dc.dev.ID, Time: start.UTC(), Payload: opened})
	upErr := tn.pipe(up, tn.in, &tn.sent, "client")
	if c, ok := up.(*net.TCPConn); ok && upErr == nil && dc.cut.Load() == 0 {
		c.CloseWrite()
	} else {
		up.Close()
	}
	downErr := <-downDone
	up.Close()
	dc.Close()
	reason, errText := tn.reason(upErr, downErr)
	e.m.BytesUp.Add(float64(tn.sent.Load()))
	e.m.BytesDown.Add(float64(tn.recv.Load()))
	e.m.Requests.WithLabelValues("connect", events.EnumName(reason.Descriptor(), reason.Number())).Inc()
	e.emit(events.Event{ID: events.NewID(), Tenant: dc.dev.Tenant, Device: dc.dev.ID, Time: time.Now().UTC(), Payload: &events.ConnClosed{
		ConnId: connID, BytesUp: uint64(tn.sent.Load()), BytesDown: uint64(tn.recv.Load()), DurationNs: int64(time.Since(start)), Reason: reason, Error: errText,
	}})
}

// emitOpenClose records a connection that never carried data.
func (e *Edge) emitOpenClose(dc *deviceConn, start time.Time, opened *events.ConnOpened, closed *events.ConnClosed) {
	e.emit(events.Event{ID: events.NewID(), Tenant: dc.dev.Tenant, Device: dc.dev.ID, Time: start.UTC(), Payload: opened})
	e.emit(events.Event{ID: events.NewID(), Tenant: dc.dev.Tenant, Device: dc.dev.ID, Time: time.Now().UTC(), Payload: closed})
}

// tunnel is one CONNECT stream in progress.
type tunnel struct {
	e          *Edge
	dc         *deviceConn
	up         net.Conn
	in         *bufio.Reader
	sent, recv atomic.Int64 // bytes device→destination, destination→device
	last       atomic.Int64 // unix nanos of the last byte either way
	idle       *time.Timer
	firstEOF   atomic.Pointer[string] // which side ended first: "client" or "server"
	timedOut   atomic.Bool
}

// peek reads the device's first bytes, up to the reader's buffer, and
// fingerprints a TLS ClientHello if that is what they are.
func (t *tunnel) peek(opened *events.ConnOpened) {
	deadline := time.Now().Add(t.e.cfg.PeekTimeout)
	t.dc.SetReadDeadline(deadline)
	defer t.dc.SetReadDeadline(time.Time{})
	want := 1
	for {
		b, err := t.in.Peek(want)
		if len(b) == 0 {
			return // nothing within the timeout, or closed: forward as is
		}
		ch, perr := fingerprint.ParseClientHello(b)
		switch {
		case perr == nil:
			opened.Sni = ch.ServerName
			opened.TlsFp = ch.JA4()
			opened.Service = "tls"
			return
		case errors.Is(perr, fingerprint.ErrNeedMore) && err == nil && len(b) < t.in.Size():
			want = min(len(b)+1, t.in.Size())
			if t.in.Buffered() > len(b) {
				want = t.in.Buffered()
			}
		default:
			return
		}
	}
}

// pipe copies src to dst, counting bytes and activity. It returns nil on a
// clean end of src, and records which side ended first.
func (t *tunnel) pipe(dst io.Writer, src io.Reader, n *atomic.Int64, side string) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		nr, er := src.Read(buf)
		if nr > 0 {
			nw, ew := dst.Write(buf[:nr])
			n.Add(int64(nw))
			t.last.Store(time.Now().UnixNano())
			if ew != nil {
				t.firstEOF.CompareAndSwap(nil, &side)
				return ew
			}
		}
		if er != nil {
			t.firstEOF.CompareAndSwap(nil, &side)
			if er == io.EOF {
				return nil
			}
			return er
		}
	}
}

func (t *tunnel) checkIdle() {
	idle := time.Since(time.Unix(0, t.last.Load()))
	if idle >= t.e.cfg.TunnelIdleTimeout {
		t.finish("idle")
		return
	}
	t.idle.Reset(t.e.cfg.TunnelIdleTimeout - idle)
}

// finish ends the tunnel for a timeout.
func (t *tunnel) finish(label string) {
	t.timedOut.Store(true)
	t.e.m.Cuts.WithLabelValues(label).Inc()
	t.up.Close()
	t.dc.Close()
}

// reason decides why the tunnel closed.
func (t *tunnel) reason(upErr, downErr error) (events.CloseReason, string) {
	if r := events.CloseReason(t.dc.cut.Load()); r != 0 {
		return r, ""
	}
	if t.timedOut.Load() {
		return events.CloseReason_CLOSE_REASON_TIMEOUT, "idle"
	}
	first := t.firstEOF.Load()
	var err error
	if first != nil && *first == "client" {
		err = upErr
	} else {
		err = downErr
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return events.CloseReason_CLOSE_REASON_ERROR, err.Error()
	}
	if first != nil && *first == "server" {
		return events.CloseReason_CLOSE_REASON_SERVER, ""
	}
	return events.CloseReason_CLOSE_REASON_CLIENT, ""
}
