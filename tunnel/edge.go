package tunnel

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/intervention"
)

// Edge is the mTLS proxy devices send all their traffic through.
//
// Run serves until Shutdown; Shutdown stops accepting, lets connections
// finish up to Config.ShutdownGrace, cuts the rest and returns once every
// connection's events have been emitted. Both are safe to call once each;
// Shutdown is safe to call twice.
type Edge struct {
	cfg    Config
	logger *slog.Logger
	m      *Metrics
	tlsCfg *tls.Config
	srv    *http.Server
	proxy  *httpForwarder
	shield *shield

	mu       sync.Mutex
	ln       net.Listener
	conns    map[string]map[*deviceConn]struct{} // by device
	streams  map[string]map[*stream]struct{}     // by device
	idleNew  map[*deviceConn]struct{}            // handshaken, waiting for a first request
	closing  bool
	wg       sync.WaitGroup // handshakes, tunnels and requests in progress
	done     chan struct{}
	shutDone chan struct{}
	shutOnce sync.Once
	addr     atomic.Pointer[string]
}

// New checks cfg and prepares an edge; it does not listen yet.
func New(cfg Config, logger *slog.Logger) (*Edge, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cert, err := cfg.CA.EdgeCertificate(cfg.Hosts)
	if err != nil {
		return nil, fmt.Errorf("edge certificate: %w", err)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	e := &Edge{
		cfg:      cfg,
		logger:   logger,
		m:        cfg.Metrics,
		conns:    map[string]map[*deviceConn]struct{}{},
		streams:  map[string]map[*stream]struct{}{},
		idleNew:  map[*deviceConn]struct{}{},
		done:     make(chan struct{}),
		shutDone: make(chan struct{}),
		shield:   newShield(),
	}
	e.tlsCfg = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// Halo verifies the client certificate itself, so that each
		// refusal has a reason (auth.failed) and revocations apply at once.
		ClientAuth: tls.RequireAnyClientCert,
		NextProtos: []string{"http/1.1"},
	}
	e.proxy = newHTTPForwarder(e)
	e.srv = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if dc, ok := c.(*deviceConn); ok {
				return context.WithValue(ctx, connKey{}, dc)
			}
			return ctx
		},
	}
	cfg.Registry.OnRevoke(e.onRevoke)
	cfg.Interventions.OnChange(e.onIntervention)
	return e, nil
}

type connKey struct{}

// Addr returns the address the edge listens on once Run has started.
func (e *Edge) Addr() string {
	if p := e.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// Listen binds the edge's address; Run calls it when needed. Separate so a
// caller can learn the bound address before serving.
func (e *Edge) Listen() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln != nil {
		return nil
	}
	if e.closing {
		return ErrClosed
	}
	ln, err := net.Listen("tcp", e.cfg.Addr)
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	e.ln = ln
	a := ln.Addr().String()
	e.addr.Store(&a)
	return nil
}

// Run accepts device connections until Shutdown (returns nil) or a listener
// error.
func (e *Edge) Run(ctx context.Context) error {
	if err := e.Listen(); err != nil {
		return err
	}
	go e.shield.sweep(e.done)
	hs := newChanListener(e.ln.Addr())
	serveErr := make(chan error, 1)
	go func() { serveErr <- e.srv.Serve(hs) }()
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), e.cfg.ShutdownGrace+5*time.Second)
			defer cancel()
			e.Shutdown(sctx)
		case <-e.done:
		}
	}()
	e.logger.Info("edge listening", "addr", e.Addr())
	var tempDelay time.Duration
	for {
		c, err := e.ln.Accept()
		if err != nil {
			if e.isClosing() {
				hs.Close()
				<-serveErr
				<-e.shutDone // Shutdown (ours on ctx, or the caller's) has finished
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				tempDelay = min(max(tempDelay*2, 5*time.Millisecond), time.Second)
				e.logger.Warn("edge accept error; retrying", "error", err, "delay", tempDelay)
				time.Sleep(tempDelay)
				continue
			}
			hs.Close()
			return fmt.Errorf("edge accept: %w", err)
		}
		tempDelay = 0
		if !e.track() {
			c.Close()
			continue
		}
		go func() {
			defer e.wg.Done()
			e.handshake(c, hs)
		}()
	}
}

func (e *Edge) isClosing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closing
}

