package events_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

func TestValidateTenant(t *testing.T) {
	cases := []struct {
		name  string
		valid bool
	}{
		{"acme", true},
		{"a", true},
		{"7", true},
		{"ACME", true},
		{"acme-corp_eu", true},
		{"0acme", true},
		{"acme-", true},
		{strings.Repeat("a", 64), true},

		{"", false},
		{strings.Repeat("a", 65), false},
		{"acme.eu", false},   // '.' separates subject tokens
		{"acme corp", false}, // space
		{"-acme", false},     // leading '-'
		{"_acme", false},     // leading '_' (and "_" is NoTenant)
		{"_", false},
		{"acmé", false}, // unicode
		{"аcme", false}, // Cyrillic 'а'
		{"acme*", false},
		{"acme>", false},
		{"acme\n", false},
		{"acme\x00", false},
		{"acme/eu", false},
		{"acme:eu", false},
	}
	for _, tc := range cases {
		err := events.ValidateTenant(tc.name)
		switch {
		case tc.valid && err != nil:
			t.Errorf("ValidateTenant(%q) = %v, want nil", tc.name, err)
		case !tc.valid && !errors.Is(err, events.ErrInvalidTenant):
			t.Errorf("ValidateTenant(%q) = %v, want ErrInvalidTenant", tc.name, err)
		}
	}
}

func TestValidateDevice(t *testing.T) {
	cases := []struct {
		id    string
		valid bool
	}{
		{"POS-00012", true},
		{"10.0.0.1", true},
		{"fe80::1", true},
		{"a.b_c:d-e", true},
		{"x", true},
		{"-leading-dash", true},
		{strings.Repeat("d", 128), true},

		{"", false},
		{strings.Repeat("d", 129), false},
		{"pos/1", false},
		{"pos 1", false},
		{"fe80::1%eth0", false},
		{"pos*", false},
		{"pos>", false},
		{"pös", false},
		{"pos\t1", false},
		{"pos\x00", false},
		{"[fe80::1]", false},
	}
	for _, tc := range cases {
		err := events.ValidateDevice(tc.id)
		switch {
		case tc.valid && err != nil:
			t.Errorf("ValidateDevice(%q) = %v, want nil", tc.id, err)
		case !tc.valid && !errors.Is(err, events.ErrInvalidDevice):
			t.Errorf("ValidateDevice(%q) = %v, want ErrInvalidDevice", tc.id, err)
		}
	}
}

func TestValidate(t *testing.T) {
	conn := sampleConnOpened()
	withEvent := func(mod func(*events.Event)) events.Event {
		e := conn
		mod(&e)
		return e
	}
	cases := []struct {
		name string
		e    events.Event
		want error // nil: valid
	}{
		{"conn.opened", conn, nil},
		{"no recorded time", withEvent(func(e *events.Event) { e.Recorded = time.Time{} }), nil},
		{"zero schema", withEvent(func(e *events.Event) { e.Schema = 0 }), nil},
		{"zero id", withEvent(func(e *events.Event) { e.ID = events.ID{} }), events.ErrInvalidEvent},
		{"no payload", withEvent(func(e *events.Event) { e.Payload = nil }), events.ErrInvalidEvent},
		{"zero time", withEvent(func(e *events.Event) { e.Time = time.Time{} }), events.ErrInvalidEvent},
		{"epoch", withEvent(func(e *events.Event) { e.Time = time.Unix(0, 0) }), events.ErrInvalidEvent},
		{"before 1970", withEvent(func(e *events.Event) { e.Time = time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC) }), events.ErrInvalidEvent},
		{"just after 1970", withEvent(func(e *events.Event) { e.Time = time.Unix(0, 1) }), nil},
		{"conn.opened without tenant", withEvent(func(e *events.Event) { e.Tenant = "" }), events.ErrInvalidEvent},
		{"conn.opened without device", withEvent(func(e *events.Event) { e.Device = "" }), events.ErrInvalidEvent},
		{"invalid tenant", withEvent(func(e *events.Event) { e.Tenant = "acme.eu" }), events.ErrInvalidTenant},
		{"invalid device", withEvent(func(e *events.Event) { e.Device = "pos/1" }), events.ErrInvalidDevice},

		{"auth.failed without tenant or device", withEvent(func(e *events.Event) {
			e.Tenant, e.Device, e.Payload = "", "", &events.AuthFailed{RemoteAddr: "198.51.100.7:1"}
		}), nil},
		{"auth.failed of a known tenant", withEvent(func(e *events.Event) {
			e.Payload = &events.AuthFailed{RemoteAddr: "198.51.100.7:1"}
		}), nil},
		{"auth.failed with an invalid tenant", withEvent(func(e *events.Event) {
			e.Tenant, e.Payload = "-x", &events.AuthFailed{}
		}), events.ErrInvalidTenant},
		{"clock.tick without tenant or device", withEvent(func(e *events.Event) {
			e.Tenant, e.Device, e.Payload = "", "", &events.ClockTick{Partition: 1, Partitions: 16}
		}), nil},
		{"tenant.created without device", withEvent(func(e *events.Event) {
			e.Device, e.Payload = "", &events.TenantCreated{DisplayName: "ACME"}
		}), nil},
		{"tenant.created without tenant", withEvent(func(e *events.Event) {
			e.Tenant, e.Device, e.Payload = "", "", &events.TenantCreated{DisplayName: "ACME"}
		}), events.ErrInvalidEvent},
		{"alert.raised without device", withEvent(func(e *events.Event) {
			e.Device, e.Payload = "", &events.AlertRaised{AlertId: "a"}
		}), nil},
		{"alert.raised without tenant", withEvent(func(e *events.Event) {
			e.Tenant, e.Payload = "", &events.AlertRaised{AlertId: "a"}
		}), events.ErrInvalidEvent},
	}
	// Every type that must name a device refuses an event without one;
	// only auth.failed and clock.tick may go without a tenant.
	deviceRequired := map[events.Type]bool{
		events.TypeDeviceEnrolled: true, events.TypeDeviceRevoked: true, events.TypeConnOpened: true,
		events.TypeConnClosed: true, events.TypeConnBlocked: true, events.TypeTxObserved: true,
	}
	tenantOptional := map[events.Type]bool{events.TypeAuthFailed: true, events.TypeClockTick: true, events.TypePipelineConfigured: true}
	for _, s := range sampleEvents() {
		typ := s.Type()
		noDevice := s
		noDevice.Device = ""
		var want error
		if deviceRequired[typ] {
			want = events.ErrInvalidEvent
		}
		cases = append(cases, struct {
			name string
			e    events.Event
			want error
		}{string(typ) + " without device", noDevice, want})
		noTenant := s
		noTenant.Tenant = ""
		want = events.ErrInvalidEvent
		if tenantOptional[typ] {
			want = nil
		}
		cases = append(cases, struct {
			name string
			e    events.Event
			want error
		}{string(typ) + " without tenant", noTenant, want})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	before := time.Now()
	p := &events.ConnClosed{ConnId: "c-1"}
	e := events.New("acme", "pos-1", p)
	if e.ID.IsZero() || e.ID.Time().Before(before.Add(-time.Second)) {
		t.Errorf("New: id %s is not a fresh time-ordered id", e.ID)
	}
	if e.Schema != events.SchemaVersion || e.Tenant != "acme" || e.Device != "pos-1" || e.Payload != p {
		t.Errorf("New: %+v", e)
	}
	if e.Time.Before(before) || e.Time.After(time.Now()) || e.Time.Location() != time.UTC {
		t.Errorf("New: time %v is not now in UTC", e.Time)
	}
	if !e.Recorded.IsZero() || e.Seq != 0 {
		t.Errorf("New: recorded %v, seq %d; want zero", e.Recorded, e.Seq)
	}
	if err := e.Validate(); err != nil {
		t.Errorf("New: %v", err)
	}
	if e.Type() != events.TypeConnClosed {
		t.Errorf("Type() = %q", e.Type())
	}
	if typ := (&events.Event{}).Type(); typ != "" {
		t.Errorf("Type() of an event without payload = %q, want empty", typ)
	}
}

