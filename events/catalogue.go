package events

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Type is an event type's dotted name, e.g. "conn.opened".
type Type string

// The event catalogue (DESIGN.md, "Events").
const (
	TypeTenantCreated       Type = "tenant.created"
	TypeTokenAdded          Type = "token.added"
	TypeDeviceEnrolled      Type = "device.enrolled"
	TypeDeviceRevoked       Type = "device.revoked"
	TypeAuthFailed          Type = "auth.failed"
	TypeConnOpened          Type = "conn.opened"
	TypeConnClosed          Type = "conn.closed"
	TypeConnBlocked         Type = "conn.blocked"
	TypeTxObserved          Type = "tx.observed"
	TypeClockTick           Type = "clock.tick"
	TypeAlertRaised         Type = "alert.raised"
	TypeAlertUpdated        Type = "alert.updated"
	TypeAlertAcknowledged   Type = "alert.acknowledged"
	TypeAlertResolved       Type = "alert.resolved"
	TypeLabelRecorded       Type = "label.recorded"
	TypePolicyChanged       Type = "policy.changed"
	TypeInterventionApplied Type = "intervention.applied"
	TypeInterventionLifted  Type = "intervention.lifted"
	TypeModelDeployed       Type = "model.deployed"
	TypePipelineConfigured  Type = "pipeline.configured"
)

// Payload is the body of an event: one of the generated payload messages
// (*ConnOpened, *TxObserved, ...). Its type is the event's type.
type Payload interface {
	proto.Message
	EventType() Type
}

type typeInfo struct {
	typ   Type
	field protowire.Number // payload field number in Envelope
	kind  string           // subject token of the type's family (see Kind)
	new   func() Payload
}

// Kinds are the event families that name log subjects
// (halo.<tenant>.<kind>.<partition>). A family groups the types one producer
// writes together and one consumer reads together, so that events of one
// device keep their order inside a log message batch and type filters still
// select few subjects.
const (
	KindTraffic  = "traffic"  // conn.*, tx.observed, auth.failed: the edge
	KindIdentity = "identity" // tenant.created, token.added, device.*
	KindClock    = "clock"    // clock.tick
	KindAlert    = "alert"    // alert.*
	KindLabel    = "label"    // label.recorded
	KindControl  = "control"  // policy.changed, intervention.*, model.deployed, pipeline.configured
)

// catalogue lists every event type with its Envelope field number. The
// numbers must match events.proto; TestCatalogueMatchesProto checks them
// against the generated descriptor.
var catalogue = []typeInfo{
	{TypeTenantCreated, 16, KindIdentity, func() Payload { return new(TenantCreated) }},
	{TypeTokenAdded, 17, KindIdentity, func() Payload { return new(TokenAdded) }},
	{TypeDeviceEnrolled, 18, KindIdentity, func() Payload { return new(DeviceEnrolled) }},
	{TypeDeviceRevoked, 19, KindIdentity, func() Payload { return new(DeviceRevoked) }},
	{TypeAuthFailed, 20, KindTraffic, func() Payload { return new(AuthFailed) }},
	{TypeConnOpened, 21, KindTraffic, func() Payload { return new(ConnOpened) }},
	{TypeConnClosed, 22, KindTraffic, func() Payload { return new(ConnClosed) }},
	{TypeConnBlocked, 23, KindTraffic, func() Payload { return new(ConnBlocked) }},
	{TypeTxObserved, 24, KindTraffic, func() Payload { return new(TxObserved) }},
	{TypeClockTick, 25, KindClock, func() Payload { return new(ClockTick) }},
	{TypeAlertRaised, 26, KindAlert, func() Payload { return new(AlertRaised) }},
	{TypeAlertUpdated, 27, KindAlert, func() Payload { return new(AlertUpdated) }},
	{TypeAlertAcknowledged, 28, KindAlert, func() Payload { return new(AlertAcknowledged) }},
	{TypeAlertResolved, 29, KindAlert, func() Payload { return new(AlertResolved) }},
	{TypeLabelRecorded, 30, KindLabel, func() Payload { return new(LabelRecorded) }},
	{TypePolicyChanged, 31, KindControl, func() Payload { return new(PolicyChanged) }},
	{TypeInterventionApplied, 32, KindControl, func() Payload { return new(InterventionApplied) }},
	{TypeInterventionLifted, 33, KindControl, func() Payload { return new(InterventionLifted) }},
	{TypeModelDeployed, 34, KindControl, func() Payload { return new(ModelDeployed) }},
	{TypePipelineConfigured, 35, KindControl, func() Payload { return new(PipelineConfigured) }},
}

