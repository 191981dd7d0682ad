package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// edgeConn is one mTLS connection to the edge.
type edgeConn struct {
	*tls.Conn
	gen  uint64        // certificate generation it was made with
	born time.Time     // handshake done
	hs   time.Duration // how long connect and handshake took
}

// dialError is a failed attempt to reach the edge; it wraps
// errEdgeUnreachable and the cause.
type dialError struct {
	stage string // "connecting to" or "TLS handshake with"
	addr  string
	err   error
}

func (e *dialError) Error() string {
	return fmt.Sprintf("%s the edge at %s: %v", e.stage, e.addr, e.err)
}
func (e *dialError) Unwrap() []error { return []error{errEdgeUnreachable, e.err} }

// dial connects and completes the TLS handshake within DialTimeout.
func (a *Agent) dial(ctx context.Context) (*edgeConn, error) {
	ct := a.client.Load()
	ctx, cancel := context.WithTimeout(ctx, a.cfg.DialTimeout)
	defer cancel()
	start := time.Now()
	raw, err := a.dialer.DialContext(ctx, "tcp", a.cfg.Edge)
	if err != nil {
		return nil, &dialError{"connecting to", a.cfg.Edge, err}
	}
	tc := tls.Client(raw, ct.cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, &dialError{"TLS handshake with", a.cfg.Edge, err}
	}
	a.m.edgeDials.Add(1)
	if tc.ConnectionState().DidResume {
		a.m.edgeResumed.Add(1)
	}
	now := time.Now()
	return &edgeConn{Conn: tc, gen: ct.gen, born: now, hs: now.Sub(start)}, nil
}

// settled waits briefly after the pool added a new connection, for the
// edge to refuse the certificate: the edge verifies it once the handshake
// is done and answers 403 before any request. The connection is usable
// meanwhile (a client that takes it meets the refusal as an answer); this
// only decides whether the maintainer backs off.
func settled(ctx context.Context, w *warmConn) bool {
	t := time.NewTimer(min(max(2*w.ec.hs, 50*time.Millisecond), time.Second))
	defer t.Stop()
	select {
	case <-w.done:
		// Taken by a client, swept, or the edge spoke or closed it.
		return w.n == 0 && (errors.Is(w.err, os.ErrDeadlineExceeded) || errors.Is(w.err, net.ErrClosed))
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// onUnsolicited handles bytes the edge sent on a connection before any
// request, and closes the connection.
func (a *Agent) onUnsolicited(ec *edgeConn, first []byte) error {
	defer ec.Close()
	ec.SetReadDeadline(time.Now().Add(time.Second))
	u, err := readUnsolicited(io.MultiReader(bytes.NewReader(first), ec.Conn))
	if err != nil {
		a.once.warn("unsolicited", time.Minute, a.logger, "the edge sent unexpected bytes on an idle connection", "edge", a.cfg.Edge, "error", err)
		return err
	}
	if u.isRefusal() {
		a.linkRefused(u.reason)
		return fmt.Errorf("%w: %s", errRefused, u.reason)
	}
	if u.status == http.StatusTooManyRequests {
		a.once.warn("edge429", time.Minute, a.logger, "the edge says this device has too many connections open; fewer warm connections are kept",
			"edge", a.cfg.Edge, "warm", a.cfg.Warm)
	} else {
		a.once.warn("unsolicited", time.Minute, a.logger, "the edge answered an idle connection", "edge", a.cfg.Edge, "status", u.status, "error_code", u.code)
	}
	return fmt.Errorf("the edge answered %d %s on an idle connection", u.status, u.code)
}

// warmConn is an idle edge connection in the pool. Its watcher reads from
// it: a warm connection must stay silent, so a read that returns means the
// edge closed it or refused it.
type warmConn struct {
	ec   *edgeConn
	done chan struct{} // closed when the watcher's read returned
	buf  [512]byte
	n    int
	err  error
}

type pool struct {
	mu     sync.Mutex
	conns  []*warmConn // oldest first
	closed bool
}

func (p *pool) add(w *warmConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns = append(p.conns, w)
	return true
}

func (p *pool) pop() *warmConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.conns) == 0 {
		return nil
	}
	w := p.conns[0]
	p.conns[0] = nil
	p.conns = p.conns[1:]
	return w
}