// track registers work in progress; false once shutting down.
func (e *Edge) track() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return false
	}
	e.wg.Add(1)
	return true
}

// handshake completes the device's TLS handshake, checks its certificate
// and hands the connection to the HTTP server.
func (e *Edge) handshake(raw net.Conn, hs *chanListener) {
	tc := tls.Server(raw, e.tlsCfg)
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		reason := events.AuthFailReason_AUTH_FAIL_REASON_BAD_HANDSHAKE
		if isNoCert(err) {
			reason = events.AuthFailReason_AUTH_FAIL_REASON_NO_CERT
		}
		e.authFailed(raw.RemoteAddr().String(), nil, reason, err)
		tc.Close()
		return
	}
	state := tc.ConnectionState()
	leaf := state.PeerCertificates[0]
	dev, reason, err := e.verify(state.PeerCertificates)
	if err != nil {
		e.authFailed(raw.RemoteAddr().String(), leaf, reason, err)
		// The handshake is done (TLS 1.3 clients learn of a refused
		// certificate only now): say why in HTTP terms, then close.
		tc.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(tc, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nHalo-Error: unauthorized\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
			len(authBody(reason)), authBody(reason))
		tc.Close()
		return
	}
	e.m.Handshakes.WithLabelValues("ok").Inc()
	dc := &deviceConn{Conn: tc, e: e, dev: dev, certSHA: sha256.Sum256(leaf.Raw), remote: raw.RemoteAddr().String()}
	if !e.addConn(dc) {
		e.m.Refusals.WithLabelValues("per_device_limit").Inc()
		e.logger.Warn("device over its connection limit", "device_id", dev.ID, "tenant", dev.Tenant, "limit", e.cfg.MaxConnsPerDevice)
		body := `{"error":"too_many_connections","message":"this device has too many open connections to the edge"}`
		tc.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(tc, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nHalo-Error: too_many_connections\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		tc.Close()
		return
	}
	// Wait for the first request with the idle timeout (http.Server would
	// give a new connection only ReadHeaderTimeout, too short for agents
	// that keep connections warm), then hand the connection over.
	if !e.waitFirstByte(dc) {
		dc.Close()
		return
	}
	if !hs.put(dc) {
		dc.Close()
	}
}

// waitFirstByte reads the first byte of a new connection, within
// IdleTimeout, and keeps it for the HTTP server. It is false when the
// connection closed, idled out, or the edge is shutting down.
func (e *Edge) waitFirstByte(dc *deviceConn) bool {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return false
	}
	e.idleNew[dc] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.idleNew, dc)
		e.mu.Unlock()
	}()
	dc.Conn.SetReadDeadline(time.Now().Add(e.cfg.IdleTimeout))
	var b [1]byte
	n, err := dc.Conn.Read(b[:])
	if n == 0 || err != nil {
		return false
	}
	dc.pre = append(dc.pre[:0], b[0])
	dc.Conn.SetReadDeadline(time.Time{})
	return true
}

func authBody(r events.AuthFailReason) string {
	return fmt.Sprintf(`{"error":"unauthorized","reason":%q}`, events.EnumName(r.Descriptor(), r.Number()))
}

func isNoCert(err error) bool {
	var ae tls.AlertError
	if errors.As(err, &ae) && ae == 116 { // certificate_required
		return true
	}
	s := err.Error()
	return strings.Contains(s, "didn't provide a certificate") || strings.Contains(s, "certificate required")
}

// verify checks a presented chain against the CA and the registry.
func (e *Edge) verify(chain []*x509.Certificate) (identity.Device, events.AuthFailReason, error) {
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: e.cfg.CA.Pool(), Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		var cie x509.CertificateInvalidError
		var uae x509.UnknownAuthorityError
		switch {
		case errors.As(err, &cie) && cie.Reason == x509.Expired:
			return identity.Device{}, events.AuthFailReason_AUTH_FAIL_REASON_EXPIRED, err
		case errors.As(err, &uae):
			return identity.Device{}, events.AuthFailReason_AUTH_FAIL_REASON_UNKNOWN_CA, err
		default:
			return identity.Device{}, events.AuthFailReason_AUTH_FAIL_REASON_UNKNOWN_CA, err
		}
	}
	dev, err := e.cfg.Registry.CheckCert(leaf)
	switch {
	case err == nil:
		return dev, 0, nil
	case errors.Is(err, identity.ErrRevoked):
		return identity.Device{}, events.AuthFailReason_AUTH_FAIL_REASON_REVOKED, err
	default:
		return identity.Device{}, events.AuthFailReason_AUTH_FAIL_REASON_UNKNOWN_DEVICE, err
	}
}

