package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/halo-sec/halo/events"
)

// Options are the log settings a test needs from a backend.
type Options struct {
	// DuplicateWindow is the backend's de-duplication window (JetStream's
	// Duplicates); zero means the backend's default.
	DuplicateWindow time.Duration
}

// Log is one fresh, empty event log of the backend under test.
type Log interface {
	// Open returns a Store on this log. The suite closes it; anything the
	// harness must clean up is registered with t.Cleanup.
	Open(t *testing.T) events.Store
	// Restart stops the log's server and starts it again on the same data.
	// Stores opened before are closed by the suite first.
	Restart(t *testing.T)
	// CrashAppend appends evs, one Append call per event, in a way that
	// the process holding the log's data can be killed: it is killed with
	// SIGKILL once `after` events have been acknowledged, and started again
	// where needed. It returns the ids acknowledged before the kill.
	CrashAppend(t *testing.T, evs []events.Event, after int) []events.ID
	// PublishRaw puts data on subject in the log bypassing the Store, as
	// any holder of the credentials could.
	PublishRaw(t *testing.T, subject string, data []byte)
	// DialWithoutCredentials tries to use the log's server with no or wrong
	// credentials and returns the error it got (nil means it got in).
	DialWithoutCredentials(t *testing.T) error
}

// NewLog makes a fresh log for one test.
type NewLog func(t *testing.T, o Options) Log

