package cli

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

// TestEventsLsFilters appends events to a data directory's log, closes it,
// and lists them with `halo events ls --data DIR` (which opens the log
// itself, no halo up running).
func TestEventsLsFilters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now().UTC().Truncate(time.Second)
	old := testEvent("acme", "pos-1", &events.ConnOpened{ConnId: "c0"}, time.Date(2019, 3, 1, 12, 0, 0, 0, time.UTC))
	a := testEvent("acme", "pos-1", &events.ConnOpened{ConnId: "c1", DstHost: "pay.example.com", DstPort: 443}, now.Add(-2*time.Hour))
	b := testEvent("acme", "pos-2", &events.TxObserved{ConnId: "c2", Method: "POST"}, now.Add(-10*time.Minute))
	c := testEvent("beta", "pos-1", &events.ConnClosed{ConnId: "c3"}, now.Add(-5*time.Minute))
	all := []events.Event{old, a, b, c}

	st, err := natsstore.Open(ctx, natsstore.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Append(ctx, all...); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args []string
		want []events.Event
	}{
		{nil, all},
		{[]string{"--tenant", "acme"}, []events.Event{old, a, b}},
		{[]string{"--device", "pos-1"}, []events.Event{old, a, c}},
		{[]string{"--type", "conn.opened", "--type", "conn.closed"}, []events.Event{old, a, c}},
		{[]string{"--type", "tx.observed,conn.closed", "--tenant", "beta"}, []events.Event{c}},
		{[]string{"--from", "1h"}, []events.Event{b, c}},
		{[]string{"--to", "1h"}, []events.Event{old, a}},
		{[]string{"--from", "2019-03-01", "--to", "2019-03-02"}, []events.Event{old}},
		{[]string{"--from", now.Add(-10 * time.Minute).Format(time.RFC3339), "--to", now.Add(-5 * time.Minute).Format(time.RFC3339)}, []events.Event{b}},
		{[]string{"--type", "alert.raised"}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"events", "ls", "--data", dir}, tc.args...)
			code, stdout, stderr := run(ctx, t, args...)
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			checkSameEvents(t, stdout, tc.want)
			if !strings.Contains(stderr, "count=") {
				t.Errorf("standard error has no count:\n%s", stderr)
			}
		})
	}
}

// checkSameEvents checks that stdout holds the events want, one JSON object
// per line, in any order: the log keeps one device's events in order, but
// the order across subjects is the log's business, not this command's.
func checkSameEvents(t *testing.T, stdout string, want []events.Event) {
	t.Helper()
	lines := strings.SplitAfter(stdout, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	id := func(line string) string {
		var v struct{ ID string }
		_ = json.Unmarshal([]byte(line), &v)
		return v.ID
	}
	slices.SortFunc(lines, func(a, b string) int { return strings.Compare(id(a), id(b)) })
	want = slices.Clone(want)
	slices.SortFunc(want, func(a, b events.Event) int { return a.ID.Compare(b.ID) })
	checkLines(t, strings.Join(lines, ""), want)
}

// TestEventsTailFollowsServedLog runs `halo events tail` against the data
// directory of a served log (as halo up serves it), appends, and expects the
// new events only, then a clean exit on cancel.
func TestEventsTailFollowsServedLog(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := natsstore.Open(ctx, natsstore.Config{DataDir: dir, Mode: natsstore.ModeServe}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	before := testEvent("acme", "pos-1", &events.ConnOpened{ConnId: "c0"}, now)
	if err := st.Append(ctx, before); err != nil {
		t.Fatal(err)
	}

	tailCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(tailCtx, []string{"events", "tail", "--data", dir, "--tenant", "acme", "--type", "conn.opened"}, stdout, stderr)
	}()
	// Wait until tail has subscribed (it logs it), so that "new only"
	// starts before the appends below.
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "following the event log") }, stderr)

	x := testEvent("acme", "pos-1", &events.ConnOpened{ConnId: "c1"}, now)
	skip := testEvent("beta", "pos-1", &events.ConnOpened{ConnId: "c2"}, now)
	y := testEvent("acme", "pos-2", &events.ConnOpened{ConnId: "c3"}, now)
	skip2 := testEvent("acme", "pos-2", &events.ConnClosed{ConnId: "c3"}, now)
	if err := st.Append(ctx, x, skip, y, skip2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Count(stdout.String(), "\n") >= 2 }, stderr)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("tail exited %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop within 10s of cancel")
	}
	checkSameEvents(t, stdout.String(), []events.Event{x, y})
}

func waitFor(t *testing.T, cond func() bool, stderr *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