var (
	byType  = map[Type]*typeInfo{}
	byField = map[protowire.Number]*typeInfo{}
	byKind  = map[string][]Type{}
)

func init() {
	for i := range catalogue {
		ti := &catalogue[i]
		byType[ti.typ] = ti
		byField[ti.field] = ti
		byKind[ti.kind] = append(byKind[ti.kind], ti.typ)
	}
}

// Types returns every event type of the catalogue, in catalogue order.
func Types() []Type {
	out := make([]Type, len(catalogue))
	for i, ti := range catalogue {
		out[i] = ti.typ
	}
	return out
}

// Valid reports whether t is a type of the catalogue.
func (t Type) Valid() bool { _, ok := byType[t]; return ok }

// Kind is the type's family, the subject token of its log messages
// ("conn.opened" -> "traffic"); "" for an unknown type.
func (t Type) Kind() string {
	if ti, ok := byType[t]; ok {
		return ti.kind
	}
	return ""
}

// TypesOfKind lists the types of one family, in catalogue order.
func TypesOfKind(kind string) []Type { return append([]Type(nil), byKind[kind]...) }

// Kinds lists every family, in the order of their first type in the catalogue.
func Kinds() []string {
	var out []string
	seen := map[string]bool{}
	for _, ti := range catalogue {
		if !seen[ti.kind] {
			seen[ti.kind] = true
			out = append(out, ti.kind)
		}
	}
	return out
}

// NewPayload returns an empty payload of type t, or nil for an unknown type.
func NewPayload(t Type) Payload {
	if ti, ok := byType[t]; ok {
		return ti.new()
	}
	return nil
}

func (*TenantCreated) EventType() Type       { return TypeTenantCreated }
func (*TokenAdded) EventType() Type          { return TypeTokenAdded }
func (*DeviceEnrolled) EventType() Type      { return TypeDeviceEnrolled }
func (*DeviceRevoked) EventType() Type       { return TypeDeviceRevoked }
func (*AuthFailed) EventType() Type          { return TypeAuthFailed }
func (*ConnOpened) EventType() Type          { return TypeConnOpened }
func (*ConnClosed) EventType() Type          { return TypeConnClosed }
func (*ConnBlocked) EventType() Type         { return TypeConnBlocked }
func (*TxObserved) EventType() Type          { return TypeTxObserved }
func (*ClockTick) EventType() Type           { return TypeClockTick }
func (*AlertRaised) EventType() Type         { return TypeAlertRaised }
func (*AlertUpdated) EventType() Type        { return TypeAlertUpdated }
func (*AlertAcknowledged) EventType() Type   { return TypeAlertAcknowledged }
func (*AlertResolved) EventType() Type       { return TypeAlertResolved }
func (*LabelRecorded) EventType() Type       { return TypeLabelRecorded }
func (*PolicyChanged) EventType() Type       { return TypePolicyChanged }
func (*InterventionApplied) EventType() Type { return TypeInterventionApplied }
func (*InterventionLifted) EventType() Type  { return TypeInterventionLifted }
func (*ModelDeployed) EventType() Type       { return TypeModelDeployed }
func (*PipelineConfigured) EventType() Type  { return TypePipelineConfigured }
