package sim

import "errors"

var (
	// ErrConfig is returned by New for an invalid Config.
	ErrConfig = errors.New("invalid simulator configuration")
	// ErrAttackSpec is returned by ParseAttacks for a malformed schedule.
	ErrAttackSpec = errors.New("invalid attack schedule")
	// ErrNoEdge is returned by Run when nothing answers at the edge's
	// address.
	ErrNoEdge = errors.New("no edge answers at the given address (is halo up or halo edge running?)")
	// ErrEdgeResolve is returned by Run when the edge cannot reach the
	// simulator's destinations by name.
	ErrEdgeResolve = errors.New("the edge does not resolve the simulator's domain")
)