// remove takes w out of the pool; false when someone else already has.
func (p *pool) remove(w *warmConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.conns {
		if c == w {
			p.conns = append(p.conns[:i:i], p.conns[i+1:]...)
			return true
		}
	}
	return false
}

func (p *pool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// drain takes every connection out (all of them, or only those matching
// drop) and returns them; close also refuses later adds.
func (p *pool) drain(close bool, drop func(*warmConn) bool) []*warmConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if close {
		p.closed = true
	}
	var out []*warmConn
	keep := p.conns[:0:0]
	for _, w := range p.conns {
		if drop == nil || drop(w) {
			out = append(out, w)
		} else {
			keep = append(keep, w)
		}
	}
	p.conns = keep
	return out
}

// addWarm puts a new connection in the pool and starts its watcher; nil
// when the pool is closed or the certificate changed meanwhile.
func (a *Agent) addWarm(ec *edgeConn) *warmConn {
	w := &warmConn{ec: ec, done: make(chan struct{})}
	if ec.gen != a.client.Load().gen || !a.pool.add(w) {
		ec.Close()
		return nil
	}
	go a.watch(w)
	return w
}

func (a *Agent) watch(w *warmConn) {
	w.n, w.err = w.ec.Read(w.buf[:])
	close(w.done)
	if a.pool.remove(w) { // nobody took it: the edge spoke or closed it
		a.dropWarm(w)
		a.wakeMaintainer()
	}
}

