package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Agent is the device-side carrier: a plain HTTP proxy on loopback whose
// every connection goes to the Halo edge over mTLS.
//
// Listen binds the local address; Run accepts until Shutdown or its
// context ends; Shutdown stops accepting, lets carried connections finish
// up to its context's deadline, then cuts the rest. Run may be called once;
// Shutdown is safe to call more than once and from any goroutine. Metrics,
// Addr and ReloadCertificate are safe for concurrent use.
type Agent struct {
	cfg    Config
	logger *slog.Logger
	roots  *x509.CertPool
	dialer net.Dialer

	pair   atomic.Pointer[keyPair]   // device certificate in use
	client atomic.Pointer[clientTLS] // TLS configuration made from it
	gen    atomic.Uint64
	reload sync.Mutex // one reload at a time

	m          counters
	link       link
	pool       pool
	idle       idleLimit
	earlyDrops atomic.Uint64 // warm connections the edge ended young
	once       sometimes
	wake       chan struct{}
	lastLocal  atomic.Int64 // unix nanos of the last accepted local connection

	// connCtx ends dials for local clients when Shutdown's grace is over;
	// bgCtx ends the pool maintainer and the certificate watcher at once.
	connCtx, bgCtx       context.Context
	connCancel, bgCancel context.CancelFunc

	mu       sync.Mutex
	ln       net.Listener
	addr     atomic.Pointer[string]
	conns    map[*carried]struct{}
	active   int
	refusing int
	running  bool
	closing  bool
	wg       sync.WaitGroup // local connections in progress
	bg       sync.WaitGroup // maintainer, watcher
	shutOnce sync.Once
	shutDone chan struct{}
	shutErr  error
}

// Lock order: Agent.reload, then carried.mu, then any one of link.mu,
// pool.mu, idleLimit.mu, Agent.mu (none of these four is held while taking
// another).

// clientTLS is the TLS configuration for one certificate generation. Each
// has its own session cache: a resumed session would present the
// certificate it was made with.
type clientTLS struct {
	cfg *tls.Config
	gen uint64
}

// maxRefusing bounds the goroutines answering connections over MaxConns;
// beyond it they are closed at once.
const maxRefusing = 64

// New checks cfg, loads and checks the certificate, key and CA files, and
// prepares an agent; it does not listen yet. A nil logger discards logs.
func New(cfg Config, logger *slog.Logger) (*Agent, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	now := time.Now()
	kp, kerr := loadKeyPair(cfg.CertFile, cfg.KeyFile, now)
	roots, cerr := loadCA(cfg.CAFile)
	if err := errors.Join(kerr, cerr); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:      cfg,
		logger:   logger,
		roots:    roots,
		dialer:   net.Dialer{KeepAlive: 30 * time.Second},
		wake:     make(chan struct{}, 1),
		conns:    map[*carried]struct{}{},
		shutDone: make(chan struct{}),
	}
	a.idle.maxAge = cfg.WarmMaxAge
	a.connCtx, a.connCancel = context.WithCancel(context.Background())
	a.bgCtx, a.bgCancel = context.WithCancel(context.Background())
	if err := checkChain(kp, roots); err != nil {
		logger.Warn("the device certificate does not chain to the CA file; are they from the same installation?",
			"cert_file", cfg.CertFile, "ca_file", cfg.CAFile, "error", err)
	}
	if left := kp.leaf.NotAfter.Sub(now); left < 7*24*time.Hour {
		logger.Warn("the device certificate expires soon; renew it with `halo devices renew`",
			"cert_not_after", kp.leaf.NotAfter.UTC().Format(time.RFC3339), "left", left.Round(time.Minute))
	}
	a.install(kp)
	return a, nil
}

// install takes a certificate into use for new edge connections.
func (a *Agent) install(kp *keyPair) {
	cert := kp.cert
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    a.roots,
		ServerName: a.cfg.ServerName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		},
		ClientSessionCache: tls.NewLRUClientSessionCache(16),
		NextProtos:         []string{"http/1.1"},
	}
	a.pair.Store(kp)
	a.client.Store(&clientTLS{cfg: cfg, gen: a.gen.Add(1)})
}

