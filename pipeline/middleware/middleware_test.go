package middleware

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/halo-sec/halo/events"
)

type ctxKey struct{}

var evf = EventsFunc{
	Get: func(m *message.Message) ([]events.Event, error) {
		return m.Context().Value(ctxKey{}).([]events.Event), nil
	},
	Set: func(m *message.Message, evs []events.Event) { m.SetContext(WithEvents(m.Context(), ctxKey{}, evs)) },
}

func msgOf(evs ...events.Event) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), nil)
	m.SetContext(WithEvents(context.Background(), ctxKey{}, evs))
	return m
}

func ev() events.Event { return events.Event{ID: events.NewID()} }

func TestDedup(t *testing.T) {
	var got [][]events.ID
	fail := true
	dropped := 0
	h := Dedup(4, evf, func(n int) { dropped += n })(func(m *message.Message) ([]*message.Message, error) {
		evs, _ := evf.Get(m)
		var ids []events.ID
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
		got = append(got, ids)
		if fail {
			return nil, errors.New("boom")
		}
		return nil, nil
	})
	a, b, c := ev(), ev(), ev()
	// A failed attempt does not mark its events as seen.
	if _, err := h(msgOf(a, b)); err == nil {
		t.Fatal("error lost")
	}
	fail = false
	h(msgOf(a, b))
	h(msgOf(b, c)) // b is a duplicate now
	h(msgOf(a))    // nothing fresh: the handler is not called
	if len(got) != 3 || len(got[2]) != 1 || got[2][0] != c.ID || dropped != 2 {
		t.Fatalf("handler saw %v, dropped %d", got, dropped)
	}
	// Bounded: after enough fresh ids, a is forgotten.
	for i := 0; i < 8; i++ {
		h(msgOf(ev()))
	}
	before := len(got)
	h(msgOf(a))
	if len(got) != before+1 {
		t.Fatal("dedup memory is not bounded")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "test")
	h := m.Middleware(func(msg *message.Message) ([]*message.Message, error) {
		if msg.UUID == "bad" {
			return nil, errors.New("x")
		}
		return nil, nil
	})
	h(message.NewMessage("ok", nil))
	h(message.NewMessage("bad", nil))
	h(message.NewMessage("ok2", nil))
	var d dto.Metric
	m.Messages.WithLabelValues("ok").Write(&d)
	if d.GetCounter().GetValue() != 2 {
		t.Fatalf("ok = %v", d.GetCounter().GetValue())
	}
	m.Messages.WithLabelValues("error").Write(&d)
	if d.GetCounter().GetValue() != 1 {
		t.Fatalf("error = %v", d.GetCounter().GetValue())
	}
}

func TestRetry(t *testing.T) {
	calls := 0
	h := Retry(3, time.Millisecond, watermill.NopLogger{})(func(*message.Message) ([]*message.Message, error) {
		calls++
		if calls < 3 {
			return nil, errors.New("transient")
		}
		return nil, nil
	})
	if _, err := h(message.NewMessage("x", nil)); err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	calls = -100
	if _, err := h(message.NewMessage("y", nil)); err == nil || calls != -96 {
		t.Fatalf("gave up with %v after %d calls, want 4 calls", err, calls+100)
	}
}

type capture struct{ msgs []*message.Message }

func (c *capture) Publish(_ string, m ...*message.Message) error {
	c.msgs = append(c.msgs, m...)
	return nil
}
func (c *capture) Close() error { return nil }

func TestDeadLetters(t *testing.T) {
	pub := &capture{}
	mw, err := DeadLetters(pub, "dlq")
	if err != nil {
		t.Fatal(err)
	}
	h := mw(func(*message.Message) ([]*message.Message, error) { return nil, errors.New("corrupt batch") })
	if _, err := h(message.NewMessage("x", []byte("junk"))); err != nil {
		t.Fatalf("poisoned message not acknowledged: %v", err)
	}
	if len(pub.msgs) != 1 || pub.msgs[0].Metadata.Get(ReasonKey) != "corrupt batch" || string(pub.msgs[0].Payload) != "junk" {
		t.Fatalf("dead letter %+v", pub.msgs)
	}
}
