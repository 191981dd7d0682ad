package window

import (
	"errors"
	"fmt"
	"time"
)

// Config configures an Assembler. The zero value is valid: every field has a
// default, set by New.
type Config struct {
	// Size is the length of a window; windows are [k·Size, (k+1)·Size) in
	// Unix time, so every partition and every replay cuts the same windows.
	// At least one millisecond, at most 24 hours. Default 60s.
	Size time.Duration
	// Lateness is how far behind the largest event time seen on a partition
	// an event may still arrive: the partition's watermark is that time minus
	// Lateness, and a window closes when the watermark reaches its end. Zero
	// is allowed (events must arrive in time order per partition); negative
	// is not. Default 5s.
	Lateness time.Duration
	// JoinHorizon is how long a conn.opened waits for its conn.closed: an
	// open connection whose open time is more than JoinHorizon behind the
	// partition's watermark is forgotten, and its conn.closed, if it ever
	// comes, is counted unjoined and carries no destination. Default 24h.
	JoinHorizon time.Duration
	// MaxOpenPerDevice bounds the open connections remembered per device for
	// the join: when a device has more, the oldest eighth (by open time, then
	// connection id) is forgotten. Default 1024.
	MaxOpenPerDevice int
	// Idle closes the windows of a quiet partition by the others' clock: when
	// the largest watermark of any partition is more than Idle past the end
	// of a partition's oldest open window, that partition's watermark is
	// raised to the window boundary Idle behind it. Without it a partition
	// whose devices went silent would hold its last window (and, through the
	// canonical close order, every later window of every partition) until a
	// clock tick or the end of the replay. It must be at least Lateness.
	// Default Size + Lateness.
	Idle time.Duration
	// Recycle makes the Assembler reuse the Arrow memory of released
	// windows for later ones instead of allocating (and zeroing) every
	// batch afresh: on the features benchmark it saves a tenth to a sixth
	// of the CPU per event, mostly allocation and garbage collection. It keeps at most
	// 2·partitions+2 released batches and 256 MiB, and hands everything
	// back to the allocator on Release. The price: a consumer must not
	// keep any view into a window's buffers after releasing the window (a
	// string from array.String.Value, a slice of a column's values, the
	// bytes of a fingerprint), since the memory will hold another window's
	// rows; it must copy what it keeps. Default false; the pipeline's
	// processor turns it on (its detectors copy what they keep). In test
	// binaries a released slab is overwritten, so a consumer that keeps a
	// view fails its tests at once (TestRecycledMemoryIsPoisoned).
	Recycle bool
}

// Defaults of Config.
const (
	DefaultSize             = 60 * time.Second
	DefaultLateness         = 5 * time.Second
	DefaultJoinHorizon      = 24 * time.Hour
	DefaultMaxOpenPerDevice = 1024
)

func (c *Config) setDefaults() {
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Lateness == 0 {
		c.Lateness = DefaultLateness
	}
	if c.JoinHorizon == 0 {
		c.JoinHorizon = DefaultJoinHorizon
	}
	if c.MaxOpenPerDevice == 0 {
		c.MaxOpenPerDevice = DefaultMaxOpenPerDevice
	}
	if c.Idle == 0 {
		c.Idle = c.Size + c.Lateness
	}
}

// Validate reports every problem of c at once (after defaults: zero fields
// are fine). The errors wrap ErrInvalidConfig.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...))
	}
	if c.Size < time.Millisecond || c.Size > 24*time.Hour {
		bad("Size %v must be between 1ms and 24h", c.Size)
	}
	if c.Lateness < 0 {
		bad("Lateness %v must not be negative", c.Lateness)
	}
	if c.JoinHorizon < 0 {
		bad("JoinHorizon %v must not be negative", c.JoinHorizon)
	}
	if c.MaxOpenPerDevice < 0 {
		bad("MaxOpenPerDevice %d must not be negative", c.MaxOpenPerDevice)
	}
	if c.Idle < c.Lateness {
		bad("Idle %v must not be shorter than Lateness %v", c.Idle, c.Lateness)
	}
	return errors.Join(errs...)
}