// Addr returns the local proxy address once Listen has bound it.
func (a *Agent) Addr() string {
	if p := a.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// Listen binds the local address; Run calls it when needed. Separate so a
// caller can learn the bound address before serving.
func (a *Agent) Listen() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		return ErrClosed
	}
	if a.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.ln = ln
	s := ln.Addr().String()
	a.addr.Store(&s)
	return nil
}

// Run accepts local connections until Shutdown or ctx ends (then it shuts
// down with Config.ShutdownGrace) and returns nil once the shutdown is
// complete, or returns a listener error.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.Listen(); err != nil {
		return err
	}
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return errors.New("agent: Run called twice")
	}
	a.running = true
	ln := a.ln
	a.mu.Unlock()

	a.lastLocal.Store(time.Now().UnixNano()) // warm up at start
	a.bg.Add(2)
	go func() { defer a.bg.Done(); a.maintain(a.bgCtx) }()
	go func() { defer a.bg.Done(); a.watchCerts(a.bgCtx) }()
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace)
		defer cancel()
		a.Shutdown(sctx)
	})
	defer stop()
	kp := a.pair.Load()
	a.logger.Info("agent listening", "addr", a.Addr(), "edge", a.cfg.Edge, "device_id", kp.device, "tenant", kp.tenant,
		"cert_not_after", kp.leaf.NotAfter.UTC().Format(time.RFC3339))

	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if a.isClosing() {
				<-a.shutDone // Shutdown closed the listener; let it finish
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				a.once.warn("accept", 10*time.Second, a.logger, "accept error; retrying", "error", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace)
			a.Shutdown(sctx)
			cancel()
			return fmt.Errorf("agent accept: %w", err)
		}
		delay = 0
		a.m.accepted.Add(1)
		a.lastLocal.Store(time.Now().UnixNano())
		switch a.admit() {
		case admitted:
			a.wakeMaintainer()
			go func() {
				defer a.release()
				a.serve(c)
			}()
		case overLimit:
			a.m.refusedMaxConns.Add(1)
			a.once.warn("maxconns", time.Minute, a.logger, "too many local connections; answering 503", "max_conns", a.cfg.MaxConns)
			go func() {
				defer a.doneRefusing()
				a.answer(c, http.StatusServiceUnavailable, jsonError("too_many_connections",
					fmt.Sprintf("the Halo agent carries at most %d connections at once; try again shortly", a.cfg.MaxConns)))
			}()
		case overLimitQuiet:
			a.m.refusedMaxConns.Add(1)
			c.Close()
		case shuttingDown:
			c.Close()
		}
	}
}

type admission int

const (
	admitted admission = iota
	overLimit
	overLimitQuiet // over the limit, and too many refusals being answered already
	shuttingDown
)

func (a *Agent) admit() admission {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closing:
		return shuttingDown
	case a.active < a.cfg.MaxConns:
		a.active++
		a.m.active.Store(int64(a.active))
		a.wg.Add(1)
		return admitted
	case a.refusing < maxRefusing:
		a.refusing++
		return overLimit
	default:
		return overLimitQuiet
	}
}

func (a *Agent) release() {
	a.mu.Lock()
	a.active--
	a.m.active.Store(int64(a.active))
	a.mu.Unlock()
	a.wg.Done()
}

func (a *Agent) doneRefusing() {
	a.mu.Lock()
	a.refusing--
	a.mu.Unlock()
}

func (a *Agent) isClosing() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closing
}

// track registers a carried connection so Shutdown can cut it; false once
// Shutdown has cut everything.
func (a *Agent) track(c *carried) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.connCtx.Err() != nil {
		return false
	}
	a.conns[c] = struct{}{}
	return true
}

func (a *Agent) untrack(c *carried) {
	a.mu.Lock()
	delete(a.conns, c)
	a.mu.Unlock()
}

