package alerts

import "errors"

var (
	// ErrNotFound is returned for an alert id the tenant has no alert of
	// (another tenant's alert included).
	ErrNotFound = errors.New("no such alert")
	// ErrResolved is returned when acknowledging or resolving an alert
	// that is already resolved: a verdict is final.
	ErrResolved = errors.New("alert already resolved")
	// ErrBadVerdict is returned for a verdict other than true-positive,
	// false-positive or benign.
	ErrBadVerdict = errors.New("invalid verdict")
	// ErrBadCursor is returned for a list cursor that List did not make.
	ErrBadCursor = errors.New("invalid cursor")
	// ErrBadStatus is returned for a status other than open, acknowledged
	// or resolved.
	ErrBadStatus = errors.New("invalid status")
	// ErrBadSeverity is returned for a severity other than info, low,
	// medium, high or critical.
	ErrBadSeverity = errors.New("invalid severity")
)
