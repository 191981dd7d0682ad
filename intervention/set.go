package intervention

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/halo-sec/halo/events"
)

// Intervention is one block or quarantine.
type Intervention struct {
	ID      string
	Kind    events.InterventionKind
	Tenant  string
	Device  string // empty: the whole tenant
	Match   Match
	Reason  string
	AlertID string
	Actor   string
	Applied time.Time
	Expires time.Time // zero: until lifted
	DryRun  bool
	Seq     uint64 // log position of intervention.applied
}

// Match is what a block matches; zero fields match anything.
type Match struct {
	HostGlob string
	CIDR     netip.Prefix
	Port     uint32
	StrictFP []byte
}

// IsZero reports whether the match would match everything.
func (m Match) IsZero() bool {
	return m.HostGlob == "" && !m.CIDR.IsValid() && m.Port == 0 && len(m.StrictFP) == 0
}

func (m Match) String() string {
	var parts []string
	if m.HostGlob != "" {
		parts = append(parts, "host "+m.HostGlob)
	}
	if m.CIDR.IsValid() {
		parts = append(parts, "cidr "+m.CIDR.String())
	}
	if m.Port != 0 {
		parts = append(parts, fmt.Sprintf("port %d", m.Port))
	}
	if len(m.StrictFP) > 0 {
		parts = append(parts, fmt.Sprintf("fingerprint %x", m.StrictFP))
	}
	return strings.Join(parts, " and ")
}