// Shutdown stops accepting and closes the warm connections, lets carried
// connections finish until ctx ends, then cuts the rest. It returns nil
// when every connection finished on its own, else an error saying how many
// were cut. Later calls wait for the first and return its result.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.shutOnce.Do(func() {
		defer close(a.shutDone)
		a.mu.Lock()
		a.closing = true
		ln := a.ln
		a.mu.Unlock()
		if ln != nil {
			ln.Close()
		}
		a.bgCancel()
		for _, w := range a.pool.drain(true, nil) {
			w.ec.Close()
		}
		a.bg.Wait()
		// Warm connections added while the maintainer was stopping.
		for _, w := range a.pool.drain(true, nil) {
			w.ec.Close()
		}
		finished := make(chan struct{})
		go func() { a.wg.Wait(); close(finished) }()
		select {
		case <-finished:
			a.connCancel()
			return
		case <-ctx.Done():
		}
		a.connCancel()
		a.mu.Lock()
		cut := make([]*carried, 0, len(a.conns))
		for c := range a.conns {
			cut = append(cut, c)
		}
		a.mu.Unlock()
		for _, c := range cut {
			c.cut()
		}
		<-finished
		if len(cut) > 0 {
			a.shutErr = fmt.Errorf("agent shutdown: %d connections still open at the deadline were cut: %w", len(cut), ctx.Err())
			a.logger.Warn("shutdown cut open connections", "connections", len(cut))
		}
	})
	return a.shutErr
}

// ReloadCertificate re-reads the certificate and key files now (the agent
// also does so every Config.ReloadInterval when their content changes).
// New edge connections use the new pair; open ones are left alone. On
// error the current certificate stays in use.
func (a *Agent) ReloadCertificate() error {
	a.reload.Lock()
	defer a.reload.Unlock()
	kp, err := loadKeyPair(a.cfg.CertFile, a.cfg.KeyFile, time.Now())
	if err != nil {
		return err
	}
	if kp.sum == a.pair.Load().sum {
		return nil
	}
	a.useCertificate(kp)
	return nil
}

func (a *Agent) useCertificate(kp *keyPair) {
	old := a.pair.Load()
	if err := checkChain(kp, a.roots); err != nil {
		a.logger.Warn("the renewed device certificate does not chain to the CA file", "cert_file", a.cfg.CertFile, "error", err)
	}
	a.install(kp)
	gen := a.client.Load().gen
	for _, w := range a.pool.drain(false, func(w *warmConn) bool { return w.ec.gen != gen }) {
		w.ec.Close()
	}
	a.forgetRefusal()
	a.wakeMaintainer()
	a.logger.Info("device certificate reloaded; new edge connections use it", "device_id", kp.device, "tenant", kp.tenant,
		"cert_serial", kp.leaf.SerialNumber.Text(16), "cert_not_after", kp.leaf.NotAfter.UTC().Format(time.RFC3339),
		"previous_serial", old.leaf.SerialNumber.Text(16))
	a.m.certReloads.Add(1)
}

// watchCerts checks the certificate and key files for new content. A pair
// caught half-written (new certificate, old key) is retried at the next
// check; a pair that stays unusable is reported once.
func (a *Agent) watchCerts(ctx context.Context) {
	t := time.NewTicker(a.cfg.ReloadInterval)
	defer t.Stop()
	var badSum [32]byte
	bad := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sum, err := fileSum(a.cfg.CertFile, a.cfg.KeyFile)
		if err == nil && sum == a.pair.Load().sum {
			bad = 0
			continue
		}
		if err == nil {
			a.reload.Lock()
			var kp *keyPair
			kp, err = loadKeyPair(a.cfg.CertFile, a.cfg.KeyFile, time.Now())
			if err == nil && kp.sum != a.pair.Load().sum {
				a.useCertificate(kp)
			}
			a.reload.Unlock()
			if err == nil {
				bad = 0
				continue
			}
		}
		if sum != badSum {
			badSum, bad = sum, 0
		}
		if bad++; bad == 2 {
			a.logger.Warn("the certificate files changed but cannot be used; keeping the current certificate", "cert_file", a.cfg.CertFile,
				"key_file", a.cfg.KeyFile, "error", err)
		}
	}
}

// sometimes logs a warning at most once per interval per key.
type sometimes struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (s *sometimes) warn(key string, every time.Duration, l *slog.Logger, msg string, args ...any) {
	s.mu.Lock()
	now := time.Now()
	if s.last == nil {
		s.last = map[string]time.Time{}
	}
	t, seen := s.last[key]
	ok := !seen || now.Sub(t) >= every
	if ok {
		s.last[key] = now
	}
	s.mu.Unlock()
	if ok {
		l.Warn(msg, args...)
	} else {
		l.Debug(msg, args...)
	}
}
