package publish

import (
	"errors"
	"fmt"
	"time"
)

// Config configures a Publisher. Every field but SpoolDir has a default.
type Config struct {
	// SpoolDir holds the spool: one file per batch that could not be
	// appended, drained oldest first. Created (mode 0700) when missing;
	// one Publisher at a time may use it. Required.
	SpoolDir string
	// FlushInterval is how often buffered events are appended to the log.
	// It bounds what a crash can lose (see the package documentation).
	// Default 50ms; at most 1s.
	FlushInterval time.Duration
	// MaxBatch flushes early when this many events are buffered, and is the
	// most events one Append (and one spool file) carries; the buffer is
	// made of blocks of MaxBatch events (128 bytes each plus the payload).
	// Default 4096; at most 65536.
	MaxBatch int
	// MaxBuffered bounds the events waiting in memory: Emit returns
	// ErrBufferFull beyond it. It is reached only when appends are slower
	// than emission for longer than AppendTimeout allows to notice; it must
	// hold at least emission rate × (AppendTimeout + FlushInterval) events
	// or an outage refuses events before they can be spooled. Default 262144
	// (about 100 MiB with typical payloads); at least MaxBatch.
	MaxBuffered int
	// AppendTimeout bounds one Append to the log; a flush or a drain that
	// takes longer is treated as the log being unreachable (the events go
	// to, or stay in, the spool). Default 5s.
	AppendTimeout time.Duration
	// SpoolMaxBytes bounds the spool on disk. When it is full and the log
	// is unreachable Emit returns ErrSpoolFull. Close may exceed it to save
	// the last events rather than lose them. Default 1 GiB.
	SpoolMaxBytes int64
	// RetryInterval is how often the publisher tries to drain the spool
	// while it holds files. Default 1s.
	RetryInterval time.Duration
	// MaxFutureSkew makes Emit refuse events stamped further than this
	// ahead of the local clock, as the log would refuse them later (keep it
	// at most the log's own limit: natsstore.Config.MaxFutureSkew, default
	// 5m). Default 5m.
	MaxFutureSkew time.Duration
}

// Defaults.
const (
	DefaultFlushInterval = 50 * time.Millisecond
	MaxFlushInterval     = time.Second
	DefaultMaxBatch      = 4096
	MaxMaxBatch          = 1 << 16
	DefaultMaxBuffered   = 64 * DefaultMaxBatch
	DefaultAppendTimeout = 5 * time.Second
	DefaultSpoolMaxBytes = 1 << 30
	DefaultRetryInterval = time.Second
	DefaultMaxFutureSkew = 5 * time.Minute
)

func (c *Config) setDefaults() {
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxBuffered == 0 {
		c.MaxBuffered = max(DefaultMaxBuffered, c.MaxBatch)
	}
	if c.AppendTimeout == 0 {
		c.AppendTimeout = DefaultAppendTimeout
	}
	if c.SpoolMaxBytes == 0 {
		c.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.MaxFutureSkew == 0 {
		c.MaxFutureSkew = DefaultMaxFutureSkew
	}
}

// Validate reports every problem of the configuration at once. Zero fields
// count as their defaults.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.SpoolDir == "" {
		errs = append(errs, errors.New("a spool directory is required"))
	}
	if c.FlushInterval < 0 || c.FlushInterval > MaxFlushInterval {
		errs = append(errs, fmt.Errorf("flush interval %v: must be between 0 and %v", c.FlushInterval, MaxFlushInterval))
	}
	if c.MaxBatch < 1 || c.MaxBatch > MaxMaxBatch {
		errs = append(errs, fmt.Errorf("max batch %d: must be between 1 and %d", c.MaxBatch, MaxMaxBatch))
	}
	if c.MaxBuffered < c.MaxBatch {
		errs = append(errs, fmt.Errorf("max buffered %d: must be at least max batch (%d)", c.MaxBuffered, c.MaxBatch))
	}
	if c.AppendTimeout < 0 {
		errs = append(errs, fmt.Errorf("append timeout %v is negative", c.AppendTimeout))
	}
	if c.SpoolMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("spool size %d is negative", c.SpoolMaxBytes))
	}
	if c.RetryInterval < 0 {
		errs = append(errs, fmt.Errorf("retry interval %v is negative", c.RetryInterval))
	}
	if c.MaxFutureSkew < 0 {
		errs = append(errs, fmt.Errorf("max future skew %v is negative", c.MaxFutureSkew))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}
