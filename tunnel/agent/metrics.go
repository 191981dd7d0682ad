package agent

import "sync/atomic"

// Metrics are the agent's counters, a snapshot taken by Agent.Metrics.
// Every local connection the agent did not carry is counted by why.
type Metrics struct {
	// Accepted local connections.
	Accepted uint64
	// Carried local connections: handed to an edge connection.
	Carried uint64
	// Active local connections being carried now.
	Active int64
	// WarmHits: carried connections that took a warm edge connection
	// instead of waiting for a handshake.
	WarmHits uint64
	// EdgeDials: completed TLS handshakes with the edge; EdgeResumed of
	// them resumed an earlier TLS session.
	EdgeDials   uint64
	EdgeResumed uint64
	// EdgeDialFailures: failed attempts to connect to the edge (network or
	// handshake), by the pool or for a local client.
	EdgeDialFailures uint64
	// Unreachable: local connections answered 502 because no edge
	// connection could be made.
	Unreachable uint64
	// Retried: first requests sent again on a new edge connection because
	// the edge closed the first one before answering; EdgeClosed: those
	// that could not be (not idempotent) and were answered 502.
	Retried    uint64
	EdgeClosed uint64
	// EdgeRefusals: local connections answered 403 because the edge
	// refused the device's certificate (passed through or answered from
	// the agent's memory of the refusal).
	EdgeRefusals uint64
	// RefusedMaxConns: local connections answered 503 over MaxConns.
	RefusedMaxConns uint64
	// BytesUp (app to edge) and BytesDown carried.
	BytesUp   uint64
	BytesDown uint64
	// CertReloads: renewed certificate files taken into use.
	CertReloads uint64
}

type counters struct {
	accepted, carried, warmHits, edgeDials, edgeResumed, edgeDialFailures atomic.Uint64
	unreachable, edgeRefusals, refusedMaxConns, bytesUp, bytesDown        atomic.Uint64
	certReloads, retried, edgeClosed                                      atomic.Uint64
	active                                                                atomic.Int64
}

// Metrics returns the agent's counters now.
func (a *Agent) Metrics() Metrics {
	m := &a.m
	return Metrics{
		Accepted: m.accepted.Load(), Carried: m.carried.Load(), Active: m.active.Load(), WarmHits: m.warmHits.Load(),
		EdgeDials: m.edgeDials.Load(), EdgeResumed: m.edgeResumed.Load(), EdgeDialFailures: m.edgeDialFailures.Load(),
		Unreachable: m.unreachable.Load(), EdgeRefusals: m.edgeRefusals.Load(), RefusedMaxConns: m.refusedMaxConns.Load(),
		BytesUp: m.bytesUp.Load(), BytesDown: m.bytesDown.Load(), CertReloads: m.certReloads.Load(),
		Retried: m.retried.Load(), EdgeClosed: m.edgeClosed.Load(),
	}
}
