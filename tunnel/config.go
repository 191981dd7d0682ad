package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/policy"
	"github.com/halo-sec/halo/tunnel/fingerprint"
)

// Emitter takes the edge's events without blocking on the network
// (events/publish.Publisher). Emit fails only when the event cannot be kept.
type Emitter interface {
	Emit(events.Event) error
}

// LogHealth tells the edge whether the event log is keeping up
// (events/publish.Publisher).
type LogHealth interface {
	// Spooling is true while the log is unreachable and events go to disk.
	Spooling() bool
	// SpoolFull is true when events can no longer be kept.
	SpoolFull() bool
}

// Config configures an Edge. Fields marked required have no default.
type Config struct {
	// Addr to listen on. Default 127.0.0.1:8443.
	Addr string
	// Hosts are the names and IPs in the edge's certificate. Default: the
	// host of Addr (when not a wildcard), localhost, 127.0.0.1 and ::1.
	Hosts []string

	// CA signs the edge's certificate and verifies devices. Required.
	CA *identity.CA
	// Registry decides which device certificates are valid. Required.
	Registry *identity.Registry
	// Interventions in force. Required.
	Interventions *intervention.Set
	// Policies per tenant (replay shield, quarantine allow-list). Required.
	Policies *policy.Set
	// Keyer returns the fingerprint keyer of a tenant. Required.
	Keyer func(tenant string) (*fingerprint.Keyer, error)
	// Emitter receives every event. Required.
	Emitter Emitter
	// Health of the log, for failing closed and refusing work when the
	// spool is full. Optional.
	Health LogHealth
	// Metrics, registered by the caller. Optional (a private set).
	Metrics *Metrics

	// FailClosed refuses new connections while the event log is
	// unreachable (default: keep serving and spool events).
	FailClosed bool
	// StaticHosts resolves these names to these addresses instead of
	// DNS (like curl --resolve); for private deployments and the simulator.
	// A key "*.example" covers every name under example (not example
	// itself); an exact name wins over a wildcard.
	StaticHosts map[string]netip.Addr
	// Resolve, when set, replaces DNS for names not in StaticHosts.
	Resolve func(ctx context.Context, host string) (netip.Addr, error)

	// HandshakeTimeout bounds the device's TLS handshake. Default 10s.
	HandshakeTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	// Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a device connection idle between requests.
	// Default 120s.
	IdleTimeout time.Duration
	// TunnelIdleTimeout closes a CONNECT stream with no traffic either
	// way. Default 10m.
	TunnelIdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers. Default 16 KiB.
	MaxHeaderBytes int
	// MaxConnsPerDevice bounds a device's concurrent connections.
	// Default 256.
	MaxConnsPerDevice int
	// MaxFingerprintBody: larger request bodies are forwarded but
	// fingerprinted as oversize. Default 64 KiB.
	MaxFingerprintBody int
	// DialTimeout bounds connecting to a destination. Default 10s.
	DialTimeout time.Duration
	// ResponseTimeout bounds waiting for a destination's response headers.
	// Default 60s.
	ResponseTimeout time.Duration
	// PeekTimeout bounds waiting for a tunnel's first client bytes (to
	// fingerprint a TLS ClientHello) before conn.opened is recorded without
	// one. Default 2s.
	PeekTimeout time.Duration
	// ShutdownGrace lets open connections finish on shutdown. Default 10s.
	ShutdownGrace time.Duration
	// ReplayInflightWait bounds how long a request waits for an identical
	// request in flight to finish before the shield decides. Default 30s.
	ReplayInflightWait time.Duration
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8443"
	}
	if len(c.Hosts) == 0 {
		c.Hosts = []string{"localhost", "127.0.0.1", "::1"}
		if h, _, err := net.SplitHostPort(c.Addr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
			c.Hosts = append(c.Hosts, h)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HandshakeTimeout, 10*time.Second)
	def(&c.ReadHeaderTimeout, 10*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	def(&c.TunnelIdleTimeout, 10*time.Minute)
	def(&c.DialTimeout, 10*time.Second)
	def(&c.ResponseTimeout, 60*time.Second)
	def(&c.PeekTimeout, 2*time.Second)
	def(&c.ShutdownGrace, 10*time.Second)
	def(&c.ReplayInflightWait, 30*time.Second)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 16 << 10
	}
	if c.MaxConnsPerDevice == 0 {
		c.MaxConnsPerDevice = 256
	}
	if c.MaxFingerprintBody == 0 {
		c.MaxFingerprintBody = 64 << 10
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("address %q: %w", c.Addr, err))
	}
	if c.CA == nil {
		errs = append(errs, errors.New("a CA is required"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("an identity registry is required"))
	}
	if c.Interventions == nil {
		errs = append(errs, errors.New("an intervention set is required"))
	}
	if c.Policies == nil {
		errs = append(errs, errors.New("a policy set is required"))
	}
	if c.Keyer == nil {
		errs = append(errs, errors.New("a fingerprint keyer is required"))
	}
	if c.Emitter == nil {
		errs = append(errs, errors.New("an event emitter is required"))
	}
	if c.MaxConnsPerDevice < 1 {
		errs = append(errs, fmt.Errorf("max connections per device %d: must be positive", c.MaxConnsPerDevice))
	}
	if c.MaxHeaderBytes < 1024 {
		errs = append(errs, fmt.Errorf("max header bytes %d: must be at least 1024", c.MaxHeaderBytes))
	}
	if c.MaxFingerprintBody < 0 || c.MaxFingerprintBody > fingerprint.MaxBodySize {
		errs = append(errs, fmt.Errorf("max fingerprint body %d: must be 0-%d", c.MaxFingerprintBody, fingerprint.MaxBodySize))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}
