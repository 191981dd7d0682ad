package alerts

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// raised returns an alert.raised event of tenant/device at t0+offset.
func raised(tenant, device, id, detector string, sev events.Severity, offset time.Duration) events.Event {
	ev := events.New(tenant, device, &events.AlertRaised{
		AlertId: id, Detector: detector, Severity: sev, Score: 0.5,
		WindowStart: t0.Add(offset - time.Minute).UnixNano(), WindowEnd: t0.Add(offset).UnixNano(),
		Evidence: [][]byte{idBytes(events.NewID())}, Summary: "s " + id, Explanation: "e", Key: "k",
		Features: []*events.Feature{{Name: "bytes", Value: 10, Baseline: 1}},
	})
	ev.Time = t0.Add(offset)
	return ev
}

func idBytes(id events.ID) []byte { return id[:] }

func TestFold(t *testing.T) {
	s := NewSet()
	var changes []Alert
	s.OnChange(func(a Alert) { changes = append(changes, a) })
	r := raised("acme", "pos-1", "al-1", "replay-attack", events.Severity_SEVERITY_HIGH, 0)
	r.Seq = 3
	s.Apply(&r)
	s.Apply(&r) // a repeat changes nothing
	ev2 := events.NewID()
	up := events.New("acme", "pos-1", &events.AlertUpdated{AlertId: "al-1", Count: 3, LastSeen: t0.Add(time.Minute).UnixNano(), Score: 0.9, Evidence: [][]byte{idBytes(ev2)}})
	s.Apply(&up)
	s.Apply(&up)
	// Another tenant naming acme's alert changes nothing.
	foreign := events.New("globex", "pos-1", &events.AlertAcknowledged{AlertId: "al-1", Actor: "mallory"})
	s.Apply(&foreign)

	a, ok := s.Get("acme", "al-1")
	if !ok {
		t.Fatal("alert not found")
	}
	if a.Count != 3 || a.Score != 0.9 || !a.LastSeen.Equal(t0.Add(time.Minute)) || len(a.Evidence) != 2 || a.Status != StatusOpen || a.Seq != 3 {
		t.Fatalf("after update: %+v", a)
	}
	if a.Severity != events.Severity_SEVERITY_HIGH || a.Detector != "replay-attack" || len(a.Features) != 1 || a.WindowEnd != t0 {
		t.Fatalf("raised fields: %+v", a)
	}
	if _, ok := s.Get("globex", "al-1"); ok {
		t.Fatal("another tenant sees the alert")
	}
	if got := s.OpenCounts("acme"); got["pos-1"] != 1 {
		t.Fatalf("open counts %v", got)
	}
	ack := events.New("acme", "pos-1", &events.AlertAcknowledged{AlertId: "al-1", Actor: "op", Note: "looking"})
	s.Apply(&ack)
	res := events.New("acme", "pos-1", &events.AlertResolved{AlertId: "al-1", Verdict: events.Verdict_VERDICT_BENIGN, Actor: "op"})
	s.Apply(&res)
	s.Apply(&ack) // an acknowledgement read back after the resolution does not reopen it
	s.Apply(&res)
	a, _ = s.Get("acme", "al-1")
	if a.Status != StatusResolved || a.Verdict != VerdictBenign || a.AcknowledgedBy != "op" || a.Note != "looking" {
		t.Fatalf("after resolve: %+v", a)
	}
	if got := s.OpenCounts("acme"); len(got) != 0 {
		t.Fatalf("open counts after resolve %v", got)
	}
	if len(changes) != 4 {
		t.Fatalf("%d changes, want 4 (raised, updated, acknowledged, resolved)", len(changes))
	}
}

