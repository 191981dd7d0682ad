package natsstore

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/halo-sec/halo/events"
)

// readFetch is how many messages one fetch of a read asks for.
const readFetch = 1024

// Read implements events.Store. It reads through an ephemeral ordered
// consumer (no acknowledgements, flow-controlled) from the first message the
// log may hold for q.From up to the last message present when Read was
// called, and filters on event time, device and type. Repeated event ids are
// dropped exactly, unless q.Repeats: the read remembers every id it has
// yielded (about 40 bytes each).
func (s *Store) Read(ctx context.Context, q events.Query) iter.Seq2[events.Event, error] {
	return func(yield func(events.Event, error) bool) {
		if s.closed.Load() {
			yield(events.Event{}, events.ErrClosed)
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
		for {
			if err := ctx.Err(); err != nil {
				yield(events.Event{}, err)
				return
			}
			batch, err := cons.FetchNoWait(readFetch)
			if err != nil {
				yield(events.Event{}, s.readErr(err))
				return
			}
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
				return
			}
		}
	}
}

func (s *Store) readErr(err error) error {
	if s.closed.Load() {
		return events.ErrClosed
	}
	return fmt.Errorf("reading the event log: %w", err)
}
