package agent

import "errors"

var (
	// ErrConfig is returned by New for an invalid Config.
	ErrConfig = errors.New("invalid agent configuration")
	// ErrCertificate is returned by New when the device certificate or key
	// cannot be used: missing or unreadable file, key not matching the
	// certificate, certificate expired or not yet valid.
	ErrCertificate = errors.New("device certificate unusable")
	// ErrCA is returned by New when the CA file holds no CA certificate.
	ErrCA = errors.New("edge CA unusable")
	// ErrClosed is returned by Listen and Run after Shutdown.
	ErrClosed = errors.New("agent closed")

	// Internal: what the pool and local clients meet. Local clients get
	// them as HTTP answers (502 edge_unreachable or edge_tls_error, the
	// edge's 403), never as Go errors.
	errEdgeUnreachable = errors.New("edge unreachable")
	errRefused         = errors.New("edge refused the device certificate")
)
