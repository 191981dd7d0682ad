package replay

import (
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// TestSinceDropsWarmup: outputs before from go, and so do later updates of
// an alert raised during the warm-up; alerts raised in range keep theirs.
func TestSinceDropsWarmup(t *testing.T) {
	from := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	ev := func(at time.Duration, p events.Payload) events.Event {
		return events.Event{ID: events.NewID(), Tenant: "t", Device: "d", Time: from.Add(at), Payload: p}
	}
	outs := []events.Event{
		ev(-time.Hour, &events.AlertRaised{AlertId: "old"}),
		ev(time.Minute, &events.AlertUpdated{AlertId: "old"}),
		ev(2*time.Minute, &events.AlertRaised{AlertId: "new"}),
		ev(3*time.Minute, &events.AlertUpdated{AlertId: "new"}),
	}
	got := Since(outs, from)
	if len(got) != 2 || got[0].Payload.(*events.AlertRaised).AlertId != "new" || got[1].Payload.(*events.AlertUpdated).AlertId != "new" {
		t.Fatalf("Since kept %v", got)
	}
	if len(Since(outs, time.Time{})) != 4 {
		t.Fatal("zero from must keep everything")
	}
}

// TestCompareBaseline: matching ids count as both; the rest are added or
// missed, per detector too.
func TestCompareBaseline(t *testing.T) {
	at := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	raised := func(id, det string) events.Event {
		return events.Event{ID: events.NewID(), Tenant: "t", Device: "d", Time: at, Payload: &events.AlertRaised{AlertId: id, Detector: det}}
	}
	live := []events.Event{raised("a", "scan"), raised("b", "scan"), raised("c", "flood")}
	cand := []events.Event{raised("a", "scan"), raised("c", "flood"), raised("d", "beaconing"), {Time: at, Payload: &events.AlertUpdated{AlertId: "a"}}}
	d := CompareBaseline(live, cand)
	if d.Live != 3 || d.Candidate != 3 || d.Both != 2 || len(d.Added) != 1 || d.Added[0].ID != "d" || len(d.Missed) != 1 || d.Missed[0].ID != "b" {
		t.Fatalf("diff %+v", d)
	}
	if s := d.ByDet["scan"]; s != (BaselineDet{Live: 2, Candidate: 1, Both: 1, Missed: 1}) {
		t.Fatalf("scan %+v", s)
	}
}

// TestLiveWindow: the live pipeline's window is the most common window of
// its alerts (the shorter on a tie); none without alerts that have one.
func TestLiveWindow(t *testing.T) {
	at := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	raised := func(d time.Duration) events.Event {
		p := &events.AlertRaised{AlertId: "a"}
		if d > 0 {
			p.WindowStart, p.WindowEnd = at.UnixNano(), at.Add(d).UnixNano()
		}
		return events.Event{Time: at, Payload: p}
	}
	for _, c := range []struct {
		live []events.Event
		want time.Duration
		ok   bool
	}{
		{nil, 0, false},
		{[]events.Event{raised(0), {Time: at, Payload: &events.AlertUpdated{AlertId: "a"}}}, 0, false},
		{[]events.Event{raised(10 * time.Second), raised(time.Minute), raised(10 * time.Second), raised(0)}, 10 * time.Second, true},
		{[]events.Event{raised(time.Minute), raised(10 * time.Second)}, 10 * time.Second, true},
	} {
		if got, ok := LiveWindow(c.live); got != c.want || ok != c.ok {
			t.Errorf("LiveWindow of %d events: %v %v, want %v %v", len(c.live), got, ok, c.want, c.ok)
		}
	}
}

// TestRangeTally: events before From are warm-up; in range, labels, live
// alerts and device-days are gathered.
func TestRangeTally(t *testing.T) {
	from := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	ev := func(at time.Duration, dev string, p events.Payload) events.Event {
		return events.Event{ID: events.NewID(), Tenant: "t", Device: dev, Time: from.Add(at), Payload: p}
	}
	tally := &RangeTally{From: from, KeepLive: true}
	live := ev(time.Minute, "a", &events.AlertRaised{AlertId: "live"})
	label := ev(2*time.Minute, "a", &events.LabelRecorded{Label: "Malicious", Detail: "C&C", Malicious: true})
	for _, e := range []events.Event{
		ev(-time.Hour, "a", &events.AlertRaised{AlertId: "warm"}),
		ev(-time.Minute, "a", &events.LabelRecorded{Label: "Malicious", Malicious: true}),
		live,
		label,
		ev(3*time.Minute, "b", &events.ConnOpened{ConnId: "c"}),
		ev(25*time.Hour, "b", &events.ConnOpened{ConnId: "d"}),
		ev(4*time.Minute, "", &events.AuthFailed{}),
		label, // repeats in the log: taken once
		live,
	} {
		tally.Add(&e)
	}
	if tally.WarmUp != 2 || tally.InRange != 7 {
		t.Fatalf("warm-up %d, in range %d", tally.WarmUp, tally.InRange)
	}
	if len(tally.Live) != 1 || tally.Live[0].Payload.(*events.AlertRaised).AlertId != "live" {
		t.Fatalf("live alerts %v", tally.Live)
	}
	if len(tally.Labels) != 1 || tally.Labels[0].Detail != "C&C" || !tally.Labels[0].Start.Equal(from.Add(2*time.Minute)) {
		t.Fatalf("labels %+v", tally.Labels)
	}
	if tally.DeviceDays() != 3 { // a on day 2, b on days 2 and 3
		t.Fatalf("device-days %d", tally.DeviceDays())
	}
}
