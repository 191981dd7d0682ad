package window

import "errors"

var (
	// ErrInvalidConfig wraps every problem Config.Validate finds.
	ErrInvalidConfig = errors.New("window: invalid config")
	// ErrPartition is returned for a partition number outside [0, P).
	ErrPartition = errors.New("window: partition out of range")
	// ErrSchema is returned by FromBatch for a record batch that does not have
	// the window Schema or whose rows are not sorted by (tenant, device).
	ErrSchema = errors.New("window: record batch does not match the window schema")
)
