package natsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/halo-sec/halo/events"
)

// Position returns the last log position acknowledged under a named
// subscription, or 0 when the name is new.
func (s *Store) Position(ctx context.Context, name string) (uint64, error) {
	if s.closed.Load() {
		return 0, s.closedErr()
	}
	c, err := s.stream.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("position of %q: %w", name, err)
	}
	return c.CachedInfo().AckFloor.Stream, nil
}

// LastSeq returns the position of the last message in the log (0 if empty).
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the event log: %w", err)
	}
	return info.State.LastSeq, nil
}

// Trimmed reports whether the log's retention (age or size) has removed
// its oldest messages, and when the oldest it still holds was recorded: a
// range that starts before then is read without what was removed.
func (s *Store) Trimmed(ctx context.Context) (trimmed bool, oldest time.Time, err error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("reading the event log: %w", err)
	}
	st := info.State
	// FirstSeq moves past 1 only when messages are removed (Halo's log
	// never deletes one itself); an empty log that lost everything has
	// FirstSeq past LastSeq.
	return st.FirstSeq > 1, st.FirstTime, nil
}

// DeadLetterStream holds messages a consumer could not process, with the
// reason, on subjects halo-dlq.<source>, for 30 days.
const DeadLetterStream = "HALO_DLQ"

// DeadLetter keeps payload, which source could not process, with the reason
// in its headers, in the dead-letter stream.
func (s *Store) DeadLetter(ctx context.Context, source string, payload []byte, reason string, headers map[string]string) error {
	if s.closed.Load() {
		return s.closedErr()
	}
	if err := s.ensureDLQ(ctx); err != nil {
		return err
	}
	m := &nats.Msg{Subject: "halo-dlq." + source, Data: payload, Header: nats.Header{}}
	m.Header.Set("Halo-Reason", reason)
	m.Header.Set("Halo-Source", source)
	for k, v := range headers {
		m.Header.Set(k, v)
	}
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("dead-lettering a message of %s: %w", source, err)
	}
	return nil
}

func (s *Store) ensureDLQ(ctx context.Context) error {
	if s.dlqReady.Load() {
		return nil
	}
	_, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: DeadLetterStream, Description: "Halo dead letters", Subjects: []string{"halo-dlq.>"},
		Storage: jetstream.FileStorage, MaxAge: 30 * 24 * time.Hour, Replicas: s.cfg.Replicas,
		MaxMsgSize: int32(events.MaxBatchSize + 64<<10),
	})
	if err != nil {
		return fmt.Errorf("creating the dead-letter stream: %w", err)
	}
	s.dlqReady.Store(true)
	return nil
}

// DeadLetters returns the dead letters of source (every source when empty),
// oldest first: payload and headers.
func (s *Store) DeadLetters(ctx context.Context, source string) ([]DeadLetterMsg, error) {
	if err := s.ensureDLQ(ctx); err != nil {
		return nil, err
	}
	subj := "halo-dlq.>"
	if source != "" {
		subj = "halo-dlq." + source
	}
	c, err := s.js.OrderedConsumer(ctx, DeadLetterStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}})
	if err != nil {
		return nil, err
	}
	var out []DeadLetterMsg
	stalls := 0
	for {
		b, err := fetch(c, 256, stalls)
		if err != nil {
			return out, err
		}
		n := 0
		for m := range b.Messages() {
			n++
			meta, _ := m.Metadata()
			d := DeadLetterMsg{Subject: m.Subject(), Data: m.Data(), Reason: m.Headers().Get("Halo-Reason"), Headers: map[string]string{}}
			for k := range m.Headers() {
				d.Headers[k] = m.Headers().Get(k)
			}
			if meta != nil {
				d.Time = meta.Timestamp
			}
			out = append(out, d)
		}
		if n == 0 {
			more, err := s.stalled(ctx, c, &stalls)
			if err != nil {
				return out, fmt.Errorf("reading the dead letters: %w", err)
			}
			if !more {
				return out, nil
			}
			continue
		}
		stalls = 0
	}
}

// DeadLetterMsg is one dead letter.
type DeadLetterMsg struct {
	Subject string
	Data    []byte
	Reason  string
	Headers map[string]string
	Time    time.Time
}