// Run runs the contract suite against a backend.
func Run(t *testing.T, newLog NewLog) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newLog NewLog)
	}{
		{"RoundTripEveryType", testRoundTrip},
		{"DuplicateWithinWindow", testDuplicateWithinWindow},
		{"DuplicateBeyondWindow", testDuplicateBeyondWindow},
		{"PerDeviceOrder", testPerDeviceOrder},
		{"EventTimeRange", testEventTimeRange},
		{"ConcurrentAppenders", testConcurrentAppenders},
		{"InvalidEventRejected", testInvalidEvent},
		{"SubscribeDurableResume", testSubscribeDurable},
		{"SubscribeStartPositions", testSubscribeStart},
		{"RestartDurability", testRestart},
		{"CrashDurability", testCrash},
		{"GarbageSkipped", testGarbage},
		{"CredentialsRequired", testCredentials},
		{"ReadEarlyBreakAndClose", testReadBreakClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newLog) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// ReadAll collects a Read, failing the test on error.
func ReadAll(t *testing.T, s events.Store, q events.Query) []events.Event {
	t.Helper()
	var out []events.Event
	for ev, err := range s.Read(ctxT(t), q) {
		if err != nil {
			t.Fatalf("Read(%+v): %v", q, err)
		}
		out = append(out, ev)
	}
	return out
}

func ids(evs []events.Event) []events.ID {
	out := make([]events.ID, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

func sortIDs(x []events.ID) []events.ID {
	x = slices.Clone(x)
	slices.SortFunc(x, func(a, b events.ID) int { return a.Compare(b) })
	return x
}

func mustAppend(t *testing.T, s events.Store, evs ...events.Event) {
	t.Helper()
	if err := s.Append(ctxT(t), evs...); err != nil {
		t.Fatalf("Append(%d events): %v", len(evs), err)
	}
}

func sameEvent(t *testing.T, got, want *events.Event) {
	t.Helper()
	if got.ID != want.ID || got.Tenant != want.Tenant || got.Device != want.Device || !got.Time.Equal(want.Time) || got.Type() != want.Type() {
		t.Fatalf("event mismatch:\n got  %s %s %s/%s %v\n want %s %s %s/%s %v", got.ID, got.Type(), got.Tenant, got.Device, got.Time, want.ID, want.Type(), want.Tenant, want.Device, want.Time)
	}
	if !proto.Equal(got.Payload, want.Payload) {
		t.Fatalf("%s %s payload mismatch:\n got  %v\n want %v", want.Type(), want.ID, got.Payload, want.Payload)
	}
	if got.Seq == 0 || got.Recorded.IsZero() {
		t.Fatalf("%s %s read back without log position (seq %d) or recorded time (%v)", want.Type(), want.ID, got.Seq, got.Recorded)
	}
}

func testRoundTrip(t *testing.T, newLog NewLog) {
	s := newLog(t, Options{}).Open(t)
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Minute)
	want := Samples("acme", "pos-1", now)
	mustAppend(t, s, want...)
	got := ReadAll(t, s, events.Query{})
	if len(got) != len(want) {
		t.Fatalf("read %d events, appended %d", len(got), len(want))
	}
	byID := map[events.ID]*events.Event{}
	for i := range got {
		byID[got[i].ID] = &got[i]
	}
	for i := range want {
		g, ok := byID[want[i].ID]
		if !ok {
			t.Fatalf("%s %s not read back", want[i].Type(), want[i].ID)
		}
		sameEvent(t, g, &want[i])
	}
	// Each type alone through the type filter.
	for _, typ := range events.Types() {
		got := ReadAll(t, s, events.Query{Types: []events.Type{typ}})
		if len(got) != 1 || got[0].Type() != typ {
			t.Fatalf("Types=[%s]: read %d events (%v)", typ, len(got), ids(got))
		}
	}
}

func testDuplicateWithinWindow(t *testing.T, newLog NewLog) {
	s := newLog(t, Options{}).Open(t)
	defer s.Close()
	evs := Traffic("acme", "pos-1", time.Now().Add(-time.Minute), 6)
	mustAppend(t, s, evs...)
	mustAppend(t, s, evs...)         // the same batch again: the server drops it
	mustAppend(t, s, evs[2])         // one of them alone: a new message id, readers drop it
	mustAppend(t, s, evs[4], evs[0]) // a different batch of known ids
	got := ReadAll(t, s, events.Query{})
	if !slices.Equal(ids(got), ids(evs)) {
		t.Fatalf("read %v, want each of %v once in order", ids(got), ids(evs))
	}
	checkSubscriptionSeesOnce(t, s, ids(evs))
}

func checkSubscriptionSeesOnce(t *testing.T, s events.Store, want []events.ID) {
	t.Helper()
	ctx := ctxT(t)
	sub, err := s.Subscribe(ctx, events.SubscribeOptions{})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	got := collect(t, sub, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("subscription delivered %v, want %v", got, want)
	}
	// Nothing more arrives (the duplicates were dropped).
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	for {
		d, err := sub.Next(short)
		if err != nil {
			break
		}
		if len(d.Events) > 0 {
			t.Fatalf("subscription delivered extra events %v", ids(d.Events))
		}
	}
}

// collect reads deliveries until n events have arrived, acknowledging them.
func collect(t *testing.T, sub events.Subscription, n int) []events.ID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []events.ID
	for len(got) < n {
		d, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d of %d events: %v", len(got), n, err)
		}
		got = append(got, ids(d.Events)...)
		if err := d.Ack(ctx); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	return got
}

func testDuplicateBeyondWindow(t *testing.T, newLog NewLog) {
	const window = 200 * time.Millisecond
	s := newLog(t, Options{DuplicateWindow: window}).Open(t)
	defer s.Close()
	evs := Traffic("acme", "pos-1", time.Now().Add(-time.Minute), 3)
	mustAppend(t, s, evs...)
	time.Sleep(3 * window)
	mustAppend(t, s, evs...) // same message id, but the server has forgotten it
	mustAppend(t, s, evs[1])
	extra := Traffic("acme", "pos-1", time.Now(), 1)
	mustAppend(t, s, evs[0], extra[0])
	want := append(ids(evs), extra[0].ID)
	got := ReadAll(t, s, events.Query{})
	if !slices.Equal(ids(got), want) {
		t.Fatalf("read %v, want %v", ids(got), want)
	}
	checkSubscriptionSeesOnce(t, s, want)
}

func testPerDeviceOrder(t *testing.T, newLog NewLog) {
	s := newLog(t, Options{}).Open(t)
	defer s.Close()
	base := time.Now().Add(-time.Hour)
	devices := []string{"pos-1", "pos-2", "pos-3", "10.0.0.7", "fe80::1"}
	perDevice := map[string][]events.Event{}
	for _, d := range devices {
		perDevice[d] = Traffic("acme", d, base, 600)
		// Interleave other kinds for the same device.
		for i := 50; i < len(perDevice[d]); i += 97 {
			a := Samples("acme", d, base.Add(time.Duration(i)*time.Millisecond))[10] // alert.raised
			perDevice[d] = slices.Insert(perDevice[d], i, a)
		}
	}
	// Append in interleaved chunks of varying size.
	var all []events.Event
	pos := map[string]int{}
	for step := 0; ; step++ {
		progressed := false
		for i, d := range devices {
			n := 1 + (step*7+i*13)%40
			from := pos[d]
			to := min(from+n, len(perDevice[d]))
			all = append(all, perDevice[d][from:to]...)
			pos[d] = to
			progressed = progressed || to > from
		}
		if !progressed {
			break
		}
	}
	for i := 0; i < len(all); i += 333 {
		mustAppend(t, s, all[i:min(i+333, len(all))]...)
	}
	for _, d := range devices {
		got := ReadAll(t, s, events.Query{Device: d})
		if !slices.Equal(ids(got), ids(perDevice[d])) {
			t.Fatalf("device %s: read %d events, appended %d, or out of order", d, len(got), len(perDevice[d]))
		}
	}
}

func testEventTimeRange(t *testing.T, newLog NewLog) {
	s := newLog(t, Options{}).Open(t)
	defer s.Close()
	now := time.Now().UTC()
	times := []time.Time{
		time.Date(2013, 8, 15, 10, 0, 0, 0, time.UTC), // imported Zeek history
		now.AddDate(-3, 0, 0),
		now.AddDate(-1, 0, 0),
		now.Add(-24 * time.Hour),
		now.Add(-time.Hour),
		now.Add(-time.Minute),
	}
	var all []events.Event
	for i, at := range times {
		for _, tenant := range []string{"acme", "globex"} {
			for _, dev := range []string{"pos-1", "pos-2"} {
				tr := Traffic(tenant, dev, at, 3)
				all = append(all, tr...)
				if i%2 == 0 {
					l := Samples(tenant, dev, at)[14] // label.recorded
					all = append(all, l)
				}
			}
		}
	}
	// Append the old history last, as an import would.
	mustAppend(t, s, all[len(all)/2:]...)
	mustAppend(t, s, all[:len(all)/2]...)
	queries := []events.Query{
		{},
		{From: times[0], To: times[0].Add(time.Second)},
		{From: now.AddDate(-2, 0, 0), To: now.AddDate(0, -6, 0)},
		{From: now.Add(-2 * time.Hour)},
		{To: now.AddDate(-2, 0, 0)},
		{Tenant: "globex"},
		{Device: "pos-2"},
		{Types: []events.Type{events.TypeTxObserved}},
		{Types: []events.Type{events.TypeLabelRecorded, events.TypeConnClosed}},
		{Tenant: "acme", Device: "pos-1", Types: []events.Type{events.TypeConnOpened}, From: times[1], To: times[4]},
		{From: now.Add(time.Hour)},
	}
	for _, q := range queries {
		var want []events.ID
		for i := range all {
			if q.Match(&all[i]) {
				want = append(want, all[i].ID)
			}
		}
		got := ReadAll(t, s, q)
		for i := range got {
			if !q.Match(&got[i]) {
				t.Fatalf("query %+v returned non-matching %s", q, got[i].ID)
			}
		}
		if !slices.Equal(sortIDs(ids(got)), sortIDs(want)) {
			t.Fatalf("query %+v: read %d events, want %d", q, len(got), len(want))
		}
	}
}

func testConcurrentAppenders(t *testing.T, newLog NewLog) {
	s := newLog(t, Options{}).Open(t)
	defer s.Close()
	const writers, perWriter = 8, 2000
	var wg sync.WaitGroup
	all := make([][]events.Event, writers)
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		all[w] = Traffic("acme", fmt.Sprintf("pos-%d", w), time.Now().Add(-time.Minute), perWriter)
		wg.Add(1)
		go func(evs []events.Event, chunk int) {
			defer wg.Done()
			for i := 0; i < len(evs); i += chunk {
				if err := s.Append(context.Background(), evs[i:min(i+chunk, len(evs))]...); err != nil {
					errs <- err
					return
				}
			}
		}(all[w], 1+w*37)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Append: %v", err)
	}
	got := ReadAll(t, s, events.Query{})
	if len(got) != writers*perWriter {
		t.Fatalf("read %d events, appended %d", len(got), writers*perWriter)
	}
	for w := range all {
		dev := all[w][0].Device
		var mine []events.ID
		for i := range got {
			if got[i].Device == dev {
				mine = append(mine, got[i].ID)
			}
		}
		if !slices.Equal(mine, ids(all[w])) {
			t.Fatalf("writer %d: its events are missing or out of order", w)
		}
	}
}

