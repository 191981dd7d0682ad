package events

import (
	"context"
	"iter"
	"time"
)

// Store is the event log: append-only, replayable, shared by every role.
//
// All methods are safe for concurrent use. Every method that blocks takes a
// context and returns when it is done; Close is safe to call twice.
//
// Identity: appending an event whose ID the log already holds does not make
// it appear twice to Read, ever, nor to a Subscription within its
// de-duplication memory (see the backend's documentation).
//
// Order: events of one device appended by one writer are read back in the
// order they were appended. Read and Subscribe deliver in log order; outputs
// that must be deterministic order events by (Time, ID) themselves.
type Store interface {
	// Append stores events and returns once the log has acknowledged every
	// one of them. Each event is validated first; an invalid event fails
	// the whole call before anything is written. On any other error some
	// events may have been stored: retrying the same events is safe.
	Append(ctx context.Context, evs ...Event) error

	// Read returns the events matching q that the log held when Read was
	// called, in log order, each ID once. Corrupt messages in the log are
	// reported by the backend (log and counter) and skipped; the iterator
	// yields an error only when reading cannot continue, and stops after
	// it. Breaking out of the loop releases the read.
	Read(ctx context.Context, q Query) iter.Seq2[Event, error]

	// Subscribe delivers events as they are appended, from a position or a
	// time, durably when named: a named subscription resumes after the last
	// position acknowledged by any subscriber of that name.
	Subscribe(ctx context.Context, opts SubscribeOptions) (Subscription, error)

	// Close releases the store. It does not wait for subscriptions to be
	// closed, but makes them return ErrClosed.
	Close() error
}

// Query selects events by event time and envelope fields. Zero fields match
// everything.
type Query struct {
	// From and To bound the event time: From <= Time < To. A zero bound is
	// open. History imported today with timestamps from years ago is found
	// by its own time.
	From, To time.Time
	// Tenant, when set, selects that tenant's events only.
	Tenant string
	// Device, when set, selects that device's events only.
	Device string
	// Types, when set, selects events of these types only.
	Types []Type
	// Repeats, when set, lets a read yield an event id again when the log
	// holds it more than once (a batch published again after its
	// acknowledgement was lost, a file imported twice). By default a read
	// drops repeats, which takes memory for every id it yields (about 40
	// bytes) and a map lookup per event; a caller that puts the range in
	// (time, id) order drops them there instead, in bounded memory
	// (TimeSorter.DropRepeats).
	Repeats bool
}

// Match reports whether e is selected by q.
func (q *Query) Match(e *Event) bool {
	if !q.From.IsZero() && e.Time.Before(q.From) {
		return false
	}
	if !q.To.IsZero() && !e.Time.Before(q.To) {
		return false
	}
	if q.Tenant != "" && e.Tenant != q.Tenant {
		return false
	}
	if q.Device != "" && e.Device != q.Device {
		return false
	}
	if len(q.Types) > 0 {
		t := e.Type()
		for _, qt := range q.Types {
			if qt == t {
				return true
			}
		}
		return false
	}
	return true
}

// SubscribeOptions says where a subscription starts and what it receives.
type SubscribeOptions struct {
	// Name makes the subscription durable: the log remembers the last
	// acknowledged position under this name, and a later Subscribe with
	// the same name resumes after it (StartSeq and StartTime then only
	// apply when the name is new). Empty: an ephemeral subscription.
	Name string
	// Tenant, Device and Types filter as in Query (time bounds do not
	// apply to subscriptions).
	Tenant string
	Device string
	Types  []Type
	// StartSeq starts at this log position (inclusive). Zero with a zero
	// StartTime: from the beginning of the log.
	StartSeq uint64
	// StartTime starts at the first message the log recorded at or after
	// this time (log time, not event time). Ignored when StartSeq is set.
	StartTime time.Time
	// NewOnly starts after the last message in the log now.
	NewOnly bool
}

// Subscription is a live feed of events. It is used by one goroutine at a
// time; Close may be called from any goroutine, twice.
type Subscription interface {
	// Next blocks until events are available and returns the events of one
	// or more log messages, in log order. It returns ctx.Err() when ctx
	// ends and ErrClosed after Close.
	Next(ctx context.Context) (Delivery, error)
	// Close stops the subscription; a durable one keeps its position.
	Close() error
}

// Delivery is a run of events handed out by a Subscription.
type Delivery struct {
	// Events in log order (possibly empty, when every message of the run
	// was skipped as corrupt or duplicate; Ack it all the same).
	Events []Event
	// Seq is the log position of the last message in the run.
	Seq uint64
	ack func(context.Context) error
}

// NewDelivery is for Store implementations.
func NewDelivery(evs []Event, seq uint64, ack func(context.Context) error) Delivery {
	return Delivery{Events: evs, Seq: seq, ack: ack}
}

// Ack acknowledges the delivery and everything delivered before it: a
// durable subscription resumes after Seq. Ack once the events' effects are
// themselves durable.
func (d Delivery) Ack(ctx context.Context) error {
	if d.ack == nil {
		return nil
	}
	return d.ack(ctx)
}
