package zeek

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/halo-sec/halo/events"
)

// Options configures Read and ImportFile.
type Options struct {
	// Tenant owns every emitted event. Required; must pass
	// events.ValidateTenant.
	Tenant string
	// Source names the input in derived event ids, which are a function
	// of (Tenant, Source, line): a file imported twice for one tenant
	// gives the same events, for two tenants each its own. Default for ImportFile:
	// the SHA-256 hex digest of the file's content. Default for Read: the
	// same digest, computed by reading the whole input into memory first;
	// set Source to stream large inputs.
	Source string
	// BenignLabels are `label` values (compared case-insensitively) that
	// produce no label.recorded event. Default: Benign, Background,
	// (empty), - and the empty string. A nil slice means the default; an
	// empty non-nil slice means every label is recorded.
	BenignLabels []string
	// UncertainLabels are labels that are recorded but not as malicious
	// (label.recorded with Malicious false), such as Stratosphere's
	// "Unknown". Default: Unknown. Same nil/empty rule as BenignLabels.
	UncertainLabels []string
	// MaxErrors is how many skip reasons Stats.Errors keeps. Default 10.
	MaxErrors int
	// LocalNets are the networks of the monitored devices. The device of a
	// record is its local endpoint: the originator when it is local (Zeek's
	// local_orig is T, or its address is in LocalNets), else the responder
	// when that is local (local_resp T, or in LocalNets: a remote host
	// reaching a device — an inbound attack belongs to the device, and is
	// recorded from its side: the peer is the remote originator, bytes up
	// are what the device sent), else the originator. nil means
	// DefaultLocalNets; an empty non-nil slice trusts local_orig and
	// local_resp alone.
	LocalNets []netip.Prefix
	// MaxLineBytes is the longest line read; longer lines are skipped.
	// Default 1 MiB.
	MaxLineBytes int
}

// DefaultLocalNets are the private and link-local ranges: RFC 1918,
// carrier-grade NAT, IPv4 and IPv6 link-local, IPv6 unique local.
var DefaultLocalNets = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"),
}

// DefaultBenignLabels is the default of Options.BenignLabels.
var DefaultBenignLabels = []string{"Benign", "Background", "(empty)", "-", ""}

// DefaultUncertainLabels is the default of Options.UncertainLabels.
var DefaultUncertainLabels = []string{"Unknown"}

func (o *Options) setDefaults() {
	if o.BenignLabels == nil {
		o.BenignLabels = DefaultBenignLabels
	}
	if o.UncertainLabels == nil {
		o.UncertainLabels = DefaultUncertainLabels
	}
	if o.MaxErrors == 0 {
		o.MaxErrors = 10
	}
	if o.LocalNets == nil {
		o.LocalNets = DefaultLocalNets
	}
	if o.MaxLineBytes == 0 {
		o.MaxLineBytes = 1 << 20
	}
}

// Validate reports every problem with the options (after defaults), joined;
// each wraps ErrInvalidOptions.
func (o *Options) Validate() error {
	var errs []error
	if err := events.ValidateTenant(o.Tenant); err != nil {
		errs = append(errs, fmt.Errorf("%w: tenant: %w", ErrInvalidOptions, err))
	}
	if o.MaxErrors < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxErrors %d is negative", ErrInvalidOptions, o.MaxErrors))
	}
	if o.MaxLineBytes < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxLineBytes %d is negative", ErrInvalidOptions, o.MaxLineBytes))
	}
	return errors.Join(errs...)
}
