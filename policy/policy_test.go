package policy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

func TestParseAndDefaults(t *testing.T) {
	d, err := Parse([]byte(`
replay_shield:
  methods: [post, put]
quarantine:
  allow: ["updates.example.com", "*.mgmt.example.com", "10.1.0.0/16", "192.0.2.9"]
rules:
  - detector: scan
    min_severity: high
    actions: [quarantine]
    expiry: 30m
  - detector: "*"
    actions: [notify]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !d.ShieldApplies("POST") || !d.ShieldApplies("put") || d.ShieldApplies("GET") {
		t.Error("shield methods")
	}
	if time.Duration(d.ReplayShield.Horizon) != 24*time.Hour {
		t.Errorf("default horizon %v", time.Duration(d.ReplayShield.Horizon))
	}
	if r, ok := d.RuleFor("scan", events.Severity_SEVERITY_CRITICAL); !ok || r.Actions[0] != ActionQuarantine || time.Duration(r.Expiry) != 30*time.Minute {
		t.Errorf("scan critical → %+v", r)
	}
	if r, _ := d.RuleFor("scan", events.Severity_SEVERITY_MEDIUM); r.Actions[0] != ActionNotify {
		t.Errorf("scan medium → %+v", r)
	}
	allow := []struct {
		host string
		ip   string
		want bool
	}{
		{"updates.example.com", "", true},
		{"UPDATES.example.com.", "", true},
		{"a.mgmt.example.com", "", true},
		{"evil.example", "", false},
		{"x", "10.1.2.3", true},
		{"10.1.2.3", "", true},
		{"x", "10.2.0.1", false},
		{"x", "192.0.2.9", true},
	}
	for _, a := range allow {
		var ip netip.Addr
		if a.ip != "" {
			ip = netip.MustParseAddr(a.ip)
		}
		if got := d.QuarantineAllows(a.host, ip); got != a.want {
			t.Errorf("QuarantineAllows(%s, %s) = %v", a.host, a.ip, got)
		}
	}
}

func TestDefault(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if r, _ := d.RuleFor("replay-attack", events.Severity_SEVERITY_CRITICAL); r.Actions[0] != ActionBlockFingerprint {
		t.Errorf("replay-attack → %+v", r)
	}
	if r, _ := d.RuleFor("flood", events.Severity_SEVERITY_HIGH); r.Actions[0] != ActionQuarantine || time.Duration(r.Expiry) != time.Hour {
		t.Errorf("flood high → %+v", r)
	}
	if r, _ := d.RuleFor("beaconing", events.Severity_SEVERITY_MEDIUM); r.Actions[0] != ActionNotify {
		t.Errorf("beaconing medium → %+v", r)
	}
	if !d.ShieldApplies("POST") || d.QuarantineAllows("anything", netip.Addr{}) {
		t.Error("default shield/allow-list")
	}
}

func TestParseErrorsAreCollected(t *testing.T) {
	_, err := Parse([]byte(`
replay_shield:
  horizon: 9999h
  methods: [BREW]
quarantine:
  allow: ["[bad"]
rules:
  - detector: ""
    min_severity: severe
    actions: [explode]
`))
	if err == nil {
		t.Fatal("bad policy accepted")
	}
	for _, want := range []string{"horizon", "BREW", "allow[0]", "detector is required", "severe", "explode"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if _, err := Parse([]byte("rules: []\nbogus: 1\n")); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := Parse([]byte("replay_shield: {horizon: soon}")); err == nil || !strings.Contains(err.Error(), "not a duration") {
		t.Errorf("bad duration: %v", err)
	}
	for _, empty := range []string{"", "\n  \n", "# only a comment\n"} {
		if _, err := Parse([]byte(empty)); err == nil || !strings.Contains(err.Error(), "the document is empty") {
			t.Errorf("empty document %q: %v", empty, err)
		}
	}
}

func TestRecordAndFold(t *testing.T) {
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	set := NewSet()
	v, err := Record(ctx, store, set, "acme", []byte("quarantine: {allow: [updates.example.com]}\n"), "test")
	if err != nil || v != 1 {
		t.Fatalf("Record: %d %v", v, err)
	}
	v, err = Record(ctx, store, set, "acme", []byte("quarantine: {allow: [updates.example.com, 10.0.0.0/8]}\nreplay_shield: {enabled: false}\n"), "test")
	if err != nil || v != 2 {
		t.Fatalf("Record: %d %v", v, err)
	}
	if _, err := Record(ctx, store, set, "acme", []byte("rules: [{detector: x, actions: [nope]}]"), "test"); err == nil {
		t.Fatal("invalid policy recorded")
	}
	loaded, err := Load(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	d := loaded.For("acme")
	if d.Version != 2 || d.ShieldApplies("POST") || !d.QuarantineAllows("x", netip.MustParseAddr("10.3.3.3")) {
		t.Fatalf("folded policy %+v", d)
	}
	if g := loaded.For("globex"); g.Version != 0 || !g.ShieldApplies("POST") {
		t.Fatal("other tenants keep the default")
	}
}
