package zeek

import (
	"errors"
	"fmt"

	"github.com/halo-sec/halo/events"
)

// Options configures Read and ImportFile.
type Options struct {
	// Tenant owns every emitted event. Required; must pass
	// events.ValidateTenant.
	Tenant string
	// Source names the input in derived event ids. Default for ImportFile:
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
	// LocalDevice attributes an inbound record (local_orig F, local_resp T:
	// a remote host reaching a local one) to the local host, recorded from
	// its side (the peer is the remote originator, bytes up are what the
	// local host sent). Default false: the originator is the device.
	LocalDevice bool
	// MaxLineBytes is the longest line read; longer lines are skipped.
	// Default 1 MiB.
	MaxLineBytes int
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