// ParseMatch checks and converts an event's match.
func ParseMatch(m *events.Match) (Match, error) {
	var out Match
	if m == nil {
		return out, nil
	}
	out.HostGlob = strings.ToLower(strings.TrimSuffix(m.HostGlob, "."))
	if out.HostGlob != "" {
		if _, err := path.Match(out.HostGlob, "x"); err != nil {
			return out, fmt.Errorf("host glob %q: %w", m.HostGlob, err)
		}
	}
	if m.Cidr != "" {
		p, err := netip.ParsePrefix(m.Cidr)
		if err != nil {
			a, aerr := netip.ParseAddr(m.Cidr)
			if aerr != nil {
				return out, fmt.Errorf("cidr %q: %w", m.Cidr, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out.CIDR = p.Masked()
	}
	if m.Port > 65535 {
		return out, fmt.Errorf("port %d out of range", m.Port)
	}
	out.Port = m.Port
	out.StrictFP = slices.Clone(m.StrictFp)
	return out, nil
}

// Target is what a device tries to reach.
type Target struct {
	Host     string     // as the device named it (lower-case, no port)
	IP       netip.Addr // when known (literal or resolved)
	Port     uint32
	StrictFP []byte // for a parsed HTTP request
}

// HostMatches reports whether host matches glob: path.Match on lower-case
// names, where "*.example.com" also matches "example.com" itself.
func HostMatches(glob, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if ok, _ := path.Match(glob, host); ok {
		return true
	}
	if rest, ok := strings.CutPrefix(glob, "*."); ok && host == rest {
		return true
	}
	return false
}

// Matches reports whether the match covers target. A field the target does
// not know (no IP yet, no fingerprint) does not match a rule that needs it.
func (m *Match) Matches(t Target) bool {
	if m.HostGlob != "" && !HostMatches(m.HostGlob, t.Host) {
		return false
	}
	if m.CIDR.IsValid() && (!t.IP.IsValid() || !m.CIDR.Contains(t.IP.Unmap())) {
		return false
	}
	if m.Port != 0 && m.Port != t.Port {
		return false
	}
	if len(m.StrictFP) > 0 && !bytes.Equal(m.StrictFP, t.StrictFP) {
		return false
	}
	return true
}

// Types are the event types the set folds.
var Types = []events.Type{events.TypeInterventionApplied, events.TypeInterventionLifted}

// Set is the fold of interventions. It is safe for concurrent use.
type Set struct {
	mu       sync.RWMutex
	byID     map[string]*Intervention
	seq      uint64
	onChange []func(Intervention, bool)
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{byID: map[string]*Intervention{}} }

// Load folds every intervention event of the log.
func Load(ctx context.Context, store events.Store) (*Set, error) {
	s := NewSet()
	if err := events.FoldAll(ctx, store, Types, "interventions", s.Apply); err != nil {
		return nil, err
	}
	return s, nil
}

// Follow applies interventions appended after the set's last position
// until ctx ends.
func (s *Set) Follow(ctx context.Context, store events.Store) error {
	s.mu.RLock()
	start := s.seq + 1
	s.mu.RUnlock()
	return events.FollowFrom(ctx, store, Types, start, "interventions", s.Apply)
}

// OnChange registers fn, called outside the lock after each applied (true)
// or lifted (false) intervention from now on.
func (s *Set) OnChange(fn func(iv Intervention, applied bool)) {
	s.mu.Lock()
	s.onChange = append(s.onChange, fn)
	s.mu.Unlock()
}

// Apply folds one event; other types are ignored. An intervention.applied
// with an invalid match is ignored (it cannot have come from Halo's own
// writers, which validate).
func (s *Set) Apply(ev *events.Event) {
	var changed *Intervention
	var applied bool
	s.mu.Lock()
	if ev.Seq > s.seq {
		s.seq = ev.Seq
	}
	switch p := ev.Payload.(type) {
	case *events.InterventionApplied:
		m, err := ParseMatch(p.Match)
		if err != nil || p.InterventionId == "" {
			break
		}
		iv := &Intervention{ID: p.InterventionId, Kind: p.Kind, Tenant: ev.Tenant, Device: ev.Device, Match: m,
			Reason: p.Reason, AlertID: p.AlertId, Actor: p.Actor, Applied: ev.Time, DryRun: p.DryRun, Seq: ev.Seq}
		if p.Expires != 0 {
			iv.Expires = time.Unix(0, p.Expires).UTC()
		}
		s.byID[iv.ID] = iv
		changed, applied = iv, true
	case *events.InterventionLifted:
		if iv, ok := s.byID[p.InterventionId]; ok && iv.Tenant == ev.Tenant {
			delete(s.byID, p.InterventionId)
			changed = iv
		}
	}
	hooks := s.onChange
	s.mu.Unlock()
	if changed != nil {
		for _, fn := range hooks {
			fn(*changed, applied)
		}
	}
}

// Seq is the log position of the last event applied.
func (s *Set) Seq() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.seq
}

func (iv *Intervention) activeAt(now time.Time) bool {
	return iv.Expires.IsZero() || now.Before(iv.Expires)
}

// Get returns an intervention by id if it is in force (or dry-run) at now.
func (s *Set) Get(id string, now time.Time) (Intervention, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	iv, ok := s.byID[id]
	if !ok || !iv.activeAt(now) {
		return Intervention{}, false
	}
	return *iv, true
}

// Active lists the interventions in force at now for tenant (every tenant
// when empty), dry-run ones included, ordered by log position.
func (s *Set) Active(tenant string, now time.Time) []Intervention {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Intervention
	for _, iv := range s.byID {
		if (tenant == "" || iv.Tenant == tenant) && iv.activeAt(now) {
			out = append(out, *iv)
		}
	}
	slices.SortFunc(out, func(a, b Intervention) int {
		if a.Seq != b.Seq {
			return int(a.Seq) - int(b.Seq)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Block returns the first enforced block (oldest first) that covers a device
// of tenant reaching target at now.
func (s *Set) Block(tenant, device string, target Target, now time.Time) (Intervention, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best *Intervention
	for _, iv := range s.byID {
		if iv.Kind != events.InterventionKind_INTERVENTION_KIND_BLOCK || iv.DryRun || iv.Tenant != tenant ||
			(iv.Device != "" && iv.Device != device) || !iv.activeAt(now) || !iv.Match.Matches(target) {
			continue
		}
		if best == nil || iv.Seq < best.Seq || (iv.Seq == best.Seq && iv.ID < best.ID) {
			best = iv
		}
	}
	if best == nil {
		return Intervention{}, false
	}
	return *best, true
}

// Quarantine returns the enforced quarantine of a device at now, if any.
func (s *Set) Quarantine(tenant, device string, now time.Time) (Intervention, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best *Intervention
	for _, iv := range s.byID {
		if iv.Kind != events.InterventionKind_INTERVENTION_KIND_QUARANTINE || iv.DryRun || iv.Tenant != tenant ||
			iv.Device != device || !iv.activeAt(now) {
			continue
		}
		if best == nil || iv.Seq < best.Seq {
			best = iv
		}
	}
	if best == nil {
		return Intervention{}, false
	}
	return *best, true
}