// takeWarm hands out the oldest usable warm connection, or nil.
func (a *Agent) takeWarm() *edgeConn {
	for {
		w := a.pool.pop()
		if w == nil {
			return nil
		}
		w.ec.SetReadDeadline(aLongTimeAgo) // stop the watcher
		<-w.done
		if w.n == 0 && errors.Is(w.err, os.ErrDeadlineExceeded) && w.ec.gen == a.client.Load().gen && time.Since(w.ec.born) < a.warmMaxAge() {
			w.ec.SetReadDeadline(time.Time{})
			return w.ec
		}
		a.dropWarm(w)
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// earlyDeath: a warm connection the edge ends this soon after the handshake
// (a refusal, its per-device limit, an immediate close) makes the pool back
// off, even while the edge counts as reachable.
const earlyDeath = time.Second

// dropWarm closes a warm connection whose watcher has returned, learning
// from why it returned.
func (a *Agent) dropWarm(w *warmConn) {
	if time.Since(w.ec.born) < earlyDeath {
		a.earlyDrops.Add(1)
	}
	switch {
	case w.n > 0:
		a.onUnsolicited(w.ec, w.buf[:w.n])
		return
	case w.err != nil && !errors.Is(w.err, os.ErrDeadlineExceeded) && !errors.Is(w.err, net.ErrClosed):
		a.edgeClosedIdle(time.Since(w.ec.born), time.Now())
	}
	w.ec.Close()
}

// sweepWarm closes warm connections that are too old or carry a replaced
// certificate; it returns when the next one expires (zero if none).
func (a *Agent) sweepWarm(now time.Time, maxAge time.Duration, gen uint64) time.Time {
	old := a.pool.drain(false, func(w *warmConn) bool { return w.ec.gen != gen || now.Sub(w.ec.born) >= maxAge })
	for _, w := range old {
		w.ec.Close()
	}
	var next time.Time
	a.pool.mu.Lock()
	for _, w := range a.pool.conns {
		if exp := w.ec.born.Add(maxAge); next.IsZero() || exp.Before(next) {
			next = exp
		}
	}
	a.pool.mu.Unlock()
	return next
}

// idleLimit learns how long the edge keeps an unused connection open. Today
// the edge gives a new connection its header timeout (10s by default) for
// the first request, not its 120s idle timeout; a warm connection handed to
// an app just before that would lose the app's request. Two unused warm
// connections closed at the same age, at different moments (not an edge
// restart cutting everything at once), show the limit; warm connections
// are then renewed well before it.
type idleLimit struct {
	mu     sync.Mutex
	maxAge time.Duration // in force, at most Config.WarmMaxAge
	age    time.Duration // of the last one the edge closed
	at     time.Time
}

func (a *Agent) warmMaxAge() time.Duration {
	a.idle.mu.Lock()
	defer a.idle.mu.Unlock()
	return a.idle.maxAge
}

func (a *Agent) edgeClosedIdle(age time.Duration, at time.Time) {
	l := &a.idle
	l.mu.Lock()
	prevAge, prevAt := l.age, l.at
	l.age, l.at = age, at
	tol := max(250*time.Millisecond, age/10)
	if age < time.Second || prevAt.IsZero() || at.Sub(prevAt) < 500*time.Millisecond || age-prevAge > tol || prevAge-age > tol {
		l.mu.Unlock()
		a.logger.Debug("the edge closed an unused warm connection", "age", age.Round(time.Millisecond))
		return
	}
	limit := max(min(age, prevAge)-max(min(age, prevAge)/4, 500*time.Millisecond), 500*time.Millisecond)
	changed := limit < l.maxAge*9/10 // not again for a few milliseconds' jitter
	if changed {
		l.maxAge = limit
	}
	l.mu.Unlock()
	if changed {
		a.logger.Info("the edge closes unused connections after about this long; warm connections are renewed before that",
			"edge_limit", age.Round(100*time.Millisecond), "warm_max_age", limit.Round(100*time.Millisecond))
	}
}

func (a *Agent) wakeMaintainer() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// maintain keeps Warm connections ready while the agent is in use, and is
// where reconnecting happens: while the edge is unreachable or refuses the
// certificate, attempts back off exponentially with jitter, from BackoffMin
// to BackoffMax. A local client that connects meanwhile makes its own
// attempt; when that works, or new certificate files are taken into use,
// the backoff starts over.
func (a *Agent) maintain(ctx context.Context) {
	if a.cfg.Warm < 0 {
		return
	}
	bo := backoff{min: a.cfg.BackoffMin, max: a.cfg.BackoffMax}
	var retryAt time.Time
	gen, epoch, drops := a.client.Load().gen, a.linkEpoch(), a.earlyDrops.Load()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		now := time.Now()
		if g, e := a.client.Load().gen, a.linkEpoch(); g != gen || e != epoch {
			gen, epoch = g, e
			bo.reset()
			retryAt = time.Time{}
		}
		if d := a.earlyDrops.Load(); d != drops {
			drops = d
			retryAt = now.Add(bo.next())
		}
		nextExpiry := a.sweepWarm(now, a.warmMaxAge(), gen)
		wanted := a.cfg.WarmFor < 0 || now.Sub(time.Unix(0, a.lastLocal.Load())) < a.cfg.WarmFor
		need := wanted && a.pool.len() < a.cfg.Warm
		if need && !now.Before(retryAt) {
			ec, err := a.dial(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				a.linkDown(err)
				retryAt = time.Now().Add(bo.next())
				continue
			}
			if w := a.addWarm(ec); w != nil {
				if a.linkIs(linkUp) {
					// Known good: refill at handshake speed. A refusal
					// met later still reaches the watcher.
					continue
				}
				if settled(ctx, w) {
					a.linkUp()
					epoch = a.linkEpoch()
					bo.reset()
				} else {
					retryAt = time.Now().Add(bo.next())
				}
			}
			continue
		}
		wait := time.Hour
		if need {
			wait = time.Until(retryAt)
		}
		if !nextExpiry.IsZero() {
			wait = min(wait, time.Until(nextExpiry))
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
		case <-a.wake:
		case <-timer.C:
		}
	}
}

// backoff is exponential with equal jitter: each delay is between half and
// all of min·2^n, capped at max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

func (b *backoff) reset() { b.cur = 0 }
