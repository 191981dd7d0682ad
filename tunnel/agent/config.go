package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Config configures an Agent. Fields marked required have no default.
type Config struct {
	// Edge is the edge's address, host:port. Required.
	Edge string
	// ServerName is the name (or IP) the edge's certificate must carry.
	// Default: the host of Edge.
	ServerName string
	// CertFile and KeyFile are the device's client certificate and private
	// key, PEM, as `halo devices enroll` writes them. Required. They are
	// re-read when their content changes (`halo devices renew`): new edge
	// connections use the new pair, open ones are left alone.
	CertFile string
	KeyFile  string
	// CAFile holds the CA certificate(s), PEM, the edge's certificate must
	// chain to (ca.crt from the enrolment). Required.
	CAFile string

	// Listen is the local proxy address. Default 127.0.0.1:3128. It must be
	// a loopback address unless AllowRemote is set.
	Listen string
	// AllowRemote allows a non-loopback Listen address. Anyone who can
	// reach it then uses the network as this device, so it is off by
	// default.
	AllowRemote bool

	// DialTimeout bounds connecting to the edge, TCP and TLS handshake
	// together; a local client that needs a new edge connection gets a 502
	// after at most this long. Default 10s.
	DialTimeout time.Duration
	// MaxConns bounds concurrent local connections (each is carried over
	// its own edge connection); more are answered 503. Default 256, the
	// edge's own per-device bound.
	MaxConns int
	// IdleTimeout closes a carried connection with no bytes either way for
	// this long. The edge closes idle keep-alive connections sooner (120s by
	// default) and idle CONNECT streams at 10m. Default 10m.
	IdleTimeout time.Duration

	// Warm is the number of handshaken, idle edge connections kept ready so
	// a new local connection does not wait for a handshake. Default 2;
	// negative disables the pool.
	Warm int
	// WarmMaxAge discards a warm connection older than this, so it is never
	// handed out just as the edge closes it. The agent also learns how long
	// the edge keeps an unused connection open and stays below that.
	// Default 60s.
	WarmMaxAge time.Duration
	// WarmFor keeps the pool warm this long after the last local
	// connection; after that, expired warm connections are not replaced
	// until the next local connection (a device at rest makes no
	// handshakes). Default 5m; negative keeps it warm always.
	WarmFor time.Duration
	// BackoffMin and BackoffMax bound the pool's reconnect backoff
	// (exponential, jittered) while the edge is unreachable or refuses the
	// certificate. Default 100ms and 30s.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// ReloadInterval is how often CertFile and KeyFile are checked for new
	// content. Default 5s.
	ReloadInterval time.Duration
	// ShutdownGrace lets carried connections finish when Run's context
	// ends. Default 10s.
	ShutdownGrace time.Duration
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:3128"
	}
	if c.ServerName == "" {
		if h, _, err := net.SplitHostPort(c.Edge); err == nil {
			c.ServerName = h
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, 10*time.Second)
	def(&c.IdleTimeout, 10*time.Minute)
	def(&c.WarmMaxAge, 60*time.Second)
	def(&c.WarmFor, 5*time.Minute)
	def(&c.BackoffMin, 100*time.Millisecond)
	def(&c.BackoffMax, 30*time.Second)
	def(&c.ReloadInterval, 5*time.Second)
	def(&c.ShutdownGrace, 10*time.Second)
	if c.MaxConns == 0 {
		c.MaxConns = 256
	}
	if c.Warm == 0 {
		c.Warm = 2
	}
}

// Validate reports every problem at once; zero fields count as their
// defaults. It checks the configuration only; New also loads and checks the
// files.
func (c *Config) Validate() error {
	cfg := *c
	cfg.setDefaults()
	return cfg.validate()
}

func (c *Config) validate() error {
	var errs []error
	if c.Edge == "" {
		errs = append(errs, errors.New("the edge address is required (--edge HOST:PORT)"))
	} else if h, p, err := net.SplitHostPort(c.Edge); err != nil || h == "" || p == "" {
		errs = append(errs, fmt.Errorf("edge address %q: want HOST:PORT", c.Edge))
	}
	for _, f := range []struct{ name, v string }{{"certificate", c.CertFile}, {"key", c.KeyFile}, {"CA", c.CAFile}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("a %s file is required", f.name))
		}
	}
	if err := checkListen(c.Listen, c.AllowRemote); err != nil {
		errs = append(errs, err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dial timeout", c.DialTimeout}, {"idle timeout", c.IdleTimeout}, {"warm max age", c.WarmMaxAge},
		{"backoff min", c.BackoffMin}, {"backoff max", c.BackoffMax}, {"reload interval", c.ReloadInterval}, {"shutdown grace", c.ShutdownGrace}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", d.name, d.v))
		}
	}
	if c.BackoffMin > c.BackoffMax {
		errs = append(errs, fmt.Errorf("backoff min %v is above backoff max %v", c.BackoffMin, c.BackoffMax))
	}
	if c.WarmMaxAge > 0 && c.WarmMaxAge < time.Second {
		errs = append(errs, fmt.Errorf("warm max age %v: must be at least 1s", c.WarmMaxAge))
	}
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("max connections %d: must be positive", c.MaxConns))
	}
	if c.Warm > c.MaxConns {
		errs = append(errs, fmt.Errorf("warm connections %d: must not exceed max connections %d", c.Warm, c.MaxConns))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}

// checkListen refuses a listen address other machines could reach, unless
// allowed.
func checkListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() {
		return nil
	}
	if host == "" {
		host = "every interface"
	}
	return fmt.Errorf("listen address %q (%s) is not loopback: any machine that reaches it would use the network as this device; "+
		"listen on 127.0.0.1 or set AllowRemote (--allow-remote)", addr, host)
}
