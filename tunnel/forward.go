package tunnel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/tunnel/fingerprint"
)

// httpForwarder proxies absolute-form plain HTTP requests: it parses them to
// fingerprint transactions, enforces blocks and the replay shield, forwards
// with keep-alive and streamed bodies, and records conn.opened, tx.observed
// and conn.closed for each request.
type httpForwarder struct {
	e  *Edge
	rp *httputil.ReverseProxy
}

type reqStateKey struct{}

// reqState follows one request through the reverse proxy.
type reqState struct {
	dc      *deviceConn
	start   time.Time
	connID  string
	addr    netip.AddrPort
	tx      *events.TxObserved
	opened  *events.ConnOpened
	sent    atomic.Int64
	recv    atomic.Int64
	status  int
	err     error
	emitted bool
	closed  bool // conn.closed recorded
	lost    bool // the device went away before the response was delivered
}

func newHTTPForwarder(e *Edge) *httpForwarder {
	f := &httpForwarder{e: e}
	dialer := &net.Dialer{Timeout: e.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                  nil, // never chain to an environment proxy
		DialContext:            dialer.DialContext,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  e.cfg.ResponseTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	f.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			st := pr.In.Context().Value(reqStateKey{}).(*reqState)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = st.addr.String() // the address the edge checked
			pr.Out.Host = pr.In.Host
		},
		Transport: transport,
		// 0 flushes streamed responses at once but sends headers and a
		// small body in one TLS record (-1 cost a second record and write
		// per response, measured 8 % of the edge's CPU).
		FlushInterval: 0,
		BufferPool:    bufferPool{},
		ErrorLog:      nil,
		ModifyResponse: func(resp *http.Response) error {
			st := resp.Request.Context().Value(reqStateKey{}).(*reqState)
			st.status = resp.StatusCode
			st.tx.Status = uint32(resp.StatusCode)
			st.tx.LatencyNs = int64(time.Since(st.start))
			st.tx.Outcome = events.TxOutcome_TX_OUTCOME_FORWARDED
			f.emitStart(st)
			resp.Body = &countingBody{ReadCloser: resp.Body, n: &st.recv}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			st := r.Context().Value(reqStateKey{}).(*reqState)
			st.err = err
			status, code := http.StatusBadGateway, "upstream_error"
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
				status, code = http.StatusGatewayTimeout, "upstream_timeout"
			}
			if st.dc.cut.Load() != 0 || errors.Is(err, context.Canceled) {
				status, code = http.StatusForbidden, "cut"
			}
			if st.status == 0 {
				st.status = status
				st.tx.Status = uint32(status)
				st.tx.LatencyNs = int64(time.Since(st.start))
				st.tx.Outcome = events.TxOutcome_TX_OUTCOME_ERROR
				f.emitStart(st)
				writeError(w, status, code, err.Error(), nil)
			}
		},
	}
	return f
}

// bufferPool lends the reverse proxy the edge's 32 KiB copy buffers.
type bufferPool struct{}

func (bufferPool) Get() []byte  { return *copyBufs.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBufs.Put(&b) }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// emitStart records conn.opened and tx.observed once the outcome is known.
func (f *httpForwarder) emitStart(st *reqState) {
	if st.emitted {
		return
	}
	st.emitted = true
	dev := st.dc.dev
	f.e.emit(events.Event{ID: events.NewID(), Tenant: dev.Tenant, Device: dev.ID, Time: st.start.UTC(), Payload: st.opened})
	f.e.emit(events.Event{ID: events.NewID(), Tenant: dev.Tenant, Device: dev.ID, Time: time.Now().UTC(), Payload: st.tx})
}

