package pipeline

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/policy"
)

// decide makes the interventions the plain version (decidePlain, which
// builds every action's request before seeing whether it applies) makes:
// on random findings (with or without a fingerprint, destination host or
// IP, device; odd device names the request's validation refuses) and rules
// of every action, repeated or unknown.
func TestDecideIsPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	actions := []string{policy.ActionNotify, policy.ActionBlockFingerprint, policy.ActionBlockDestination, policy.ActionQuarantine, "unknown"}
	at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	made := 0
	for i := range 10000 {
		var rule policy.Rule
		rule.Detector = []string{"*", "scan", "beaconing"}[r.IntN(3)]
		rule.MinSeverity = []string{"", "low", "high"}[r.IntN(3)]
		for range r.IntN(4) {
			rule.Actions = append(rule.Actions, actions[r.IntN(len(actions))])
		}
		rule.Expiry = policy.Duration(time.Duration(r.IntN(3)) * time.Hour)
		rule.DryRun = r.IntN(2) == 0
		doc := &policy.Document{Rules: []policy.Rule{rule}}
		f := detect.Finding{
			Detector: []string{"scan", "beaconing", "inbound"}[r.IntN(3)], Tenant: "acme", Device: []string{"", "pos-1", "pos 2!"}[r.IntN(3)],
			Severity: events.Severity(1 + r.IntN(5)), Score: r.Float64(), Key: "k", Time: at.Add(time.Duration(i) * time.Second),
			Summary: fmt.Sprint("summary ", i),
		}
		if r.IntN(2) == 0 {
			f.Fingerprint = []byte{byte(i), 1, 2}
		}
		switch r.IntN(3) {
		case 0:
			f.DstHost = "C2.Example"
		case 1:
			f.DstIP = "203.0.113.7"
		}
		f.DstPort = uint32(r.IntN(2) * 443)
		id := fmt.Sprint("al-", i)
		got, want := decide(nil, doc, &f, id, nil), decidePlain(nil, doc, &f, id)
		if len(got) != len(want) {
			t.Fatalf("finding %d, rule %+v: %d interventions, want %d", i, rule, len(got), len(want))
		}
		for j := range want {
			if got[j].ID != want[j].ID || got[j].Tenant != want[j].Tenant || got[j].Device != want[j].Device || !got[j].Time.Equal(want[j].Time) ||
				!proto.Equal(got[j].Payload.(*events.InterventionApplied), want[j].Payload.(*events.InterventionApplied)) {
				t.Fatalf("finding %d, rule %+v: intervention %d is %v, want %v", i, rule, j, got[j], want[j])
			}
		}
		made += len(want)
	}
	if made < 1000 {
		t.Fatalf("%d interventions made: the test checks little", made)
	}
}

// decidePlain is decide as it was: every action's request built first.
func decidePlain(out []events.Event, doc *policy.Document, f *detect.Finding, alertID string) []events.Event {
	rule, ok := doc.RuleFor(f.Detector, f.Severity)
	if !ok {
		return out
	}
	f.Describe() // the reasons quote the summary
	for _, action := range rule.Actions {
		req := intervention.Request{
			Tenant: f.Tenant, AlertID: alertID, Actor: "pipeline", TTL: time.Duration(rule.Expiry), DryRun: rule.DryRun,
			Reason: f.Detector + ": " + f.Summary, Time: f.Time,
			ID: prefixedID("iv-", events.DerivedID("intervention", alertID, action)),
		}
		switch action {
		case policy.ActionBlockFingerprint:
			if len(f.Fingerprint) == 0 {
				continue
			}
			req.Kind = events.InterventionKind_INTERVENTION_KIND_BLOCK
			req.Match = &events.Match{StrictFp: f.Fingerprint}
		case policy.ActionBlockDestination:
			if f.DstHost == "" && f.DstIP == "" {
				continue
			}
			req.Kind = events.InterventionKind_INTERVENTION_KIND_BLOCK
			req.Match = &events.Match{HostGlob: strings.ToLower(f.DstHost), Port: f.DstPort}
			if f.DstHost == "" {
				req.Match.Cidr = f.DstIP
			}
			req.Device = f.Device
		case policy.ActionQuarantine:
			if f.Device == "" {
				continue
			}
			req.Kind = events.InterventionKind_INTERVENTION_KIND_QUARANTINE
			req.Device = f.Device
		default:
			continue
		}
		ev, err := intervention.NewEvent(req)
		if err != nil {
			continue
		}
		ev.ID = events.DerivedID("intervention.applied", req.ID)
		out = append(out, ev)
	}
	return out
}
