package intervention

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
)

// ErrEmptyMatch is returned for a block that would match everything.
var ErrEmptyMatch = errors.New("a block needs at least one of host, cidr, port or fingerprint")

// narrows refuses a block whose host glob and CIDR cover every host and
// address with nothing else to narrow them (a host glob "*" or "***", a
// CIDR 0.0.0.0/0): a typo away from cutting the tenant's every device off,
// which ErrEmptyMatch refuses when the fields are empty. With a port or a
// fingerprint they are a deliberate block of those everywhere.
func narrows(m Match) error {
	if m.Port != 0 || len(m.StrictFP) > 0 {
		return nil
	}
	all := m.HostGlob == "" || strings.Trim(m.HostGlob, "*?.") == ""
	allIPs := !m.CIDR.IsValid() || m.CIDR.Bits() == 0
	if !all || !allIPs {
		return nil
	}
	what := "host " + m.HostGlob
	if m.CIDR.IsValid() {
		what = "cidr " + m.CIDR.String()
		if m.HostGlob != "" {
			what = "host " + m.HostGlob + " and cidr " + m.CIDR.String()
		}
	}
	return fmt.Errorf("%w: %s matches every destination (to cut a device off, quarantine it)", ErrEmptyMatch, what)
}

// ErrNotFound is returned when lifting an intervention that is not in force.
var ErrNotFound = errors.New("no such intervention in force")

// Request describes a new intervention.
type Request struct {
	Kind    events.InterventionKind
	Tenant  string
	Device  string // required for a quarantine; empty block: tenant-wide
	Match   *events.Match
	Reason  string
	AlertID string
	Actor   string
	// Expires after this long; 0: until lifted.
	TTL    time.Duration
	DryRun bool
	// ID, when set, is the intervention id (derived ids make the
	// pipeline's interventions idempotent); otherwise a new one.
	ID string
	// Time stamps the event; now when zero.
	Time time.Time
}

// NewEvent validates r and returns its intervention.applied event.
func NewEvent(r Request) (events.Event, error) {
	if err := events.ValidateTenant(r.Tenant); err != nil {
		return events.Event{}, err
	}
	if r.Device != "" {
		if err := events.ValidateDevice(r.Device); err != nil {
			return events.Event{}, err
		}
	}
	switch r.Kind {
	case events.InterventionKind_INTERVENTION_KIND_BLOCK:
		m, err := ParseMatch(r.Match)
		if err != nil {
			return events.Event{}, err
		}
		if m.IsZero() {
			return events.Event{}, ErrEmptyMatch
		}
		if err := narrows(m); err != nil {
			return events.Event{}, err
		}
	case events.InterventionKind_INTERVENTION_KIND_QUARANTINE:
		if r.Device == "" {
			return events.Event{}, errors.New("a quarantine names a device")
		}
		r.Match = nil
	default:
		return events.Event{}, fmt.Errorf("intervention kind %v: use block or quarantine", r.Kind)
	}
	if r.TTL < 0 {
		return events.Event{}, fmt.Errorf("expiry %v is negative", r.TTL)
	}
	ev := events.New(r.Tenant, r.Device, nil)
	if !r.Time.IsZero() {
		ev.Time = r.Time.UTC()
	}
	if r.ID == "" {
		r.ID = "iv-" + ev.ID.String()
	}
	p := &events.InterventionApplied{InterventionId: r.ID, Kind: r.Kind, Match: r.Match, Reason: r.Reason, AlertId: r.AlertID, Actor: r.Actor, DryRun: r.DryRun}
	if r.TTL > 0 {
		p.Expires = ev.Time.Add(r.TTL).UnixNano()
	}
	ev.Payload = p
	return ev, nil
}

// Apply records a new intervention and returns its id.
func Apply(ctx context.Context, store events.Store, r Request) (string, error) {
	ev, err := NewEvent(r)
	if err != nil {
		return "", err
	}
	if err := store.Append(ctx, ev); err != nil {
		return "", fmt.Errorf("recording the intervention: %w", err)
	}
	return ev.Payload.(*events.InterventionApplied).InterventionId, nil
}

// Lift records the end of the intervention id, which must be in force.
func Lift(ctx context.Context, store events.Store, set *Set, id, reason, actor string) error {
	iv, ok := set.Get(id, time.Now())
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	ev := events.New(iv.Tenant, iv.Device, &events.InterventionLifted{InterventionId: id, Reason: reason, Actor: actor})
	if err := store.Append(ctx, ev); err != nil {
		return fmt.Errorf("lifting %s: %w", id, err)
	}
	set.Apply(&ev)
	return nil
}

// Release lifts every quarantine of a device and returns how many.
func Release(ctx context.Context, store events.Store, set *Set, tenant, device, reason, actor string) (int, error) {
	n := 0
	for _, iv := range set.Active(tenant, time.Now()) {
		if iv.Kind == events.InterventionKind_INTERVENTION_KIND_QUARANTINE && iv.Device == device {
			if err := Lift(ctx, store, set, iv.ID, reason, actor); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
