package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/halo-sec/halo/events"
)

// Actions a rule may take.
const (
	ActionNotify           = "notify"
	ActionBlockDestination = "block-destination"
	ActionBlockFingerprint = "block-fingerprint"
	ActionQuarantine       = "quarantine"
)

// Severities in increasing order; a rule's min_severity selects that and above.
var severities = []string{"info", "low", "medium", "high", "critical"}

// Document is one tenant's policy.
type Document struct {
	// Version increases with every change; set by Record.
	Version uint32 `yaml:"version,omitempty"`
	// ReplayShield: the edge refuses a request whose strict fingerprint
	// already got a 2xx response within the horizon.
	ReplayShield ReplayShield `yaml:"replay_shield"`
	// Quarantine: what a quarantined device may still reach.
	Quarantine Quarantine `yaml:"quarantine"`
	// Rules map detector and severity to actions; the first matching rule
	// wins.
	Rules []Rule `yaml:"rules"`
}

// ReplayShield configures the edge's in-line replay refusal.
type ReplayShield struct {
	// Enabled: default true.
	Enabled *bool `yaml:"enabled,omitempty"`
	// Methods the shield applies to; default [POST].
	Methods []string `yaml:"methods,omitempty"`
	// Horizon: how long a successful fingerprint is remembered; default 24h.
	Horizon Duration `yaml:"horizon,omitempty"`
}

// Quarantine configures quarantines.
type Quarantine struct {
	// Allow lists host globs ("updates.example.com", "*.mgmt.example.com")
	// and IPs or CIDRs a quarantined device may still reach.
	Allow []string `yaml:"allow"`
}

// Rule is one detector → action mapping.
type Rule struct {
	// Detector name, or "*" for any.
	Detector string `yaml:"detector"`
	// MinSeverity: info, low, medium, high, critical; default info.
	MinSeverity string `yaml:"min_severity,omitempty"`
	// Actions to take, in order; notify is implied.
	Actions []string `yaml:"actions"`
	// Expiry of the block or quarantine; default 1h.
	Expiry Duration `yaml:"expiry,omitempty"`
	// DryRun records the interventions without enforcing them.
	DryRun bool `yaml:"dry_run,omitempty"`
}

// Duration is a time.Duration written as "90s", "1h".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 90s, 15m, 24h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Default is the policy of a tenant that has recorded none: replay-attack
// blocks the fingerprint; scan, flood and beaconing at high severity
// quarantine the device for an hour; everything else notifies. The replay
// shield is on for POST with a 24 h horizon; the quarantine allow-list is
// empty.
func Default() Document {
	on := true
	return Document{
		ReplayShield: ReplayShield{Enabled: &on, Methods: []string{"POST"}, Horizon: Duration(24 * time.Hour)},
		Rules: []Rule{
			{Detector: "replay-attack", MinSeverity: "info", Actions: []string{ActionBlockFingerprint}, Expiry: Duration(24 * time.Hour)},
			{Detector: "scan", MinSeverity: "high", Actions: []string{ActionQuarantine}, Expiry: Duration(time.Hour)},
			{Detector: "flood", MinSeverity: "high", Actions: []string{ActionQuarantine}, Expiry: Duration(time.Hour)},
			{Detector: "beaconing", MinSeverity: "high", Actions: []string{ActionQuarantine}, Expiry: Duration(time.Hour)},
			{Detector: "*", MinSeverity: "info", Actions: []string{ActionNotify}, Expiry: Duration(time.Hour)},
		},
	}
}

// Parse reads a YAML policy strictly (unknown keys are errors), fills
// defaults, and validates it.
func Parse(b []byte) (Document, error) {
	var d Document
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) { // yaml's word for no document at all
			return Document{}, errors.New("policy: the document is empty (no YAML in it)")
		}
		return Document{}, fmt.Errorf("policy: %w", err)
	}
	d.setDefaults()
	if err := d.Validate(); err != nil {
		return Document{}, err
	}
	return d, nil
}

