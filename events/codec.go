package events

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

const (
	// MaxEventSize bounds one encoded event. Payloads are small; the bound
	// keeps a corrupt length prefix from asking for gigabytes.
	MaxEventSize = 256 << 10
	// MaxBatchSize bounds one encoded batch: NATS's default max_payload.
	MaxBatchSize = 1 << 20
)

// Envelope field numbers (events.proto). Payload fields start at 16.
const (
	fieldID       protowire.Number = 1
	fieldSchema   protowire.Number = 2
	fieldTenant   protowire.Number = 3
	fieldDevice   protowire.Number = 4
	fieldTime     protowire.Number = 5
	fieldRecorded protowire.Number = 6
	firstPayload  protowire.Number = 16
	batchEvents   protowire.Number = 1
)

var (
	marshalOpts   = proto.MarshalOptions{UseCachedSize: true}
	unmarshalOpts = proto.UnmarshalOptions{}
)

// Encode returns the protobuf encoding of e (an Envelope message).
func Encode(e *Event) ([]byte, error) { return AppendEncode(nil, e) }

// AppendEncode appends the protobuf encoding of e to b. The event is not
// validated beyond having an id and a known payload; Store.Append validates.
func AppendEncode(b []byte, e *Event) ([]byte, error) {
	if e.Payload == nil {
		return b, fmt.Errorf("%w %s: no payload", ErrInvalidEvent, e.ID)
	}
	ti, ok := byType[e.Payload.EventType()]
	if !ok {
		return b, fmt.Errorf("%w %q", ErrUnknownType, e.Payload.EventType())
	}
	start := len(b)
	b = protowire.AppendTag(b, fieldID, protowire.BytesType)
	b = protowire.AppendBytes(b, e.ID[:])
	schema := e.Schema
	if schema == 0 {
		schema = SchemaVersion
	}
	b = protowire.AppendTag(b, fieldSchema, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(schema))
	if e.Tenant != "" {
		b = protowire.AppendTag(b, fieldTenant, protowire.BytesType)
		b = protowire.AppendString(b, e.Tenant)
	}
	if e.Device != "" {
		b = protowire.AppendTag(b, fieldDevice, protowire.BytesType)
		b = protowire.AppendString(b, e.Device)
	}
	b = protowire.AppendTag(b, fieldTime, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, uint64(e.Time.UnixNano()))
	if !e.Recorded.IsZero() {
		b = protowire.AppendTag(b, fieldRecorded, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, uint64(e.Recorded.UnixNano()))
	}
	size := proto.Size(e.Payload)
	b = protowire.AppendTag(b, ti.field, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b, err := marshalOpts.MarshalAppend(b, e.Payload)
	if err != nil {
		return b[:start], fmt.Errorf("encoding %s payload of %s: %w", ti.typ, e.ID, err)
	}
	if len(b)-start > MaxEventSize {
		return b[:start], fmt.Errorf("%w: %s event %s is %d bytes, limit %d", ErrTooLarge, ti.typ, e.ID, len(b)-start, MaxEventSize)
	}
	return b, nil
}

// Decode parses one encoded envelope. Garbage, truncated or oversize input
// returns an error wrapping ErrCorrupt or ErrTooLarge, never panics; a payload
// of a type this build does not know returns ErrUnknownType with the
// envelope's other fields filled in.
func Decode(b []byte) (Event, error) {
	var e Event
	err := decodeInto(&e, b)
	return e, err
}

func decodeInto(e *Event, b []byte) error {
	if len(b) > MaxEventSize {
		return fmt.Errorf("%w: event of %d bytes, limit %d", ErrTooLarge, len(b), MaxEventSize)
	}
	var (
		payload   []byte
		payloadTI *typeInfo
		unknown   protowire.Number
		haveID    bool
		haveTime  bool
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: envelope tag: %v", ErrCorrupt, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == fieldID && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: id: %v", ErrCorrupt, protowire.ParseError(n))
			}
			if len(v) != len(e.ID) {
				return fmt.Errorf("%w: id of %d bytes, want 16", ErrCorrupt, len(v))
			}
			copy(e.ID[:], v)
			haveID = true
			b = b[n:]
		case num == fieldSchema && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("%w: schema: %v", ErrCorrupt, protowire.ParseError(n))
			}
			if v > 1<<16 {
				return fmt.Errorf("%w: schema version %d", ErrCorrupt, v)
			}
			e.Schema = uint32(v)
			b = b[n:]
		case (num == fieldTenant || num == fieldDevice) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: tenant/device: %v", ErrCorrupt, protowire.ParseError(n))
			}
			s := string(v)
			if num == fieldTenant {
				if err := ValidateTenant(s); err != nil {
					return fmt.Errorf("%w: %w", ErrCorrupt, err)
				}
				e.Tenant = s
			} else {
				if err := ValidateDevice(s); err != nil {
					return fmt.Errorf("%w: %w", ErrCorrupt, err)
				}
				e.Device = s
			}
			b = b[n:]
		case (num == fieldTime || num == fieldRecorded) && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return fmt.Errorf("%w: time: %v", ErrCorrupt, protowire.ParseError(n))
			}
			t := time.Unix(0, int64(v)).UTC()
			if num == fieldTime {
				e.Time = t
				haveTime = true
			} else {
				e.Recorded = t
			}
			b = b[n:]
		case num >= firstPayload && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: payload: %v", ErrCorrupt, protowire.ParseError(n))
			}
			if payloadTI != nil || unknown != 0 {
				return fmt.Errorf("%w: more than one payload", ErrCorrupt)
			}
			if ti, ok := byField[num]; ok {
				payloadTI, payload = ti, v
			} else {
				unknown = num
			}
			b = b[n:]
		default:
			// An envelope field from a newer schema: skip it.
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %v", ErrCorrupt, num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if !haveID || e.ID.IsZero() {
		return fmt.Errorf("%w: no id", ErrCorrupt)
	}
	if !haveTime {
		return fmt.Errorf("%w: event %s has no time", ErrCorrupt, e.ID)
	}
	if unknown != 0 {
		return fmt.Errorf("%w: payload field %d in event %s", ErrUnknownType, unknown, e.ID)
	}
	if payloadTI == nil {
		return fmt.Errorf("%w: event %s has no payload", ErrCorrupt, e.ID)
	}
	p := payloadTI.new()
	if err := unmarshalOpts.Unmarshal(payload, p); err != nil {
		return fmt.Errorf("%w: %s payload of %s: %v", ErrCorrupt, payloadTI.typ, e.ID, err)
	}
	e.Payload = p
	return nil
}

