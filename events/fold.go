package events

import (
	"context"
	"fmt"
)

// FoldAll applies every event of the given types in the log to apply, in
// log order: how a fold (identities, policies, alerts, interventions) loads
// its state. what names the fold in errors ("loading what: ...").
func FoldAll(ctx context.Context, store Store, types []Type, what string, apply func(*Event)) error {
	for ev, err := range store.Read(ctx, Query{Types: types}) {
		if err != nil {
			return fmt.Errorf("loading %s: %w", what, err)
		}
		apply(&ev)
	}
	return nil
}

// FollowFrom applies the events of the given types appended from position
// start on, as they arrive, until ctx ends; it returns nil then.
func FollowFrom(ctx context.Context, store Store, types []Type, start uint64, what string, apply func(*Event)) error {
	sub, err := store.Subscribe(ctx, SubscribeOptions{Types: types, StartSeq: start})
	if err != nil {
		return fmt.Errorf("following %s: %w", what, err)
	}
	defer sub.Close()
	for {
		d, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("following %s: %w", what, err)
		}
		for i := range d.Events {
			apply(&d.Events[i])
		}
		d.Ack(ctx)
	}
}