// authFailed counts, logs and records a refused device.
func (e *Edge) authFailed(remote string, cert *x509.Certificate, reason events.AuthFailReason, err error) {
	name := events.EnumName(reason.Descriptor(), reason.Number())
	e.m.Handshakes.WithLabelValues(name).Inc()
	if reason == events.AuthFailReason_AUTH_FAIL_REASON_BAD_HANDSHAKE {
		// Garbage and port scans: counted, not recorded, so junk cannot
		// flood the log.
		e.logger.Debug("bad TLS handshake", "remote_addr", remote, "error", err)
		return
	}
	p := &events.AuthFailed{RemoteAddr: remote, Reason: reason, Detail: err.Error()}
	var tenant, device string
	if cert != nil {
		sum := sha256.Sum256(cert.Raw)
		p.CertSha256 = sum[:]
		p.CertSubject = cert.Subject.String()
		if t, d, ierr := identity.DeviceIdentity(cert); ierr == nil && reason != events.AuthFailReason_AUTH_FAIL_REASON_UNKNOWN_CA {
			// Only trust the names in a certificate our CA signed.
			tenant, device = t, d
			if _, ok := e.cfg.Registry.Tenant(t); !ok {
				tenant, device = "", ""
			}
		}
	}
	e.logger.Info("device refused", "remote_addr", remote, "reason", name, "tenant", tenant, "device_id", device)
	e.emit(events.New(tenant, device, p))
}

func (e *Edge) emit(ev events.Event) {
	if err := e.cfg.Emitter.Emit(ev); err != nil {
		e.m.EmitErrors.Inc()
		e.logger.Error("event not recorded", "type", ev.Type(), "event_id", ev.ID, "error", err)
	}
}

// deviceConn is an authenticated device connection.
type deviceConn struct {
	*tls.Conn
	e       *Edge
	dev     identity.Device
	certSHA [32]byte
	remote  string

	cut       atomic.Int32 // events.CloseReason set when the edge cut it
	closeOnce sync.Once
	closeErr  error
	pre       []byte // bytes read before the HTTP server took over
}

// Read returns the bytes read ahead first.
func (c *deviceConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Close closes the connection once and forgets it.
func (c *deviceConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		c.e.removeConn(c)
	})
	return c.closeErr
}

// cutWith closes the connection, remembering why.
func (c *deviceConn) cutWith(reason events.CloseReason) {
	c.cut.CompareAndSwap(0, int32(reason))
	c.Close()
}

func (e *Edge) addConn(c *deviceConn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.conns[c.dev.ID]
	if len(m) >= e.cfg.MaxConnsPerDevice {
		return false
	}
	if m == nil {
		m = map[*deviceConn]struct{}{}
		e.conns[c.dev.ID] = m
	}
	m[c] = struct{}{}
	e.m.ActiveConns.Inc()
	return true
}

func (e *Edge) removeConn(c *deviceConn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m := e.conns[c.dev.ID]; m != nil {
		if _, ok := m[c]; ok {
			delete(m, c)
			e.m.ActiveConns.Dec()
			if len(m) == 0 {
				delete(e.conns, c.dev.ID)
			}
		}
	}
}

// onRevoke cuts the connections of a revoked device (or certificate).
func (e *Edge) onRevoke(device string, cert [32]byte) {
	e.mu.Lock()
	var cut []*deviceConn
	for c := range e.conns[device] {
		if cert == ([32]byte{}) || c.certSHA == cert {
			cut = append(cut, c)
		}
	}
	e.mu.Unlock()
	for _, c := range cut {
		e.m.Cuts.WithLabelValues("revoked").Inc()
		c.cutWith(events.CloseReason_CLOSE_REASON_REVOKED)
	}
	if len(cut) > 0 {
		e.logger.Info("revoked device cut off", "device_id", device, "connections", len(cut))
	}
}

// stream is a CONNECT tunnel or an HTTP request in progress.
type stream struct {
	conn   *deviceConn
	target intervention.Target
	cut    func(events.CloseReason)
}