func testInvalidEvent(t *testing.T, newLog NewLog) {
	s := newLog(t, Options{}).Open(t)
	defer s.Close()
	good := Traffic("acme", "pos-1", time.Now(), 2)
	bad := []events.Event{
		{ID: events.NewID(), Tenant: "acme", Device: "pos-1", Time: time.Now()},                                                    // no payload
		{Tenant: "acme", Device: "pos-1", Time: time.Now(), Payload: &events.ConnClosed{}},                                         // no id
		{ID: events.NewID(), Tenant: "ac.me", Device: "pos-1", Time: time.Now(), Payload: &events.ConnClosed{}},                    // bad tenant
		{ID: events.NewID(), Tenant: "acme", Device: "pos 1", Time: time.Now(), Payload: &events.ConnClosed{}},                     // bad device
		{ID: events.NewID(), Tenant: "acme", Device: "pos-1", Payload: &events.ConnClosed{}},                                       // no time
		{ID: events.NewID(), Tenant: "acme", Device: "pos-1", Time: time.Now().Add(24 * time.Hour), Payload: &events.ConnClosed{}}, // future
	}
	for i := range bad {
		if err := s.Append(ctxT(t), good[0], bad[i], good[1]); err == nil {
			t.Fatalf("Append accepted invalid event %d (%+v)", i, bad[i])
		}
	}
	if got := ReadAll(t, s, events.Query{}); len(got) != 0 {
		t.Fatalf("a failed Append wrote %d events", len(got))
	}
}

