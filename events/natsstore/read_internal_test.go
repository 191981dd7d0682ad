package natsstore

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/storetest"
)

// heldBatch is a fetch's answer as a test makes it (a fake of the NATS
// client's batch: a loaded server answering a fetch with nothing cannot be
// made to happen on demand).
type heldBatch struct {
	c   chan jetstream.Msg
	err error
}

func batchOf(msgs []jetstream.Msg, err error) *heldBatch {
	b := &heldBatch{c: make(chan jetstream.Msg, len(msgs)), err: err}
	for _, m := range msgs {
		b.c <- m
	}
	close(b.c)
	return b
}

func (b *heldBatch) Messages() <-chan jetstream.Msg { return b.c }
func (b *heldBatch) Error() error                   { return b.err }

// TestReadWaitsForWhatAFetchHeldBack: a fetch that brings nothing while
// events are pending does not end the read; the read waits for them and
// gives every event once, in order.
func TestReadWaitsForWhatAFetchHeldBack(t *testing.T) {
	log := newEmbeddedLog(t, storetest.Options{})
	s := log.Open(t).(*Store)
	ctx := context.Background()
	evs := storetest.Traffic("acme", "pos-1", time.Now(), readFetch+300)
	for i := range evs { // one message each: more than one fetch holds
		if err := s.Append(ctx, evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	var held []jetstream.Msg
	calls, empty := 0, 0
	defer func(f func(jetstream.MessageBatch) jetstream.MessageBatch) { fetched = f }(fetched)
	fetched = func(b jetstream.MessageBatch) jetstream.MessageBatch {
		calls++
		msgs := held
		held = nil
		for m := range b.Messages() {
			msgs = append(msgs, m)
		}
		if calls == 1 { // the first fetch's answer comes with the second
			held, empty = msgs, empty+1
			return batchOf(nil, nil)
		}
		return batchOf(msgs, nil)
	}
	got := storetest.ReadAll(t, s, events.Query{})
	if empty != 1 || calls < 2 {
		t.Fatalf("%d fetches, %d held back: the test held nothing back", calls, empty)
	}
	if len(got) != len(evs) {
		t.Fatalf("read %d events of %d after a fetch that brought nothing", len(got), len(evs))
	}
	for i := range got {
		if got[i].ID != evs[i].ID {
			t.Fatalf("event %d: %s, want %s", i, got[i].ID, evs[i].ID)
		}
	}
}
