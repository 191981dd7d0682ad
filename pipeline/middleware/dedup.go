package middleware

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/halo-sec/halo/events"
)

// EventsFunc reads and replaces the events a message carries.
type EventsFunc struct {
	Get func(*message.Message) ([]events.Event, error)
	Set func(*message.Message, []events.Event)
}

// Dedup drops events whose id was already processed successfully, among the
// last capacity ids (two generations, like natsstore's subscriptions). A
// message left with no events is acknowledged without calling the handler.
func Dedup(capacity int, ev EventsFunc, dropped func(n int)) message.HandlerMiddleware {
	half := max(capacity/2, 1)
	cur := make(map[events.ID]struct{}, min(half, 1<<16))
	var prev map[events.ID]struct{}
	seen := func(id events.ID) bool {
		if _, ok := cur[id]; ok {
			return true
		}
		_, ok := prev[id]
		return ok
	}
	remember := func(id events.ID) {
		if len(cur) >= half {
			prev, cur = cur, make(map[events.ID]struct{}, min(half, 1<<16))
		}
		cur[id] = struct{}{}
	}
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			evs, err := ev.Get(msg)
			if err != nil {
				return h(msg) // let the handler report the corrupt payload
			}
			fresh := evs[:0:0]
			for i := range evs {
				if !seen(evs[i].ID) {
					fresh = append(fresh, evs[i])
				}
			}
			if n := len(evs) - len(fresh); n > 0 {
				if dropped != nil {
					dropped(n)
				}
				if len(fresh) == 0 {
					return nil, nil
				}
				ev.Set(msg, fresh)
			}
			out, err := h(msg)
			if err == nil {
				for i := range fresh {
					remember(fresh[i].ID)
				}
			}
			return out, err
		}
	}
}

// WithEvents returns ctx carrying evs (for EventsFunc implementations).
func WithEvents(ctx context.Context, key any, evs []events.Event) context.Context {
	return context.WithValue(ctx, key, evs)
}
