package events

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// SchemaVersion is the payload schema version this build writes.
const SchemaVersion = 1

// Event is one immutable fact in the log: an envelope around a payload.
//
// The payload's type is the event's type. Events are values; the payload is a
// pointer and must not be modified once the event has been appended.
type Event struct {
	// ID identifies the event; appending the same ID twice stores it once.
	ID ID
	// Schema is the payload schema version (SchemaVersion when written by
	// this build; set by Encode when zero).
	Schema uint32
	// Tenant owns the event; empty only for installation-wide events
	// (auth.failed from an unknown client, clock.tick).
	Tenant string
	// Device the event is about; empty when it is about no single device.
	Device string
	// Time is the event time: when it happened, at the edge or in the
	// source log. Time ranges, windows and ordering use it.
	Time time.Time
	// Recorded is when the log accepted the event; zero before that.
	Recorded time.Time
	// Seq is the event's position in the log (the stream sequence of the
	// message that carries it) when it was read from a Store; 0 otherwise.
	// Several events of one batch share a Seq.
	Seq uint64
	// Payload is the body; its EventType is the event's type.
	Payload Payload
}

// Type returns the event's type, or "" when it has no payload.
func (e *Event) Type() Type {
	if e.Payload == nil {
		return ""
	}
	return e.Payload.EventType()
}

// New returns an event with a fresh time-ordered ID, stamped now.
func New(tenant, device string, p Payload) Event {
	return Event{ID: NewID(), Schema: SchemaVersion, Tenant: tenant, Device: device, Time: time.Now().UTC(), Payload: p}
}

// tenantOptional lists the types whose events may have no tenant.
var tenantOptional = map[Type]bool{TypeAuthFailed: true, TypeClockTick: true, TypePipelineConfigured: true}

// deviceRequired lists the types whose events must name a device.
var deviceRequired = map[Type]bool{
	TypeDeviceEnrolled: true, TypeDeviceRevoked: true,
	TypeConnOpened: true, TypeConnClosed: true, TypeConnBlocked: true, TypeTxObserved: true,
}

// Validate checks what every stored event must satisfy. Its errors wrap
// ErrInvalidEvent, ErrInvalidTenant or ErrInvalidDevice.
func (e *Event) Validate() error {
	if e.ID.IsZero() {
		return fmt.Errorf("%w: zero id", ErrInvalidEvent)
	}
	if e.Payload == nil {
		return fmt.Errorf("%w %s: no payload", ErrInvalidEvent, e.ID)
	}
	t := e.Payload.EventType()
	if e.Time.Year() < 1970 || e.Time.Year() > 2261 || e.Time.UnixNano() <= 0 {
		return fmt.Errorf("%w %s (%s): event time %v is not between 1970 and 2261", ErrInvalidEvent, e.ID, t, e.Time)
	}
	if e.Tenant == "" {
		if !tenantOptional[t] {
			return fmt.Errorf("%w %s: %s needs a tenant", ErrInvalidEvent, e.ID, t)
		}
	} else if err := ValidateTenant(e.Tenant); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	if e.Device == "" {
		if deviceRequired[t] {
			return fmt.Errorf("%w %s: %s needs a device", ErrInvalidEvent, e.ID, t)
		}
	} else if err := ValidateDevice(e.Device); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	return nil
}

// ValidateTenant checks a tenant name: 1-64 characters, letters, digits, '-'
// and '_', starting with a letter or digit. Tenant names are NATS subject
// tokens, so nothing else is allowed.
func ValidateTenant(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("%w %q: must be 1-64 characters", ErrInvalidTenant, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return fmt.Errorf("%w %q: character %q at %d (use letters, digits, '-' and '_', starting with a letter or digit)", ErrInvalidTenant, name, c, i)
		}
	}
	return nil
}

// ValidateDevice checks a device id: 1-128 characters of letters, digits and
// '.', '_', ':', '-' (serial numbers, and IPv4/IPv6 addresses for imported
// history).
func ValidateDevice(id string) error {
	if len(id) == 0 || len(id) > 128 {
		return fmt.Errorf("%w %q: must be 1-128 characters", ErrInvalidDevice, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '-':
		default:
			return fmt.Errorf("%w %q: character %q at %d (use letters, digits, '.', '_', ':' and '-')", ErrInvalidDevice, id, c, i)
		}
	}
	return nil
}

// SortKey is what events are ordered by: event time in Unix nanoseconds
// (years 1678 to 2262), id, then I, the position an event was added or
// read at, so that equal events keep their order.
type SortKey struct {
	T  int64
	ID ID
	I  int
}

// KeyOf is ev's SortKey at position i.
func KeyOf(ev *Event, i int) SortKey { return SortKey{ev.Time.UnixNano(), ev.ID, i} }

// Compare orders k and o by time, id, then position.
func (k *SortKey) Compare(o *SortKey) int {
	if k.T != o.T {
		return cmp.Compare(k.T, o.T)
	}
	if c := k.ID.Compare(o.ID); c != 0 {
		return c
	}
	return cmp.Compare(k.I, o.I)
}

// CompareTime orders a and b by (event time, id): SortByTime's order,
// for callers that sort or merge events themselves.
func CompareTime(a, b *Event) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return a.ID.Compare(b.ID)
}

// SortByTime orders events by (event time, id), stably. It sorts small
// keys and then moves each event once: sorting the events themselves moved
// every one of them O(log n) times.
func SortByTime(evs []Event) {
	if len(evs) < 2 {
		return
	}
	keys := make([]SortKey, len(evs))
	sorted := true
	for i := range evs {
		keys[i] = KeyOf(&evs[i], i)
		if i > 0 && sorted {
			sorted = keys[i-1].Compare(&keys[i]) < 0
		}
	}
	if sorted {
		return
	}
	slices.SortFunc(keys, func(a, b SortKey) int { return a.Compare(&b) })
	// Apply the permutation in place, cycle by cycle: position j takes the
	// event at keys[j].I; done positions are marked with I = -1.
	for j := range keys {
		if keys[j].I < 0 || keys[j].I == j {
			continue
		}
		tmp := evs[j]
		k := j
		for {
			src := keys[k].I
			keys[k].I = -1
			if src == j {
				evs[k] = tmp
				break
			}
			evs[k] = evs[src]
			k = src
		}
	}
}
