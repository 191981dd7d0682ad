package events

import "errors"

var (
	// ErrInvalidTenant is returned for a tenant name that is not 1-64
	// letters, digits, '-' or '_' starting with a letter or digit.
	ErrInvalidTenant = errors.New("invalid tenant name")
	// ErrInvalidDevice is returned for a device id that is not 1-128
	// letters, digits, '.', '_', ':' or '-'.
	ErrInvalidDevice = errors.New("invalid device id")
	// ErrInvalidEvent is returned for an event that cannot be appended:
	// zero id, no payload, zero time, or a missing tenant.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrCorrupt is returned when bytes do not decode as an event or batch.
	ErrCorrupt = errors.New("corrupt event encoding")
	// ErrTooLarge is returned when an encoded event or batch exceeds
	// MaxEventSize or MaxBatchSize.
	ErrTooLarge = errors.New("event encoding too large")
	// ErrUnknownType is returned when an envelope carries a payload this
	// build does not know (written by a newer Halo). Readers skip and count it.
	ErrUnknownType = errors.New("unknown event type")
	// ErrClosed is returned by a Store or Subscription used after Close.
	ErrClosed = errors.New("event store closed")
	// ErrLeaseHeld is returned by a store's lease of a name that another
	// process holds (natsstore.Store.Lease).
	ErrLeaseHeld = errors.New("held by another process")
)
