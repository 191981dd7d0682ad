package natsstore

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/halo-sec/halo/events"
)

// Mode says how Open finds the event log.
type Mode int

const (
	// ModeAuto uses the external server when URL is set; else the Halo
	// server already running on DataDir (advertised in
	// DataDir/nats/server.json); else it starts an embedded server in this
	// process, which Close stops. Commands such as `halo events ls` use it.
	ModeAuto Mode = iota
	// ModeServe starts the embedded server on DataDir and advertises it for
	// other commands. When a command's server (Config.Yield) holds DataDir,
	// it asks that command to hand it over and waits for it; when another
	// process serves DataDir and does not yield, ErrDataDirInUse. `halo up`
	// uses it.
	ModeServe
)

// StreamName is the JetStream stream that holds Halo's events.
const StreamName = "HALO"

// Config configures Open. The zero value of every field but DataDir (or
// URL) is a sane default.
type Config struct {
	// DataDir is Halo's data directory; the embedded server keeps its
	// JetStream files, credentials and address in DataDir/nats. Required
	// unless URL is set.
	DataDir string
	// URL of an external NATS server or cluster (nats://host:port,
	// comma-separated for several); empty: the embedded server.
	URL string
	// CredsFile authenticates to URL: an nkey seed file or a NATS .creds
	// file. Optional (the URL may carry user:password).
	CredsFile string
	// Mode says how to find or start the server. Default ModeAuto.
	Mode Mode
	// MustExist makes Open fail with ErrNoLog instead of creating an event
	// log: no files in DataDir (no running server advertised there and no
	// embedded store) or no Halo stream on the server. For commands that
	// only read, where a mistyped --data would otherwise create an empty
	// log and read nothing from it. Not with ModeServe.
	MustExist bool
	// Holder names this process to others in the data directory's
	// server.json (e.g. "halo replay"), for their messages. Optional.
	Holder string
	// Yield: an embedded server this process starts for itself (ModeAuto,
	// when no server runs on DataDir) hands the data directory over to a
	// ModeServe process that asks for it (halo up starting): the store then
	// closes, and what it was doing fails with ErrHandedOver. Without it, a
	// command run while halo up was down kept halo up from starting until
	// the command ended. Default false: the roles run alone (edge,
	// pipeline) keep the log they serve.
	Yield bool
	// AwaitServer makes Open (ModeAuto, embedded) wait up to
	// ConnectTimeout + 30s for a process that serves the data directory
	// (halo up) and join it, instead of starting a server: for a command
	// that follows on after handing the directory over, which would
	// otherwise take it again before halo up does.
	AwaitServer bool
	// Listen is the embedded server's address. Default "127.0.0.1:0" (a
	// random port on loopback). Only loopback addresses are accepted.
	Listen string

	// ManageStream applies the stream settings below to an existing
	// stream (halo up does); otherwise they apply only when the stream is
	// created. Default false.
	ManageStream bool
	// Partitions is P in halo.<tenant>.<kind>.<partition> for a new stream.
	// An existing stream keeps the P it was created with (in its metadata).
	// Default events.DefaultPartitions (16).
	Partitions int
	// MaxAge is the retention by age; 0 keeps events forever. Default 0.
	MaxAge time.Duration
	// MaxBytes is the retention by size; 0 is unlimited. Default 0.
	MaxBytes int64
	// DuplicateWindow is JetStream's de-duplication window: a message
	// whose id the stream saw within it is dropped by the server. It must
	// exceed the longest time a producer retries a publish (the edge
	// retries for 30 s before spooling). Default 2m.
	DuplicateWindow time.Duration
	// Replicas of the stream on an external cluster; default 1.
	Replicas int
	// SyncInterval is how often the embedded server fsyncs its files.
	// Default 2m (JetStream's default); a negative value fsyncs every write
	// (about 100 times slower). An acknowledged event survives a crash of
	// any process either way; it survives an OS crash or power loss only
	// once synced.
	SyncInterval time.Duration

	// MaxFutureSkew is how far ahead of the current time an event may be
	// stamped. Default 5m.
	MaxFutureSkew time.Duration
	// ClockSlack allows for clock differences between producers and the
	// server when a read maps event time to the server's storage time.
	// Default 5m.
	ClockSlack time.Duration
	// MaxBatchEvents bounds the events in one log message. Default 256.
	MaxBatchEvents int
	// MaxBatchSpan bounds how far apart in event time the events packed
	// into the messages of one Append may be before the older messages are
	// sent: when an event comes more than MaxBatchSpan after the first event
	// of another partition's pending message, that message goes out first.
	// With time-ordered input (an import), the log is then never more than
	// MaxBatchSpan out of event-time order across partitions, which keeps a
	// bulk Append inside the pipeline's lateness (default 5s), so the live
	// pipeline and a replay close windows in the same order. Default 1s.
	MaxBatchSpan time.Duration
	// MaxPending bounds unacknowledged asynchronous publishes. Default 4096.
	MaxPending int
	// AckTimeout bounds the wait for an acknowledgement. Default 30s.
	AckTimeout time.Duration
	// SubscriptionDedup is how many recent event ids a subscription
	// remembers to drop repeats beyond the de-duplication window. Default
	// 1<<20 (about 40 MiB at worst).
	SubscriptionDedup int
	// ConnectTimeout bounds connecting to a server. Default 5s.
	ConnectTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Partitions == 0 {
		c.Partitions = events.DefaultPartitions
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 2 * time.Minute
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = 2 * time.Minute
	}
	if c.MaxFutureSkew == 0 {
		c.MaxFutureSkew = 5 * time.Minute
	}
	if c.ClockSlack == 0 {
		c.ClockSlack = 5 * time.Minute
	}
	if c.MaxBatchEvents == 0 {
		c.MaxBatchEvents = 256
	}
	if c.MaxBatchSpan == 0 {
		c.MaxBatchSpan = time.Second
	}
	if c.MaxPending == 0 {
		c.MaxPending = 4096
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 30 * time.Second
	}
	if c.SubscriptionDedup == 0 {
		c.SubscriptionDedup = 1 << 20
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" && c.DataDir == "" {
		errs = append(errs, errors.New("either a data directory or a NATS URL is needed"))
	}
	if c.URL != "" && c.Mode == ModeServe {
		errs = append(errs, errors.New("serving the embedded event log and using an external NATS URL are exclusive"))
	}
	if c.MustExist && c.Mode == ModeServe {
		errs = append(errs, errors.New("serving the event log creates it: MustExist does not apply"))
	}
	if host, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", c.Listen, err))
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		errs = append(errs, fmt.Errorf("listen address %q: the embedded event log listens on loopback only", c.Listen))
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("partitions %d: must be 1-1024", c.Partitions))
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("retention age %v is negative", c.MaxAge))
	}
	if c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("retention size %d is negative", c.MaxBytes))
	}
	if c.DuplicateWindow < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("duplicate window %v: must be at least 100ms", c.DuplicateWindow))
	}
	if c.MaxAge > 0 && c.DuplicateWindow > c.MaxAge {
		errs = append(errs, fmt.Errorf("duplicate window %v exceeds retention age %v", c.DuplicateWindow, c.MaxAge))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: must be 1-5", c.Replicas))
	}
	if c.MaxBatchSpan < 0 {
		errs = append(errs, fmt.Errorf("max batch span %v: must not be negative", c.MaxBatchSpan))
	}
	if c.MaxBatchEvents < 1 {
		errs = append(errs, fmt.Errorf("max batch events %d: must be positive", c.MaxBatchEvents))
	}
	if c.MaxPending < 1 {
		errs = append(errs, fmt.Errorf("max pending %d: must be positive", c.MaxPending))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}
