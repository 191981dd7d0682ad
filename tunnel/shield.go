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
	ok      map[shieldKey]time.Time
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

func newShield() *shield {
	return &shield{ok: map[shieldKey]time.Time{}, flights: map[shieldKey]*flight{}}
}

// errInflightTimeout: an identical request is still in flight after the wait.
var errInflightTimeout = errors.New("an identical request is still in progress")

// begin decides on a request. It returns the time of the earlier success
// when the request is a replay; otherwise a finish function the caller must
// call with whether the request succeeded (2xx).
func (s *shield) begin(ctx context.Context, key shieldKey, horizon, wait time.Duration) (prior time.Time, replay bool, finish func(bool), err error) {
	var deadline *time.Timer // made only if there is something to wait for
	defer func() {
		if deadline != nil {
			deadline.Stop()
		}
	}()
	for {
		s.mu.Lock()
		if t, ok := s.ok[key]; ok && time.Since(t) < horizon {
			s.mu.Unlock()
			return t, true, nil, nil
		}
		f := s.flights[key]
		if f == nil {
			f = &flight{done: make(chan struct{})}
			s.flights[key] = f
			s.mu.Unlock()
			var once sync.Once
			return time.Time{}, false, func(success bool) {
				once.Do(func() {
					s.mu.Lock()
					if success {
						s.ok[key] = time.Now()
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
			return time.Time{}, false, nil, errInflightTimeout
		case <-ctx.Done():
			return time.Time{}, false, nil, ctx.Err()
		}
	}
}

// remember records a success seen in the log (rebuilding after a restart).
func (s *shield) remember(key shieldKey, at time.Time) {
	s.mu.Lock()
	if t, ok := s.ok[key]; !ok || at.After(t) {
		s.ok[key] = at
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
	for k, at := range s.ok {
		h := 30 * 24 * time.Hour
		if s.horizon != nil {
			h = s.horizon(k.tenant)
		}
		if time.Since(at) >= h {
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
// any tenant policy (horizon). Call it before Run after a restart.
func (e *Edge) RebuildShield(ctx context.Context, store events.Store, horizon time.Duration) (int, error) {
	n := 0
	q := events.Query{From: time.Now().Add(-horizon), Types: []events.Type{events.TypeTxObserved}}
	for ev, err := range store.Read(ctx, q) {
		if err != nil {
			return n, fmt.Errorf("rebuilding the replay shield: %w", err)
		}
		tx := ev.Payload.(*events.TxObserved)
		if tx.Outcome != events.TxOutcome_TX_OUTCOME_FORWARDED || tx.Status < 200 || tx.Status > 299 || tx.Oversize || len(tx.StrictFp) != 16 {
			continue
		}
		k := shieldKey{tenant: ev.Tenant}
		copy(k.fp[:], tx.StrictFp)
		e.shield.remember(k, ev.Time)
		n++
	}
	return n, nil
}