func (d *Document) setDefaults() {
	def := Default()
	if d.ReplayShield.Enabled == nil {
		d.ReplayShield.Enabled = def.ReplayShield.Enabled
	}
	if len(d.ReplayShield.Methods) == 0 {
		d.ReplayShield.Methods = def.ReplayShield.Methods
	}
	for i, m := range d.ReplayShield.Methods {
		d.ReplayShield.Methods[i] = strings.ToUpper(m)
	}
	if d.ReplayShield.Horizon == 0 {
		d.ReplayShield.Horizon = def.ReplayShield.Horizon
	}
	if d.Rules == nil {
		d.Rules = def.Rules
	}
	for i := range d.Rules {
		if d.Rules[i].MinSeverity == "" {
			d.Rules[i].MinSeverity = "info"
		}
		if d.Rules[i].Expiry == 0 {
			d.Rules[i].Expiry = Duration(time.Hour)
		}
	}
}

// Validate reports every problem of the document at once.
func (d *Document) Validate() error {
	var errs []error
	if h := time.Duration(d.ReplayShield.Horizon); h < 0 || h > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("replay_shield.horizon %v: must be between 0 and 720h", h))
	}
	for _, m := range d.ReplayShield.Methods {
		switch m {
		case "POST", "PUT", "PATCH", "DELETE", "GET":
		default:
			errs = append(errs, fmt.Errorf("replay_shield.methods: %q is not an HTTP method Halo shields", m))
		}
	}
	for i, a := range d.Quarantine.Allow {
		if _, err := parseAllow(a); err != nil {
			errs = append(errs, fmt.Errorf("quarantine.allow[%d]: %w", i, err))
		}
	}
	for i, r := range d.Rules {
		if r.Detector == "" {
			errs = append(errs, fmt.Errorf("rules[%d]: detector is required (a name or \"*\")", i))
		}
		if severityRank(r.MinSeverity) < 0 {
			errs = append(errs, fmt.Errorf("rules[%d]: min_severity %q: use one of %s", i, r.MinSeverity, strings.Join(severities, ", ")))
		}
		if len(r.Actions) == 0 {
			errs = append(errs, fmt.Errorf("rules[%d]: actions are required", i))
		}
		for _, a := range r.Actions {
			switch a {
			case ActionNotify, ActionBlockDestination, ActionBlockFingerprint, ActionQuarantine:
			default:
				errs = append(errs, fmt.Errorf("rules[%d]: action %q: use notify, block-destination, block-fingerprint or quarantine", i, a))
			}
		}
		if e := time.Duration(r.Expiry); e < 0 || e > 30*24*time.Hour {
			errs = append(errs, fmt.Errorf("rules[%d]: expiry %v: must be between 0 and 720h", i, e))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid policy: %w", errors.Join(errs...))
}

func severityRank(s string) int {
	for i, v := range severities {
		if v == s {
			return i
		}
	}
	return -1
}

// SeverityName maps an event severity to the policy's name for it.
func SeverityName(s events.Severity) string {
	if s <= 0 || int(s) > len(severities) {
		return "info"
	}
	return severities[s-1]
}

// RuleFor returns the first rule matching a detector at a severity.
func (d *Document) RuleFor(detector string, sev events.Severity) (Rule, bool) {
	rank := int(sev) - 1
	for i := range d.Rules {
		// By index: a range's value copied each rule (72 bytes) before
		// its detector was compared, and the emitting stage asks for
		// every alert it raises.
		if r := &d.Rules[i]; (r.Detector == "*" || r.Detector == detector) && rank >= severityRank(r.MinSeverity) {
			return *r, true
		}
	}
	return Rule{}, false
}

// ShieldApplies reports whether the replay shield covers a method.
func (d *Document) ShieldApplies(method string) bool {
	if d.ReplayShield.Enabled != nil && !*d.ReplayShield.Enabled {
		return false
	}
	for _, m := range d.ReplayShield.Methods {
		if strings.EqualFold(m, method) {
			return true
		}
	}
	return false
}

type allowEntry struct {
	glob   string
	prefix netip.Prefix
}

func parseAllow(s string) (allowEntry, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return allowEntry{}, errors.New("empty entry")
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return allowEntry{prefix: p.Masked()}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return allowEntry{prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	if _, err := path.Match(s, "x"); err != nil {
		return allowEntry{}, fmt.Errorf("%q is neither a host glob nor an IP/CIDR: %v", s, err)
	}
	return allowEntry{glob: s}, nil
}

// QuarantineAllows reports whether a quarantined device may reach host (and
// ip when known).
func (d *Document) QuarantineAllows(host string, ip netip.Addr) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, a := range d.Quarantine.Allow {
		e, err := parseAllow(a)
		if err != nil {
			continue
		}
		if e.prefix.IsValid() {
			if ip.IsValid() && e.prefix.Contains(ip.Unmap()) {
				return true
			}
			if hip, err := netip.ParseAddr(host); err == nil && e.prefix.Contains(hip.Unmap()) {
				return true
			}
			continue
		}
		if ok, _ := path.Match(e.glob, host); ok {
			return true
		}
	}
	return false
}

// Marshal renders the document as YAML.
func (d *Document) Marshal() ([]byte, error) { return yaml.Marshal(d) }

// Set is the fold of policy.changed: the policy in force per tenant. Safe
// for concurrent use.
type Set struct {
	mu   sync.RWMutex
	docs map[string]*Document
	seq  uint64
}

// NewSet returns a set where every tenant has the default policy.
func NewSet() *Set { return &Set{docs: map[string]*Document{}} }

// Load folds every policy.changed of the log.
func Load(ctx context.Context, store events.Store) (*Set, error) {
	s := NewSet()
	if err := events.FoldAll(ctx, store, []events.Type{events.TypePolicyChanged}, "policies", s.Apply); err != nil {
		return nil, err
	}
	return s, nil
}

// Follow applies policies appended after the set's last position until ctx
// ends.
func (s *Set) Follow(ctx context.Context, store events.Store) error {
	s.mu.RLock()
	start := s.seq + 1
	s.mu.RUnlock()
	return events.FollowFrom(ctx, store, []events.Type{events.TypePolicyChanged}, start, "policies", s.Apply)
}

// Apply folds one event; a document that does not parse is ignored (the
// recording side validates), other types too.
func (s *Set) Apply(ev *events.Event) {
	p, ok := ev.Payload.(*events.PolicyChanged)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Seq > s.seq {
		s.seq = ev.Seq
	}
	if !ok {
		return
	}
	d, err := Parse(p.Document)
	if err != nil {
		return
	}
	d.Version = p.Version
	s.docs[ev.Tenant] = &d
}

// For returns the policy in force for tenant (the default when none was
// recorded). The result must not be modified.
func (s *Set) For(tenant string) *Document {
	s.mu.RLock()
	d, ok := s.docs[tenant]
	s.mu.RUnlock()
	if ok {
		return d
	}
	return defaultDoc
}

// defaultDoc is the shared default policy For returns (not to be modified).
var defaultDoc = func() *Document { d := Default(); return &d }()

// Record validates a YAML document and records it as the tenant's policy,
// returning the new version.
func Record(ctx context.Context, store events.Store, set *Set, tenant string, yamlDoc []byte, actor string) (uint32, error) {
	if err := events.ValidateTenant(tenant); err != nil {
		return 0, err
	}
	d, err := Parse(yamlDoc)
	if err != nil {
		return 0, err
	}
	version := set.For(tenant).Version + 1
	d.Version = version
	sum := sha256.Sum256(yamlDoc)
	ev := events.New(tenant, "", &events.PolicyChanged{Version: version, Document: yamlDoc, Sha256: sum[:], Actor: actor})
	if err := store.Append(ctx, ev); err != nil {
		return 0, fmt.Errorf("recording the policy of %s: %w", tenant, err)
	}
	set.Apply(&ev)
	return version, nil
}