func (f *httpForwarder) serve(w http.ResponseWriter, r *http.Request, dc *deviceConn) {
	e := f.e
	start := time.Now()
	connID := events.NewID().String()
	host, port, err := splitTarget(r.URL.Host, 80)
	if err != nil {
		e.m.Refusals.WithLabelValues("bad_target").Inc()
		writeError(w, http.StatusBadRequest, "bad_target", err.Error(), nil)
		return
	}
	path := r.URL.RequestURI()
	tx := &events.TxObserved{ConnId: connID, Method: r.Method, Host: host, Path: truncate(path, 2048)}

	// Read the body up to the fingerprint limit; larger bodies stream on.
	limit := e.cfg.MaxFingerprintBody
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(e.cfg.ReadHeaderTimeout + 20*time.Second))
	buf, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	rc.SetReadDeadline(time.Time{})
	if err != nil {
		var mbe *http.MaxBytesError
		e.m.Refusals.WithLabelValues("bad_body").Inc()
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", err.Error(), nil)
			return
		}
		writeError(w, http.StatusBadRequest, "bad_body", "reading the request body: "+err.Error(), nil)
		return
	}
	keyer, err := e.cfg.Keyer(dc.dev.Tenant)
	if err != nil {
		e.logger.Error("no fingerprint key for tenant", "tenant", dc.dev.Tenant, "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "the edge cannot fingerprint this tenant's traffic", nil)
		return
	}
	var body io.Reader = bytes.NewReader(buf)
	var strict [fingerprint.FingerprintSize]byte
	if len(buf) > limit {
		tx.Oversize = true
		strict = keyer.StrictOversize(r.Method, r.URL.Host, path)
		body = io.MultiReader(body, r.Body)
		tx.BodySize = uint64(max(r.ContentLength, int64(len(buf))))
	} else {
		canon, kind, _ := fingerprint.AppendCanonical(nil, r.Header.Get("Content-Type"), buf, limit)
		strict = keyer.Strict(r.Method, r.URL.Host, path, canon)
		if lf := fingerprint.Fields(canon, kind); lf != (fingerprint.LooseFields{}) {
			loose := keyer.Loose(r.URL.Host, path, lf)
			tx.LooseFp = loose[:]
		}
		tx.BodySize = uint64(len(buf))
	}
	// The loose fingerprint is recorded only when the body names the
	// payment (amount, currency, merchant or terminal): a loose key of host
	// and path alone would group every request to the URL.
	tx.StrictFp = strict[:]
	t := intervention.Target{Host: host, Port: port, StrictFP: tx.StrictFp}

	refuse := func(outcome events.TxOutcome, reason events.CloseReason) {
		tx.Outcome, tx.Status, tx.LatencyNs = outcome, http.StatusForbidden, int64(time.Since(start))
		e.blockResponse(w, dc, connID, t, reason, start)
		e.emit(events.Event{ID: events.NewID(), Tenant: dc.dev.Tenant, Device: dc.dev.ID, Time: start.UTC(), Payload: tx})
		e.m.Requests.WithLabelValues("http", "blocked").Inc()
	}
	if reason, bad := e.forbidden(dc, t, start); bad {
		refuse(events.TxOutcome_TX_OUTCOME_BLOCKED, reason)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.cfg.DialTimeout)
	ip, err := e.resolve(ctx, host)
	cancel()
	opened := &events.ConnOpened{ConnId: connID, SrcAddr: dc.remote, DstHost: host, DstPort: port, Mode: events.ConnMode_CONN_MODE_HTTP, Transport: "tcp", Service: "http"}
	if err != nil {
		tx.Outcome, tx.Status, tx.LatencyNs = events.TxOutcome_TX_OUTCOME_ERROR, http.StatusBadGateway, int64(time.Since(start))
		e.emitOpenClose(dc, start, opened, &events.ConnClosed{ConnId: connID, DurationNs: int64(time.Since(start)), Reason: events.CloseReason_CLOSE_REASON_ERROR, Error: err.Error()})
		e.emit(events.Event{ID: events.NewID(), Tenant: dc.dev.Tenant, Device: dc.dev.ID, Time: time.Now().UTC(), Payload: tx})
		e.m.Requests.WithLabelValues("http", "dns_error").Inc()
		writeError(w, http.StatusBadGateway, "dns_error", err.Error(), nil)
		return
	}
	t.IP = ip
	opened.DstIp = ip.String()
	if reason, bad := e.forbidden(dc, t, start); bad {
		refuse(events.TxOutcome_TX_OUTCOME_BLOCKED, reason)
		return
	}

	// The replay shield, before anything reaches the destination.
	if !tx.Oversize && e.cfg.Policies.For(dc.dev.Tenant).ShieldApplies(r.Method) {
		pol := e.cfg.Policies.For(dc.dev.Tenant)
		key := shieldKey{tenant: dc.dev.Tenant, fp: strict}
		prior, replay, finish, serr := e.shield.begin(r.Context(), key, time.Duration(pol.ReplayShield.Horizon), e.cfg.ReplayInflightWait)
		switch {
		case serr != nil:
			e.m.Refusals.WithLabelValues("replay_inflight").Inc()
			tx.Outcome, tx.Status, tx.LatencyNs = events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY, http.StatusConflict, int64(time.Since(start))
			e.emit(events.Event{ID: events.NewID(), Tenant: dc.dev.Tenant, Device: dc.dev.ID, Time: start.UTC(), Payload: tx})
			writeError(w, http.StatusConflict, "replay_in_progress", serr.Error(), nil)
			return
		case replay && prior.lost && prior.device == dc.dev.ID:
			// The device never got the answer to the success it repeats:
			// its retry. Refused all the same (the payment was charged
			// once), and told so plainly; not a replay.
			f.refuseRepeat(w, dc, tx, start, prior, events.TxOutcome_TX_OUTCOME_REFUSED_RETRY, "retry_of_lost_response", "refused_retry", "already_succeeded",
				"this exact transaction already succeeded at %s, but its response never reached this device; the edge did not send it again")
			return
		case replay:
			f.refuseRepeat(w, dc, tx, start, prior, events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY, "replay", "refused_replay", "replay_refused",
				"this exact transaction already succeeded at %s; the edge refused to send it again")
			return
		}
		st := &reqState{}
		defer func() { finish(st.status >= 200 && st.status <= 299 && st.err == nil, dc.dev.ID, st.lost) }()
		f.forward(w, r, dc, body, start, connID, ip, port, t, opened, tx, st)
		return
	}
	f.forward(w, r, dc, body, start, connID, ip, port, t, opened, tx, &reqState{})
}