// AppendBatch appends e to b as one element of a Batch message.
func AppendBatch(b []byte, e *Event) ([]byte, error) {
	start := len(b)
	// Reserve a fixed 3-byte varint for the length (events are < 2^21 bytes)
	// and encode in place, so there is no second copy.
	b = protowire.AppendTag(b, batchEvents, protowire.BytesType)
	lenAt := len(b)
	b = append(b, 0, 0, 0)
	b, err := AppendEncode(b, e)
	if err != nil {
		return b[:start], err
	}
	n := len(b) - lenAt - 3
	b[lenAt] = byte(n) | 0x80
	b[lenAt+1] = byte(n>>7) | 0x80
	b[lenAt+2] = byte(n >> 14)
	return b, nil
}

// BatchOverhead is the bytes AppendBatch adds to an event's encoding.
const BatchOverhead = 4

// DecodeBatch parses a Batch message and appends its events to dst. Events
// of unknown types are skipped and counted in unknown; any other problem
// makes the whole batch corrupt (err wraps ErrCorrupt or ErrTooLarge) and no
// events are appended.
func DecodeBatch(dst []Event, b []byte) (out []Event, unknown int, err error) {
	if len(b) > MaxBatchSize {
		return dst, 0, fmt.Errorf("%w: batch of %d bytes, limit %d", ErrTooLarge, len(b), MaxBatchSize)
	}
	start := len(dst)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return dst[:start], 0, fmt.Errorf("%w: batch tag: %v", ErrCorrupt, protowire.ParseError(n))
		}
		b = b[n:]
		if num != batchEvents || typ != protowire.BytesType {
			return dst[:start], 0, fmt.Errorf("%w: batch field %d type %d", ErrCorrupt, num, typ)
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return dst[:start], 0, fmt.Errorf("%w: batch element: %v", ErrCorrupt, protowire.ParseError(n))
		}
		b = b[n:]
		dst = append(dst, Event{})
		if err := decodeInto(&dst[len(dst)-1], v); err != nil {
			dst = dst[:len(dst)-1]
			if isUnknown(err) {
				unknown++
				continue
			}
			return dst[:start], 0, err
		}
	}
	return dst, unknown, nil
}

func isUnknown(err error) bool { return errors.Is(err, ErrUnknownType) }
