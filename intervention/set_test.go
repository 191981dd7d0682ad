package intervention

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

func apply(t *testing.T, s *Set, seq uint64, r Request) Intervention {
	t.Helper()
	ev, err := NewEvent(r)
	if err != nil {
		t.Fatal(err)
	}
	ev.Seq = seq
	s.Apply(&ev)
	iv, ok := s.Get(ev.Payload.(*events.InterventionApplied).InterventionId, ev.Time)
	if !ok {
		t.Fatal("applied intervention not found")
	}
	return iv
}

const block = events.InterventionKind_INTERVENTION_KIND_BLOCK

func TestBlockMatching(t *testing.T) {
	s := NewSet()
	now := time.Now()
	host := apply(t, s, 1, Request{Kind: block, Tenant: "acme", Match: &events.Match{HostGlob: "*.Evil.example"}, Reason: "C&C"})
	apply(t, s, 2, Request{Kind: block, Tenant: "acme", Device: "pos-2", Match: &events.Match{Cidr: "10.9.0.0/16", Port: 8080}})
	fp := apply(t, s, 3, Request{Kind: block, Tenant: "acme", Match: &events.Match{StrictFp: []byte{1, 2, 3}}})
	apply(t, s, 4, Request{Kind: block, Tenant: "acme", Match: &events.Match{HostGlob: "dry.example"}, DryRun: true})
	apply(t, s, 5, Request{Kind: block, Tenant: "acme", Match: &events.Match{HostGlob: "old.example"}, Time: now.Add(-2 * time.Hour), TTL: time.Hour})
	ip := netip.MustParseAddr
	cases := []struct {
		tenant, device string
		target         Target
		want           string
	}{
		{"acme", "pos-1", Target{Host: "c2.evil.example", Port: 443}, host.ID},
		{"acme", "pos-1", Target{Host: "EVIL.example.", Port: 443}, host.ID},
		{"acme", "pos-1", Target{Host: "notevil.example", Port: 443}, ""},
		{"globex", "pos-1", Target{Host: "c2.evil.example"}, ""},
		{"acme", "pos-2", Target{Host: "x", IP: ip("10.9.1.1"), Port: 8080}, "device"},
		{"acme", "pos-2", Target{Host: "x", IP: ip("::ffff:10.9.1.1"), Port: 8080}, "device"},
		{"acme", "pos-2", Target{Host: "x", IP: ip("10.9.1.1"), Port: 443}, ""},
		{"acme", "pos-1", Target{Host: "x", IP: ip("10.9.1.1"), Port: 8080}, ""},
		{"acme", "pos-2", Target{Host: "x", Port: 8080}, ""},
		{"acme", "pos-9", Target{Host: "pay.example", StrictFP: []byte{1, 2, 3}}, fp.ID},
		{"acme", "pos-9", Target{Host: "pay.example", StrictFP: []byte{1, 2}}, ""},
		{"acme", "pos-1", Target{Host: "dry.example"}, ""},
		{"acme", "pos-1", Target{Host: "old.example"}, ""},
	}
	for i, c := range cases {
		iv, ok := s.Block(c.tenant, c.device, c.target, now)
		switch {
		case c.want == "" && ok:
			t.Errorf("case %d: blocked by %s (%s)", i, iv.ID, iv.Match)
		case c.want == "device" && (!ok || iv.Device != "pos-2"):
			t.Errorf("case %d: want the device block, got %v %+v", i, ok, iv)
		case c.want != "" && c.want != "device" && (!ok || iv.ID != c.want):
			t.Errorf("case %d: want %s, got %v %s", i, c.want, ok, iv.ID)
		}
	}
	if n := len(s.Active("acme", now)); n != 4 {
		t.Fatalf("%d active, want 4 (expired excluded, dry-run included)", n)
	}
}