func TestListPagination(t *testing.T) {
	s := NewSet()
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 500
	for i := range n {
		// Many alerts share a time, so the id must break ties.
		off := time.Duration(rng.IntN(50)) * time.Second
		sev := events.Severity(1 + rng.IntN(5))
		dev := fmt.Sprintf("pos-%d", rng.IntN(4))
		ev := raised("acme", dev, fmt.Sprintf("al-%04d", i), []string{"replay-attack", "anomaly"}[i%2], sev, off)
		s.Apply(&ev)
	}
	other := raised("globex", "pos-1", "al-globex", "anomaly", events.Severity_SEVERITY_HIGH, 0)
	s.Apply(&other)

	filters := []Filter{
		{},
		{Severity: []events.Severity{events.Severity_SEVERITY_HIGH, events.Severity_SEVERITY_CRITICAL}},
		{Device: "pos-2", Detector: "anomaly"},
		{Since: t0.Add(10 * time.Second), Until: t0.Add(40 * time.Second)},
		{Status: []Status{StatusOpen}, Device: "pos-3"},
	}
	for fi, f := range filters {
		var want []Alert
		all, next, err := s.List("acme", Filter{Limit: n + 1, Status: f.Status, Severity: f.Severity, Device: f.Device, Detector: f.Detector, Since: f.Since, Until: f.Until})
		if err != nil || next != "" {
			t.Fatalf("filter %d: full list: %v %q", fi, err, next)
		}
		want = all
		for i := 1; i < len(want); i++ {
			if !want[i].before(want[i-1].Time, want[i-1].ID) {
				t.Fatalf("filter %d: not newest first at %d", fi, i)
			}
		}
		for _, limit := range []int{1, 7, 100} {
			f.Limit, f.Cursor = limit, ""
			var got []Alert
			seen := map[string]bool{}
			for pages := 0; ; pages++ {
				page, next, err := s.List("acme", f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit {
					t.Fatalf("page of %d > limit %d", len(page), limit)
				}
				for _, a := range page {
					if seen[a.ID] {
						t.Fatalf("filter %d limit %d: %s twice", fi, limit, a.ID)
					}
					seen[a.ID] = true
					if a.Tenant != "acme" {
						t.Fatalf("foreign alert %s", a.ID)
					}
				}
				got = append(got, page...)
				if next == "" {
					break
				}
				f.Cursor = next
				if pages > n {
					t.Fatal("cursor walk does not end")
				}
			}
			if len(got) != len(want) {
				t.Fatalf("filter %d limit %d: walked %d alerts, want %d", fi, limit, len(got), len(want))
			}
			for i := range got {
				if got[i].ID != want[i].ID {
					t.Fatalf("filter %d limit %d: order differs at %d", fi, limit, i)
				}
			}
		}
	}
	if _, _, err := s.List("acme", Filter{Cursor: "garbage!"}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
	if page, _, _ := s.List("nobody", Filter{}); len(page) != 0 {
		t.Fatal("unknown tenant lists alerts")
	}
}

func TestParse(t *testing.T) {
	if _, err := ParseVerdict("maybe"); !errors.Is(err, ErrBadVerdict) {
		t.Fatal(err)
	}
	if _, err := ParseStatus("closed"); !errors.Is(err, ErrBadStatus) {
		t.Fatal(err)
	}
	if s, err := ParseSeverity("High"); err != nil || s != events.Severity_SEVERITY_HIGH || SeverityName(s) != "high" {
		t.Fatal(s, err)
	}
	if _, err := ParseSeverity("urgent"); !errors.Is(err, ErrBadSeverity) {
		t.Fatal(err)
	}
}

func openStore(t *testing.T) events.Store {
	t.Helper()
	store, err := natsstore.Open(context.Background(), natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// TestOpsOnTheLog acknowledges and resolves alerts through a real log and
// checks the recorded events, the label, and that Load and Follow agree.
func TestOpsOnTheLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := openStore(t)
	r1 := raised("acme", "pos-1", "al-1", "replay-attack", events.Severity_SEVERITY_CRITICAL, 0)
	r2 := raised("acme", "pos-2", "al-2", "anomaly", events.Severity_SEVERITY_LOW, time.Second)
	rb := raised("globex", "pos-9", "al-b", "anomaly", events.Severity_SEVERITY_LOW, time.Second)
	if err := store.Append(ctx, r1, r2, rb); err != nil {
		t.Fatal(err)
	}
	set, err := Load(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	follower := NewSet()
	changed := make(chan Alert, 100)
	follower.OnChange(func(a Alert) { changed <- a })
	go follower.Follow(ctx, store)

	if _, err := Ack(ctx, store, set, "globex", "al-1", "mallory", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ack of another tenant's alert: %v", err)
	}
	if _, err := Resolve(ctx, store, set, "acme", "al-1", "maybe", "op", ""); !errors.Is(err, ErrBadVerdict) {
		t.Fatalf("bad verdict: %v", err)
	}
	a, err := Ack(ctx, store, set, "acme", "al-2", "token:abc", "on it")
	if err != nil || a.Status != StatusAcknowledged {
		t.Fatalf("ack: %+v %v", a, err)
	}
	a, err = Resolve(ctx, store, set, "acme", "al-1", VerdictTruePositive, "token:abc", "confirmed")
	if err != nil || a.Status != StatusResolved || a.Verdict != VerdictTruePositive {
		t.Fatalf("resolve: %+v %v", a, err)
	}
	if _, err := Resolve(ctx, store, set, "acme", "al-1", VerdictBenign, "x", ""); !errors.Is(err, ErrResolved) {
		t.Fatalf("second resolve: %v", err)
	}
	if _, err := Ack(ctx, store, set, "acme", "al-1", "x", ""); !errors.Is(err, ErrResolved) {
		t.Fatalf("ack of a resolved alert: %v", err)
	}

	var labels []*events.LabelRecorded
	var labelEv events.Event
	for ev, err := range store.Read(ctx, events.Query{Types: []events.Type{events.TypeLabelRecorded}}) {
		if err != nil {
			t.Fatal(err)
		}
		labels = append(labels, ev.Payload.(*events.LabelRecorded))
		labelEv = ev
	}
	if len(labels) != 1 {
		t.Fatalf("%d labels, want 1", len(labels))
	}
	l := labels[0]
	if l.Label != "true-positive" || !l.Malicious || l.Source != events.LabelSource_LABEL_SOURCE_VERDICT || l.AlertId != "al-1" ||
		l.Start != t0.Add(-time.Minute).UnixNano() || l.End != t0.UnixNano() || len(l.EventIds) != 1 ||
		labelEv.Tenant != "acme" || labelEv.Device != "pos-1" {
		t.Fatalf("label %+v on %s/%s", l, labelEv.Tenant, labelEv.Device)
	}

	// The follower sees the same state through the log.
	deadline := time.After(10 * time.Second)
	for {
		a1, _ := follower.Get("acme", "al-1")
		a2, _ := follower.Get("acme", "al-2")
		if a1.Status == StatusResolved && a2.Status == StatusAcknowledged {
			if a1.ResolvedBy != "token:abc" || a2.Note != "on it" {
				t.Fatalf("followed: %+v %+v", a1, a2)
			}
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("follower did not catch up")
		}
	}
	reloaded, err := Load(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := reloaded.List("acme", Filter{})
	want, _, _ := set.List("acme", Filter{})
	if len(got) != 2 || len(want) != 2 {
		t.Fatalf("lists %d %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || got[i].Status != want[i].Status || got[i].Verdict != want[i].Verdict {
			t.Fatalf("reload differs at %d: %+v vs %+v", i, got[i], want[i])
		}
	}
}
