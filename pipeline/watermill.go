package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/halo-sec/halo/events"
)

// A log delivery travels through the watermill router as one message: its
// payload is the events' batch encoding (what a dead letter keeps), its
// metadata the log position, and its context the decoded events (so the
// handler does not decode twice).

// MetaSeq is the metadata key of a message's log position.
const MetaSeq = "halo_seq"

type eventsKey struct{}

// EventsOf returns the events a message carries.
func EventsOf(msg *message.Message) ([]events.Event, error) {
	if evs, ok := msg.Context().Value(eventsKey{}).([]events.Event); ok {
		return evs, nil
	}
	evs, _, err := events.DecodeBatch(nil, msg.Payload)
	return evs, err
}

// NewMessage wraps events as a message.
func NewMessage(evs []events.Event, seq uint64) (*message.Message, error) {
	var b []byte
	for i := range evs {
		var err error
		if b, err = events.AppendBatch(b, &evs[i]); err != nil {
			return nil, err
		}
	}
	msg := message.NewMessage(strconv.FormatUint(seq, 10), b)
	msg.Metadata.Set(MetaSeq, strconv.FormatUint(seq, 10))
	msg.SetContext(context.WithValue(context.Background(), eventsKey{}, evs))
	return msg, nil
}

// source is a watermill Subscriber over events.Store: one message per log
// delivery, one at a time, in log order; a nacked message is sent again
// (after a pause) before anything later.
type source struct {
	store  events.Store
	opts   events.SubscribeOptions
	logger *slog.Logger

	mu     sync.Mutex
	closed bool
	cancel []context.CancelFunc
	wg     sync.WaitGroup
}

func (s *source) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, events.ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = append(s.cancel, cancel)
	s.mu.Unlock()
	sub, err := s.store.Subscribe(ctx, s.opts)
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer sub.Close()
		backoff := 100 * time.Millisecond
		for {
			d, err := sub.Next(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.logger.Warn("pipeline source: receiving from the log failed; retrying", "error", err, "delay", backoff)
				if sleepCtx(ctx, backoff) != nil {
					return
				}
				backoff = min(backoff*2, 10*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			for attempt := 0; ; attempt++ {
				msg, err := NewMessage(d.Events, d.Seq)
				if err != nil {
					s.logger.Error("pipeline source: cannot wrap a delivery", "seq", d.Seq, "error", err)
					break
				}
				select {
				case out <- msg:
				case <-ctx.Done():
					return
				}
				select {
				case <-msg.Acked():
					if err := d.Ack(ctx); err != nil && ctx.Err() == nil {
						s.logger.Warn("pipeline source: acknowledging to the log failed", "seq", d.Seq, "error", err)
					}
				case <-msg.Nacked():
					pause := min(time.Duration(attempt+1)*200*time.Millisecond, 5*time.Second)
					s.logger.Warn("pipeline source: delivery not processed; sending it again", "seq", d.Seq, "attempt", attempt+1, "delay", pause)
					if sleepCtx(ctx, pause) != nil {
						return
					}
					continue
				case <-ctx.Done():
					return
				}
				break
			}
		}
	}()
	return out, nil
}

func (s *source) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, c := range s.cancel {
		c()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// sink is a watermill Publisher that appends the messages' events to the log.
type sink struct {
	store   events.Store
	timeout time.Duration
}

func (s *sink) Publish(_ string, msgs ...*message.Message) error {
	var all []events.Event
	for _, m := range msgs {
		evs, err := EventsOf(m)
		if err != nil {
			return fmt.Errorf("pipeline sink: %w", err)
		}
		all = append(all, evs...)
	}
	if len(all) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	return s.store.Append(ctx, all...)
}

func (s *sink) Close() error { return nil }

// deadLetterer keeps what could not be processed (natsstore.Store).
type deadLetterer interface {
	DeadLetter(ctx context.Context, source string, payload []byte, reason string, headers map[string]string) error
}

// dlq is the watermill Publisher behind the poison-queue middleware.
type dlq struct {
	to     deadLetterer
	logger *slog.Logger
}

func (d *dlq) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		reason := m.Metadata.Get("reason_poisoned")
		d.logger.Error("pipeline: delivery sent to the dead letters", "seq", m.Metadata.Get(MetaSeq), "reason", reason)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := d.to.DeadLetter(ctx, topic, m.Payload, reason, map[string]string(m.Metadata))
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *dlq) Close() error { return nil }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
