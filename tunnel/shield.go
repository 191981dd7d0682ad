package tunnel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/halo-sec/halo/events"
)

// shield is the edge's in-line replay refusal: it remembers, per tenant,
// which strict fingerprints got a 2xx response and when, and which are in
// flight. A request whose fingerprint succeeded within the tenant's horizon
// is refused before it reaches the payment server; one identical to a
// request still in flight waits for that request's outcome first, so two
// copies sent at once cannot both be charged.
type shield struct {
	mu      sync.Mutex
	ok      map[shieldKey]success
	flights map[shieldKey]*flight
	horizon func(tenant string) time.Duration
}

type shieldKey struct {
	tenant string
	fp     [16]byte
}

type flight struct {
	done chan struct{}
}

// success is a remembered 2xx: when, on which device, and whether the
// response was lost (the device went away before it was delivered).
type success struct {
	at     time.Time
	device string
	lost   bool
}

func newShield() *shield {
	return &shield{ok: map[shieldKey]success{}, flights: map[shieldKey]*flight{}}
}

// errInflightTimeout: an identical request is still in flight after the wait.
var errInflightTimeout = errors.New("an identical request is still in progress")

// begin decides on a request. It returns the earlier success when the
// request is a replay; otherwise a finish function the caller must call
// with whether the request succeeded (2xx), the device it came from and
// whether its response was lost.
func (s *shield) begin(ctx context.Context, key shieldKey, horizon, wait time.Duration) (prior success, replay bool, finish func(ok bool, device string, lost bool), err error) {
	var deadline *time.Timer // made only if there is something to wait for
	defer func() {
		if deadline != nil {
			deadline.Stop()
		}
	}()
	for {
		s.mu.Lock()
		if p, ok := s.ok[key]; ok && time.Since(p.at) < horizon {
			s.mu.Unlock()
			return p, true, nil, nil
		}
		f := s.flights[key]
		if f == nil {
			f = &flight{done: make(chan struct{})}
			s.flights[key] = f
			s.mu.Unlock()
			var once sync.Once
			return success{}, false, func(ok bool, device string, lost bool) {
				once.Do(func() {
					s.mu.Lock()
					if ok {
						s.ok[key] = success{at: time.Now(), device: device, lost: lost}
					}
					delete(s.flights, key)
					s.mu.Unlock()
					close(f.done)
				})
			}, nil
		}
		s.mu.Unlock()
		if deadline == nil {
			deadline = time.NewTimer(wait)
		}
		select {
		case <-f.done:
		case <-deadline.C:
			return success{}, false, nil, errInflightTimeout
		case <-ctx.Done():
			return success{}, false, nil, ctx.Err()
		}
	}
}

// remember records a success seen in the log (rebuilding after a restart).
func (s *shield) remember(key shieldKey, p success) {
	s.mu.Lock()
	if q, ok := s.ok[key]; !ok || p.at.After(q.at) {
		s.ok[key] = p
	}
	s.mu.Unlock()
}

// lose marks the success of key at (rebuilding) as lost.
func (s *shield) lose(key shieldKey, at time.Time) {
	s.mu.Lock()
	if p, ok := s.ok[key]; ok && p.at.Equal(at) {
		p.lost = true
		s.ok[key] = p
	}
	s.mu.Unlock()
}

// sweep forgets successes older than their tenant's horizon, every minute
// until done closes.
func (s *shield) sweep(done <-chan struct{}) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			s.expire()
		}
	}
}

func (s *shield) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.ok {
		h := 30 * 24 * time.Hour
		if s.horizon != nil {
			h = s.horizon(k.tenant)
		}
		if time.Since(p.at) >= h {
			delete(s.ok, k)
		}
	}
}

func (s *shield) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ok)
}

// RebuildShield reloads the replay shield's memory from the log: every
// forwarded tx.observed with a 2xx status within the longest horizon of
// any tenant policy (horizon), lost when its connection's conn.closed has
// reason client. Call it before Run after a restart.
func (e *Edge) RebuildShield(ctx context.Context, store events.Store, horizon time.Duration) (int, error) {
	n := 0
	type ref struct {
		key shieldKey
		at  time.Time
	}
	byConn := map[string]ref{} // conn id of a success → its shield entry
	q := events.Query{From: time.Now().Add(-horizon), Types: []events.Type{events.TypeTxObserved, events.TypeConnClosed}}
	for ev, err := range store.Read(ctx, q) {
		if err != nil {
			return n, fmt.Errorf("rebuilding the replay shield: %w", err)
		}
		switch p := ev.Payload.(type) {
		case *events.ConnClosed:
			if r, ok := byConn[p.ConnId]; ok {
				if p.Reason == events.CloseReason_CLOSE_REASON_CLIENT {
					e.shield.lose(r.key, r.at)
				}
				delete(byConn, p.ConnId)
			}
		case *events.TxObserved:
			if p.Outcome != events.TxOutcome_TX_OUTCOME_FORWARDED || p.Status < 200 || p.Status > 299 || p.Oversize || len(p.StrictFp) != 16 {
				continue
			}
			k := shieldKey{tenant: ev.Tenant}
			copy(k.fp[:], p.StrictFp)
			e.shield.remember(k, success{at: ev.Time, device: ev.Device})
			if p.ConnId != "" {
				byConn[p.ConnId] = ref{k, ev.Time}
			}
			n++
		}
	}
	return n, nil
}