// refuseRepeat answers 403 to a repeat of a success the shield remembers
// (prior), records its tx.observed with outcome and counts it; message
// takes the time of the success.
func (f *httpForwarder) refuseRepeat(w http.ResponseWriter, dc *deviceConn, tx *events.TxObserved, start time.Time, prior success,
	outcome events.TxOutcome, refusal, request, code, message string) {
	e := f.e
	e.m.Refusals.WithLabelValues(refusal).Inc()
	e.m.Requests.WithLabelValues("http", request).Inc()
	tx.Outcome, tx.Status, tx.LatencyNs = outcome, http.StatusForbidden, int64(time.Since(start))
	e.emit(events.Event{ID: events.NewID(), Tenant: dc.dev.Tenant, Device: dc.dev.ID, Time: start.UTC(), Payload: tx})
	writeError(w, http.StatusForbidden, code, fmt.Sprintf(message, prior.at.UTC().Format(time.RFC3339)),
		map[string]string{"first_seen": prior.at.UTC().Format(time.RFC3339Nano)})
}

func (f *httpForwarder) forward(w http.ResponseWriter, r *http.Request, dc *deviceConn, body io.Reader, start time.Time, connID string,
	ip netip.Addr, port uint32, t intervention.Target, opened *events.ConnOpened, tx *events.TxObserved, st *reqState) {
	e := f.e
	st.dc, st.start, st.connID, st.addr, st.tx, st.opened = dc, start, connID, netip.AddrPortFrom(ip, uint16(port)), tx, opened
	ctx, cancel := context.WithCancel(context.WithValue(r.Context(), reqStateKey{}, st))
	defer cancel()
	var cutReason atomic.Int32
	s := &stream{conn: dc, target: t, cut: func(reason events.CloseReason) {
		cutReason.CompareAndSwap(0, int32(reason))
		cancel()
	}}
	e.addStream(s)
	defer e.removeStream(s)
	out := r.WithContext(ctx)
	out.Body = io.NopCloser(&countingReader{r: body, n: &st.sent})
	if r.ContentLength >= 0 {
		out.ContentLength = r.ContentLength
	}
	if tx.BodySize == 0 && r.ContentLength <= 0 {
		out.Body = http.NoBody
		out.ContentLength = 0
	}
	// The reverse proxy panics with http.ErrAbortHandler when it cannot copy
	// the response to the device (the device went away mid-response); the
	// server recovers that panic and closes the device's connection. The
	// request is still accounted for, as closed by the client, before the
	// panic goes on.
	defer func() {
		if !st.closed {
			p := recover()
			st.lost = true
			f.closeRequest(dc, st, connID, start, events.CloseReason_CLOSE_REASON_CLIENT, "the device went away before the response was delivered", &cutReason)
			if p != nil {
				panic(p)
			}
		}
	}()
	f.rp.ServeHTTP(w, out)
	reason := events.CloseReason_CLOSE_REASON_SERVER
	errText := ""
	if st.err != nil {
		reason, errText = dialReason(st.err), st.err.Error()
	}
	f.closeRequest(dc, st, connID, start, reason, errText, &cutReason)
}

// closeRequest records the end of a forwarded request: tx.observed (when
// not yet), the request counters and conn.closed. A cut (an intervention,
// a revocation) overrides reason.
func (f *httpForwarder) closeRequest(dc *deviceConn, st *reqState, connID string, start time.Time, reason events.CloseReason, errText string, cutReason *atomic.Int32) {
	e := f.e
	st.closed = true
	f.emitStart(st)
	if cr := events.CloseReason(cutReason.Load()); cr != 0 {
		reason = cr
	}
	outcome := strconv.Itoa(st.status)
	if st.lost {
		outcome = "client_gone"
	}
	e.m.Requests.WithLabelValues("http", outcome).Inc()
	e.m.BytesUp.Add(float64(st.sent.Load()))
	e.m.BytesDown.Add(float64(st.recv.Load()))
	e.emit(events.Event{ID: events.NewID(), Tenant: dc.dev.Tenant, Device: dc.dev.ID, Time: time.Now().UTC(), Payload: &events.ConnClosed{
		ConnId: connID, BytesUp: uint64(st.sent.Load()), BytesDown: uint64(st.recv.Load()), DurationNs: int64(time.Since(start)), Reason: reason, Error: errText,
	}})
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