func TestQueryMatch(t *testing.T) {
	t0 := sampleBase
	e := sampleConnOpened() // acme, POS-00012, conn.opened, at t0
	noPayload := e
	noPayload.Payload = nil
	cases := []struct {
		name string
		q    events.Query
		e    events.Event
		want bool
	}{
		{"zero query", events.Query{}, e, true},
		{"zero query, no payload", events.Query{}, noPayload, true},
		{"from equal (inclusive)", events.Query{From: t0}, e, true},
		{"from before", events.Query{From: t0.Add(-time.Nanosecond)}, e, true},
		{"from after", events.Query{From: t0.Add(time.Nanosecond)}, e, false},
		{"to equal (exclusive)", events.Query{To: t0}, e, false},
		{"to after", events.Query{To: t0.Add(time.Nanosecond)}, e, true},
		{"to before", events.Query{To: t0.Add(-time.Hour)}, e, false},
		{"range around", events.Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}, e, true},
		{"range before", events.Query{From: t0.Add(-2 * time.Hour), To: t0.Add(-time.Hour)}, e, false},
		{"other location, same instant", events.Query{From: t0.In(time.FixedZone("X", -7*3600)), To: t0.Add(time.Nanosecond).In(time.FixedZone("Y", 3600))}, e, true},
		{"tenant", events.Query{Tenant: "acme"}, e, true},
		{"other tenant", events.Query{Tenant: "globex"}, e, false},
		{"tenant is exact", events.Query{Tenant: "acm"}, e, false},
		{"device", events.Query{Device: "POS-00012"}, e, true},
		{"device is case-sensitive", events.Query{Device: "pos-00012"}, e, false},
		{"type", events.Query{Types: []events.Type{events.TypeConnOpened}}, e, true},
		{"one of types", events.Query{Types: []events.Type{events.TypeTxObserved, events.TypeConnOpened}}, e, true},
		{"other types", events.Query{Types: []events.Type{events.TypeTxObserved, events.TypeConnClosed}}, e, false},
		{"empty type list", events.Query{Types: []events.Type{}}, e, true},
		{"types, no payload", events.Query{Types: []events.Type{events.TypeConnOpened}}, noPayload, false},
		{"all fields", events.Query{From: t0, To: t0.Add(time.Second), Tenant: "acme", Device: "POS-00012", Types: []events.Type{events.TypeConnOpened}}, e, true},
		{"all fields but device", events.Query{From: t0, To: t0.Add(time.Second), Tenant: "acme", Device: "POS-1", Types: []events.Type{events.TypeConnOpened}}, e, false},
	}
	for _, tc := range cases {
		if got := tc.q.Match(&tc.e); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}

	// An installation-wide event has no tenant: a tenant query never sees it.
	tick := sampleEvents()[9]
	if tick.Type() != events.TypeClockTick {
		t.Fatalf("sample 9 is %s", tick.Type())
	}
	if q := (events.Query{Tenant: "acme"}); q.Match(&tick) {
		t.Error("a tenant query matched an event without tenant")
	}
}
