package roles

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/halo-sec/halo/events"
)

var trafficTypes = []events.Type{events.TypeConnOpened, events.TypeConnClosed, events.TypeConnBlocked, events.TypeTxObserved, events.TypeAuthFailed}

// lastSeen tracks each device's last traffic event time: the events of the
// last 24 h when it starts, then every new one.
type lastSeen struct {
	mu sync.RWMutex
	at map[string]time.Time
}

func (l *lastSeen) get(device string) (time.Time, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t, ok := l.at[device]
	return t, ok
}

func (l *lastSeen) see(ev *events.Event) {
	if ev.Device == "" {
		return
	}
	l.mu.Lock()
	if ev.Time.After(l.at[ev.Device]) {
		l.at[ev.Device] = ev.Time
	}
	l.mu.Unlock()
}

// follow subscribes to new traffic first (so nothing falls between), then
// reads the last 24 h, then applies the subscription until ctx ends.
func (l *lastSeen) follow(ctx context.Context, store events.Store, logger *slog.Logger) {
	for ctx.Err() == nil {
		sub, err := store.Subscribe(ctx, events.SubscribeOptions{Types: trafficTypes, NewOnly: true})
		if err == nil {
			for ev, rerr := range store.Read(ctx, events.Query{From: time.Now().Add(-24 * time.Hour), Types: trafficTypes}) {
				if rerr != nil {
					break
				}
				l.see(&ev)
			}
			for {
				d, nerr := sub.Next(ctx)
				if nerr != nil {
					err = nerr
					break
				}
				for i := range d.Events {
					l.see(&d.Events[i])
				}
				d.Ack(ctx)
			}
			sub.Close()
		}
		if ctx.Err() != nil {
			return
		}
		logger.Warn("api: following device activity failed; retrying", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
