package natsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/halo-sec/halo/events"
)

// Subscribe implements events.Store with a JetStream pull consumer (durable
// when named) that acknowledges cumulatively (AckAll): acknowledging a
// delivery acknowledges everything before it. Delivery is at least once;
// unacknowledged messages come again after the ack wait (30 s) or on the
// next Subscribe with the same name. Repeated event ids are dropped within
// the last Config.SubscriptionDedup ids.
func (s *Store) Subscribe(ctx context.Context, o events.SubscribeOptions) (events.Subscription, error) {
	if s.closed.Load() {
		return nil, s.closedErr()
	}
	filters, err := s.filters(o.Tenant, o.Device, o.Types)
	if err != nil {
		return nil, err
	}
	cc := jetstream.ConsumerConfig{
		Durable:       o.Name,
		Description:   "halo subscription",
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 1 << 16,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if len(filters) == 1 {
		cc.FilterSubject = filters[0]
	} else {
		cc.FilterSubjects = filters
	}
	switch {
	case o.StartSeq > 0:
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = o.StartSeq
	case !o.StartTime.IsZero():
		t := o.StartTime
		cc.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cc.OptStartTime = &t
	case o.NewOnly:
		cc.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	var cons jetstream.Consumer
	if o.Name == "" {
		cc.InactiveThreshold = 5 * time.Minute
		cons, err = s.stream.CreateConsumer(ctx, cc)
	} else {
		cons, err = s.resumeDurable(ctx, o.Name, cc, filters)
	}
	if err != nil {
		return nil, fmt.Errorf("subscribing to the event log: %w", s.readErr(err))
	}
	mc, err := cons.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		return nil, fmt.Errorf("subscribing to the event log: %w", err)
	}
	return &subscription{s: s, mc: mc, device: o.Device, types: o.Types, recent: newRecentIDs(s.cfg.SubscriptionDedup)}, nil
}

// resumeDurable (re)creates the durable consumer name so that it delivers,
// in log order, everything after the last position acknowledged under that
// name. JetStream would otherwise leave messages that a previous subscriber
// had pulled but not acknowledged for redelivery after the ack wait, out of
// order, and a cumulative acknowledgement of later messages would skip them.
// One subscriber per name at a time.
func (s *Store) resumeDurable(ctx context.Context, name string, cc jetstream.ConsumerConfig, filters []string) (jetstream.Consumer, error) {
	old, err := s.stream.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return s.stream.CreateConsumer(ctx, cc)
	}
	if err != nil {
		return nil, err
	}
	info := old.CachedInfo()
	have := append([]string{}, info.Config.FilterSubjects...)
	if info.Config.FilterSubject != "" {
		have = append(have, info.Config.FilterSubject)
	}
	slices.Sort(have)
	want := slices.Clone(filters)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		return nil, fmt.Errorf("subscription %q exists with filters %v, asked for %v: use another name", name, have, want)
	}
	next := info.Config
	if info.AckFloor.Stream > 0 {
		next.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		next.OptStartSeq = info.AckFloor.Stream + 1
		next.OptStartTime = nil
	}
	if err := s.stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, err
	}
	return s.stream.CreateConsumer(ctx, next)
}

type subscription struct {
	s      *Store
	mc     jetstream.MessagesContext
	device string
	types  []events.Type
	recent *recentIDs

	closeOnce sync.Once
}

func (sub *subscription) match(ev *events.Event) bool {
	if sub.device != "" && ev.Device != sub.device {
		return false
	}
	if len(sub.types) == 0 {
		return true
	}
	return slices.Contains(sub.types, ev.Type())
}

// Next implements events.Subscription: the events of the next log message.
func (sub *subscription) Next(ctx context.Context) (events.Delivery, error) {
	for {
		if sub.s.closed.Load() {
			return events.Delivery{}, sub.s.closedErr()
		}
		msg, err := sub.mc.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return events.Delivery{}, ctx.Err()
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || sub.s.closed.Load() {
				return events.Delivery{}, sub.s.closedErr()
			}
			return events.Delivery{}, fmt.Errorf("receiving from the event log: %w", err)
		}
		evs, seq, _, ok := sub.s.decode(nil, msg)
		out := evs[:0]
		if ok {
			for i := range evs {
				if !sub.match(&evs[i]) {
					continue
				}
				if sub.recent.seen(evs[i].ID) {
					sub.s.duplicates.Add(1)
					continue
				}
				out = append(out, evs[i])
			}
		}
		return events.NewDelivery(out, seq, func(context.Context) error { return msg.Ack() }), nil
	}
}

// Close implements events.Subscription.
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() { sub.mc.Stop() })
	return nil
}