func (e *Edge) addStream(s *stream) {
	e.mu.Lock()
	m := e.streams[s.conn.dev.ID]
	if m == nil {
		m = map[*stream]struct{}{}
		e.streams[s.conn.dev.ID] = m
	}
	m[s] = struct{}{}
	e.mu.Unlock()
	e.m.ActiveStreams.Inc()
}

func (e *Edge) removeStream(s *stream) {
	e.mu.Lock()
	if m := e.streams[s.conn.dev.ID]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(e.streams, s.conn.dev.ID)
		}
	}
	e.mu.Unlock()
	e.m.ActiveStreams.Dec()
}

// onIntervention cuts streams that a new block or quarantine forbids.
func (e *Edge) onIntervention(iv intervention.Intervention, applied bool) {
	if !applied || iv.DryRun {
		return
	}
	now := time.Now()
	e.mu.Lock()
	var cut []*stream
	var reasons []events.CloseReason
	for device, m := range e.streams {
		for s := range m {
			if s.conn.dev.Tenant != iv.Tenant || (iv.Device != "" && iv.Device != device) {
				continue
			}
			if r, blocked := e.forbidden(s.conn, s.target, now); blocked {
				cut = append(cut, s)
				reasons = append(reasons, r)
			}
		}
	}
	e.mu.Unlock()
	for i, s := range cut {
		e.m.Cuts.WithLabelValues(cutLabel(reasons[i])).Inc()
		s.cut(reasons[i])
	}
	if len(cut) > 0 {
		e.logger.Info("intervention cut open streams", "intervention_id", iv.ID, "tenant", iv.Tenant, "device_id", iv.Device, "streams", len(cut))
	}
}

func cutLabel(r events.CloseReason) string {
	if r == events.CloseReason_CLOSE_REASON_BLOCKED {
		return "block"
	}
	return "quarantine"
}

// forbidden decides whether a device may reach target now: a quarantine
// confines it to its tenant's allow-list (REVOKED), a block forbids the
// target (BLOCKED).
func (e *Edge) forbidden(c *deviceConn, t intervention.Target, now time.Time) (events.CloseReason, bool) {
	if _, q := e.cfg.Interventions.Quarantine(c.dev.Tenant, c.dev.ID, now); q {
		if !e.cfg.Policies.For(c.dev.Tenant).QuarantineAllows(t.Host, t.IP) {
			return events.CloseReason_CLOSE_REASON_REVOKED, true
		}
	}
	if _, b := e.cfg.Interventions.Block(c.dev.Tenant, c.dev.ID, t, now); b {
		return events.CloseReason_CLOSE_REASON_BLOCKED, true
	}
	return 0, false
}

// Shutdown stops accepting, lets connections finish up to ShutdownGrace (or
// ctx), cuts what remains, and waits for their events to be emitted.
func (e *Edge) Shutdown(ctx context.Context) error {
	e.shutOnce.Do(func() {
		defer close(e.shutDone)
		e.mu.Lock()
		e.closing = true
		ln := e.ln
		// Connections that never sent a request are closed at once: a
		// request arriving on them during the grace would be dropped.
		for dc := range e.idleNew {
			dc.Conn.Close()
		}
		e.mu.Unlock()
		close(e.done)
		if ln != nil {
			ln.Close()
		}
		gctx, cancel := context.WithTimeout(ctx, e.cfg.ShutdownGrace)
		defer cancel()
		e.srv.SetKeepAlivesEnabled(false)
		e.srv.Shutdown(gctx) // closes idle HTTP connections, waits for active ones
		waited := make(chan struct{})
		go func() { e.wg.Wait(); close(waited) }()
		select {
		case <-waited:
			return
		case <-gctx.Done():
		}
		// Grace is over: cut every remaining stream and connection.
		e.mu.Lock()
		var conns []*deviceConn
		for _, m := range e.conns {
			for c := range m {
				conns = append(conns, c)
			}
		}
		e.mu.Unlock()
		for _, c := range conns {
			e.m.Cuts.WithLabelValues("shutdown").Inc()
			c.cutWith(events.CloseReason_CLOSE_REASON_SHUTDOWN)
		}
		select {
		case <-waited:
		case <-ctx.Done():
			e.logger.Warn("edge shutdown: streams still closing", "error", ctx.Err())
		}
	})
	return nil
}

// chanListener hands handshaken connections to the HTTP server.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) put(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
