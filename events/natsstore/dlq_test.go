package natsstore

import (
	"context"
	"testing"

	"github.com/halo-sec/halo/events"
)

func TestDeadLetters(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.DeadLetter(ctx, "pipeline", []byte("bad batch"), "decoding delivery 7: corrupt", map[string]string{"halo_seq": "7"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeadLetter(ctx, "other", []byte("x"), "y", nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeadLetters(ctx, "pipeline")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0].Data) != "bad batch" || got[0].Reason != "decoding delivery 7: corrupt" || got[0].Headers["Halo_seq"] != "7" && got[0].Headers["halo_seq"] != "7" {
		t.Fatalf("dead letters %+v", got)
	}
	all, _ := s.DeadLetters(ctx, "")
	if len(all) != 2 {
		t.Fatalf("%d dead letters in all, want 2", len(all))
	}
	// Dead letters are not events: readers of the log never see them.
	n := 0
	for _, err := range s.Read(ctx, eventsQuery()) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 0 {
		t.Fatalf("dead letters leaked into the event log: %d events", n)
	}
}

func eventsQuery() events.Query { return events.Query{} }
