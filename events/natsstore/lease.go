package natsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/halo-sec/halo/events"
)

// LeaseBucket is the key-value bucket of the leases (Store.Lease).
const LeaseBucket = "HALO_LEASES"

// LeaseTTL is how long a lease outlives its holder's last renewal: a
// pipeline that crashed keeps its name from the next one this long at
// most. Its holder renews it every LeaseTTL/4. A variable for tests.
var LeaseTTL = 6 * time.Second

// ErrLeaseHeld is returned by Lease when another process holds the name.
var ErrLeaseHeld = events.ErrLeaseHeld

// LeaseHolder says who holds a lease.
type LeaseHolder struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
}

func (h LeaseHolder) String() string {
	return fmt.Sprintf("pid %d on %s, since %s", h.PID, h.Host, h.Since.UTC().Format(time.RFC3339))
}

// Lease takes the lease of name for this process until ctx ends or
// release is called: one process at a time consumes a durable
// subscription (two pipelines of one name would split its deliveries
// between them, each seeing part of every device's events). When another
// holds it, Lease waits for it to lapse (its holder gone, it ends within
// LeaseTTL) up to wait, then fails with ErrLeaseHeld naming the holder.
// lost is closed if the lease is lost while held (another took it after a
// renewal failed for longer than LeaseTTL): the holder must stop.
func (s *Store) Lease(ctx context.Context, name string, wait time.Duration) (release func(), lost <-chan struct{}, err error) {
	if s.closed.Load() {
		return nil, nil, s.closedErr()
	}
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: LeaseBucket, TTL: LeaseTTL, History: 1,
		Description: "Halo: one process at a time per durable subscription"})
	if err != nil {
		return nil, nil, fmt.Errorf("lease %q: %w", name, err)
	}
	host, _ := os.Hostname()
	me := LeaseHolder{PID: os.Getpid(), Host: host, Since: time.Now().UTC()}
	val, _ := json.Marshal(me)
	deadline := time.Now().Add(wait)
	var (
		rev  uint64
		said bool
	)
	for {
		rev, err = kv.Create(ctx, name, val)
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, nil, fmt.Errorf("lease %q: %w", name, err)
		}
		var other LeaseHolder
		if e, gerr := kv.Get(ctx, name); gerr == nil {
			_ = json.Unmarshal(e.Value(), &other)
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("lease %q %w: %s", name, ErrLeaseHeld, other)
		}
		if !said {
			said = true
			s.logger.Info("waiting for a lease: another process holds it (a holder gone without releasing it lapses within the lease's TTL)",
				"name", name, "holder", other.String(), "ttl", LeaseTTL, "wait", wait)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(LeaseTTL / 4):
		}
	}
	done, gone := make(chan struct{}), make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(LeaseTTL / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = kv.Delete(dctx, name, jetstream.LastRevision(rev))
				cancel()
				return
			case <-t.C:
			}
			if s.closed.Load() { // its connection gone: the lease lapses
				return
			}
			uctx, cancel := context.WithTimeout(context.Background(), LeaseTTL/4)
			r, err := kv.Update(uctx, name, val, rev)
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) {
				// Lapsed (renewals failed for LeaseTTL): take it again
				// unless another process has.
				r, err = kv.Create(uctx, name, val)
				if errors.Is(err, jetstream.ErrKeyExists) {
					cancel()
					s.logger.Error("lost a lease to another process", "name", name)
					close(gone)
					return
				}
			}
			cancel()
			if err != nil { // the log unreachable for now: try again
				s.logger.Warn("renewing a lease failed", "name", name, "error", err)
				continue
			}
			rev = r
		}
	}()
	var once sync.Once
	release = func() {
		once.Do(func() { close(done) })
		<-stopped
	}
	return release, gone, nil
}