func testSubscribeDurable(t *testing.T, newLog NewLog) {
	log := newLog(t, Options{})
	s := log.Open(t)
	evs := Traffic("acme", "pos-1", time.Now().Add(-time.Minute), 30)
	mustAppend(t, s, evs[:10]...)
	ctx := ctxT(t)
	sub, err := s.Subscribe(ctx, events.SubscribeOptions{Name: "pipeline", Tenant: "acme", Types: []events.Type{events.TypeConnOpened, events.TypeConnClosed, events.TypeTxObserved}})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	got := collect(t, sub, 10)
	if !slices.Equal(got, ids(evs[:10])) {
		t.Fatalf("first delivery %v, want %v", got, ids(evs[:10]))
	}
	mustAppend(t, s, evs[10:20]...)
	// Receive some of them without acknowledging: a subscriber that
	// crashes mid-batch. They must come again, at once and in order.
	if d, err := sub.Next(ctx); err != nil || len(d.Events) == 0 {
		t.Fatalf("Next: %v (%d events)", err, len(d.Events))
	}
	sub.Close()
	s.Close()
	s = log.Open(t)
	defer s.Close()
	mustAppend(t, s, evs[20:]...)
	sub, err = s.Subscribe(ctx, events.SubscribeOptions{Name: "pipeline", Tenant: "acme", Types: []events.Type{events.TypeConnOpened, events.TypeConnClosed, events.TypeTxObserved}})
	if err != nil {
		t.Fatalf("re-Subscribe: %v", err)
	}
	defer sub.Close()
	got = collect(t, sub, 20)
	if !slices.Equal(got, ids(evs[10:])) {
		t.Fatalf("resumed delivery %v, want %v", got, ids(evs[10:]))
	}
	// Asking for the same name with other filters is an error, not a surprise.
	if _, err := s.Subscribe(ctx, events.SubscribeOptions{Name: "pipeline", Tenant: "globex"}); err == nil {
		t.Fatal("Subscribe with the same name and other filters succeeded")
	}
}

func testSubscribeStart(t *testing.T, newLog NewLog) {
	s := newLog(t, Options{}).Open(t)
	defer s.Close()
	ctx := ctxT(t)
	first := Traffic("acme", "pos-1", time.Now().Add(-time.Minute), 1)
	mustAppend(t, s, first...)
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	evs := Traffic("acme", "pos-1", time.Now().Add(-time.Minute), 5)[1:]
	mustAppend(t, s, evs...)
	got := ReadAll(t, s, events.Query{})
	seq2 := got[1].Seq

	check := func(name string, o events.SubscribeOptions, want []events.ID) {
		t.Helper()
		sub, err := s.Subscribe(ctx, o)
		if err != nil {
			t.Fatalf("%s: Subscribe: %v", name, err)
		}
		defer sub.Close()
		if g := collect(t, sub, len(want)); !slices.Equal(g, want) {
			t.Fatalf("%s: delivered %v, want %v", name, g, want)
		}
	}
	check("from start", events.SubscribeOptions{}, append(ids(first), ids(evs)...))
	check("from seq", events.SubscribeOptions{StartSeq: seq2}, ids(evs))
	check("from time", events.SubscribeOptions{StartTime: mid}, ids(evs))
	check("device filter", events.SubscribeOptions{Device: "pos-1", Types: []events.Type{events.TypeTxObserved}}, []events.ID{evs[0].ID, evs[3].ID})

	sub, err := s.Subscribe(ctx, events.SubscribeOptions{NewOnly: true})
	if err != nil {
		t.Fatalf("NewOnly: %v", err)
	}
	defer sub.Close()
	later := Traffic("acme", "pos-2", time.Now(), 2)
	mustAppend(t, s, later...)
	if g := collect(t, sub, 2); !slices.Equal(g, ids(later)) {
		t.Fatalf("NewOnly delivered %v, want %v", g, ids(later))
	}
}