func TestNewEventValidation(t *testing.T) {
	bad := []Request{
		{Kind: block, Tenant: "acme"},
		{Kind: block, Tenant: "acme", Match: &events.Match{}},
		{Kind: block, Tenant: "acme", Match: &events.Match{Cidr: "10.0.0.300/8"}},
		{Kind: block, Tenant: "acme", Match: &events.Match{HostGlob: "[x"}},
		{Kind: block, Tenant: "acme", Match: &events.Match{Port: 70000}},
		{Kind: block, Tenant: "a.b", Match: &events.Match{Port: 1}},
		{Kind: events.InterventionKind_INTERVENTION_KIND_QUARANTINE, Tenant: "acme"},
		{Kind: 0, Tenant: "acme", Device: "pos-1"},
		{Kind: block, Tenant: "acme", Match: &events.Match{Port: 1}, TTL: -time.Second},
	}
	for i, r := range bad {
		if _, err := NewEvent(r); err == nil {
			t.Errorf("request %d accepted: %+v", i, r)
		}
	}
	if _, err := NewEvent(bad[1]); !errors.Is(err, ErrEmptyMatch) {
		t.Errorf("empty match: %v", err)
	}
	// Matches of every destination, refused as the empty one is; with a
	// port or a fingerprint, a deliberate block of those everywhere.
	for _, m := range []*events.Match{{HostGlob: "*"}, {HostGlob: "***"}, {HostGlob: "*.*"}, {Cidr: "0.0.0.0/0"}, {Cidr: "::/0"},
		{HostGlob: "*", Cidr: "::/0"}} {
		_, err := NewEvent(Request{Kind: block, Tenant: "acme", Match: m})
		if !errors.Is(err, ErrEmptyMatch) || !strings.Contains(err.Error(), "matches every destination") {
			t.Errorf("block of %v: %v, want ErrEmptyMatch saying it matches every destination", m, err)
		}
	}
	for _, m := range []*events.Match{{HostGlob: "*", Port: 25}, {Cidr: "0.0.0.0/0", Port: 23}, {HostGlob: "*.evil.example"},
		{Cidr: "10.0.0.0/8"}, {HostGlob: "*", Cidr: "192.0.2.0/24"}} {
		if _, err := NewEvent(Request{Kind: block, Tenant: "acme", Match: m}); err != nil {
			t.Errorf("block of %v: %v", m, err)
		}
	}
	ev, err := NewEvent(Request{Kind: block, Tenant: "acme", Match: &events.Match{Cidr: "192.0.2.7"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestQuarantineAndReleaseThroughTheLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	follower := NewSet()
	changes := make(chan bool, 10)
	follower.OnChange(func(_ Intervention, applied bool) { changes <- applied })
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go follower.Follow(fctx, store)

	q := events.InterventionKind_INTERVENTION_KIND_QUARANTINE
	id1, err := Apply(ctx, store, Request{Kind: q, Tenant: "acme", Device: "pos-1", Reason: "scan", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, store, Request{Kind: q, Tenant: "acme", Device: "pos-1", Reason: "again"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case a := <-changes:
			if !a {
				t.Fatal("lift before apply")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the follower did not see the quarantine")
		}
	}
	if iv, ok := follower.Quarantine("acme", "pos-1", time.Now()); !ok || iv.ID != id1 {
		t.Fatalf("quarantine %+v %v", iv, ok)
	}
	set, err := Load(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Release(ctx, store, set, "acme", "pos-1", "cleared", "test")
	if err != nil || n != 2 {
		t.Fatalf("released %d, %v", n, err)
	}
	for i := 0; i < 2; i++ {
		select {
		case a := <-changes:
			if a {
				t.Fatal("unexpected apply")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the follower did not see the release")
		}
	}
	if _, ok := follower.Quarantine("acme", "pos-1", time.Now()); ok {
		t.Fatal("still quarantined after release")
	}
	if err := Lift(ctx, store, set, id1, "", "test"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lifting a lifted intervention: %v", err)
	}
	// A fresh fold of the log agrees.
	again, _ := Load(ctx, store)
	if len(again.Active("", time.Now())) != 0 {
		t.Fatal("the log still has interventions in force")
	}
}
