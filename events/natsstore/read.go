package natsstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/halo-sec/halo/events"
)

// readFetch is how many messages one fetch of a read asks for.
const readFetch = 1024

// readStallWait is how long a read waits for pending events that a fetch
// did not bring, readStalls how many times in a row before it fails
// (variables for the tests).
var (
	readStallWait = 2 * time.Second
	readStalls    = 15
)

// fetched sees every batch a read fetches; tests replace it to hold a
// batch back, as a loaded server answering a fetch with nothing does.
var fetched = func(b jetstream.MessageBatch) jetstream.MessageBatch { return b }

// Read implements events.Store. It reads through an ephemeral ordered
// consumer (no acknowledgements, flow-controlled) from the first message the
// log may hold for q.From up to the last message present when Read was
// called, and filters on event time, device and type. Repeated event ids are
// dropped exactly, unless q.Repeats: the read remembers every id it has
// yielded (about 40 bytes each).
func (s *Store) Read(ctx context.Context, q events.Query) iter.Seq2[events.Event, error] {
	return func(yield func(events.Event, error) bool) {
		if s.closed.Load() {
			yield(events.Event{}, s.closedErr())
			return
		}
		filters, err := s.filters(q.Tenant, q.Device, q.Types)
		if err != nil {
			yield(events.Event{}, err)
			return
		}
		info, err := s.stream.Info(ctx)
		if err != nil {
			yield(events.Event{}, fmt.Errorf("reading the event log: %w", err))
			return
		}
		last := info.State.LastSeq
		if info.State.Msgs == 0 {
			return
		}
		occ := jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverAllPolicy}
		if !q.From.IsZero() {
			start := q.From.Add(-(s.cfg.MaxFutureSkew + s.cfg.ClockSlack))
			occ.DeliverPolicy = jetstream.DeliverByStartTimePolicy
			occ.OptStartTime = &start
		}
		cons, err := s.js.OrderedConsumer(ctx, StreamName, occ)
		if err != nil {
			yield(events.Event{}, fmt.Errorf("reading the event log: %w", err))
			return
		}
		var seen map[events.ID]struct{}
		if !q.Repeats {
			seen = make(map[events.ID]struct{}, 1024)
		}
		var buf []events.Event
		stalls := 0 // fetches in a row that found nothing though some was pending
		for {
			if err := ctx.Err(); err != nil {
				yield(events.Event{}, err)
				return
			}
			batch, err := fetch(cons, readFetch, stalls)
			if err != nil {
				yield(events.Event{}, s.readErr(err))
				return
			}
			batch = fetched(batch)
			n := 0
			done := false
			for msg := range batch.Messages() {
				n++
				var ok bool
				var seq uint64
				buf, seq, _, ok = s.decode(buf[:0], msg)
				if ok {
					for i := range buf {
						ev := &buf[i]
						if !q.Match(ev) {
							continue
						}
						if !q.Repeats {
							if _, dup := seen[ev.ID]; dup {
								s.duplicates.Add(1)
								continue
							}
							seen[ev.ID] = struct{}{}
						}
						if !yield(*ev, nil) {
							return
						}
					}
				}
				if seq >= last {
					done = true
				} else if meta, err := msg.Metadata(); err == nil && meta.NumPending == 0 {
					done = true
				}
				if done {
					break
				}
			}
			if done {
				return
			}
			if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
				yield(events.Event{}, s.readErr(err))
				return
			}
			if n == 0 {
				more, err := s.stalled(ctx, cons, &stalls)
				if err != nil {
					yield(events.Event{}, s.readErr(err))
				}
				if !more {
					return
				}
				continue
			}
			stalls = 0
		}
	}
}

// fetch asks cons for up to n messages: at once, or, after stalls
// fetches in a row that brought nothing, waiting up to readStallWait.
func fetch(cons jetstream.Consumer, n, stalls int) (jetstream.MessageBatch, error) {
	if stalls == 0 {
		return cons.FetchNoWait(n)
	}
	return cons.Fetch(n, jetstream.FetchMaxWait(readStallWait))
}

// stalled is called when a fetch of a read brought nothing; it reports
// whether the read is to go on. An ordered consumer is made again for
// every fetch, and a fetch that does not wait answers with what the
// server has ready for it at once: under load that can be nothing though
// messages remain (a read that ended early, short of the log, was seen
// once). So the read ends only when nothing is pending for the consumer;
// else it waits for the rest, and fails if it never comes: never a short
// read.
func (s *Store) stalled(ctx context.Context, cons jetstream.Consumer, stalls *int) (bool, error) {
	info, err := cons.Info(ctx)
	if err != nil {
		return false, err
	}
	if info.NumPending == 0 {
		return false, nil
	}
	if *stalls++; *stalls > readStalls {
		s.readStalls.Add(1)
		return false, fmt.Errorf("%d messages pending, none delivered in %v", info.NumPending, time.Duration(readStalls)*readStallWait)
	}
	return true, nil
}

func (s *Store) readErr(err error) error {
	if s.closed.Load() {
		return s.closedErr()
	}
	return fmt.Errorf("reading the event log: %w", err)
}