func testRestart(t *testing.T, newLog NewLog) {
	log := newLog(t, Options{})
	s := log.Open(t)
	evs := Traffic("acme", "pos-1", time.Now().Add(-time.Minute), 500)
	mustAppend(t, s, evs...)
	s.Close()
	log.Restart(t)
	s = log.Open(t)
	defer s.Close()
	if got := ReadAll(t, s, events.Query{}); !slices.Equal(ids(got), ids(evs)) {
		t.Fatalf("after restart read %d events, appended %d", len(got), len(evs))
	}
	more := Traffic("acme", "pos-1", time.Now(), 3)
	mustAppend(t, s, more...)
	if got := ReadAll(t, s, events.Query{}); len(got) != len(evs)+3 {
		t.Fatalf("after restart and append read %d events, want %d", len(got), len(evs)+3)
	}
}

func testCrash(t *testing.T, newLog NewLog) {
	log := newLog(t, Options{})
	evs := Traffic("acme", "pos-1", time.Now().Add(-time.Minute), 3000)
	acked := log.CrashAppend(t, evs, 400)
	if len(acked) < 400 {
		t.Fatalf("only %d events acknowledged before the crash, want at least 400", len(acked))
	}
	s := log.Open(t)
	defer s.Close()
	got := ReadAll(t, s, events.Query{})
	have := map[events.ID]bool{}
	for i := range got {
		have[got[i].ID] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Fatalf("acknowledged event %s lost in the crash (%d acknowledged, %d read)", id, len(acked), len(got))
		}
	}
	if len(got) > len(evs) {
		t.Fatalf("read %d events, more than the %d appended", len(got), len(evs))
	}
	t.Logf("%d acknowledged before SIGKILL, %d in the log after restart", len(acked), len(got))
}

func testGarbage(t *testing.T, newLog NewLog) {
	log := newLog(t, Options{})
	s := log.Open(t)
	defer s.Close()
	a := Traffic("acme", "pos-1", time.Now().Add(-time.Minute), 3)
	b := Traffic("acme", "pos-1", time.Now(), 3)
	mustAppend(t, s, a...)
	subject := events.Subject("acme", events.TypeConnOpened, "pos-1", events.DefaultPartitions)
	for _, junk := range [][]byte{
		[]byte("not protobuf at all"),
		{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f},
		{0x0a, 0x02, 0x0a, 0x01},
		{},
	} {
		log.PublishRaw(t, subject, junk)
	}
	mustAppend(t, s, b...)
	want := append(ids(a), ids(b)...)
	if got := ReadAll(t, s, events.Query{}); !slices.Equal(ids(got), want) {
		t.Fatalf("read %v around garbage, want %v", ids(got), want)
	}
	if got := ReadAll(t, s, events.Query{Device: "pos-1", Types: []events.Type{events.TypeConnOpened}}); len(got) != 2 {
		t.Fatalf("filtered read around garbage: %d events, want 2", len(got))
	}
	checkSubscriptionSeesOnce(t, s, want)
}

func testCredentials(t *testing.T, newLog NewLog) {
	log := newLog(t, Options{})
	s := log.Open(t)
	s.Close()
	if err := log.DialWithoutCredentials(t); err == nil {
		t.Fatal("a client without credentials was let in")
	}
}

func testReadBreakClose(t *testing.T, newLog NewLog) {
	s := newLog(t, Options{}).Open(t)
	evs := Traffic("acme", "pos-1", time.Now().Add(-time.Minute), 3000)
	mustAppend(t, s, evs...)
	n := 0
	for _, err := range s.Read(ctxT(t), events.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 10 {
			break
		}
	}
	if n != 10 {
		t.Fatalf("read %d before break", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var gotErr error
	for _, err := range s.Read(ctx, events.Query{}) {
		if err != nil {
			gotErr = err
			break
		}
	}
	if !errors.Is(gotErr, context.Canceled) {
		t.Fatalf("Read with a cancelled context: err %v, want context.Canceled", gotErr)
	}
	s.Close()
	s.Close()
	for _, err := range s.Read(context.Background(), events.Query{}) {
		gotErr = err
		break
	}
	if !errors.Is(gotErr, events.ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", gotErr)
	}
	if err := s.Append(context.Background(), evs[0]); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
}
