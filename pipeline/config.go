package pipeline

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/policy"
)

// ErrConfig is returned for an invalid Config.
var ErrConfig = errors.New("invalid pipeline configuration")

// Config configures the pipeline. Zero values are defaults.
type Config struct {
	// Name of the durable subscription: the pipeline resumes after the
	// last position acknowledged under it. Default "pipeline".
	Name string
	// Detectors to run, by name; empty: every registered detector, unless
	// FeaturesOnly.
	Detectors []string
	// FeaturesOnly with no Detectors runs none: the processor only closes
	// windows and computes their features, for ObserveWindows (halo
	// export).
	FeaturesOnly bool
	// DetectorOptions per detector name.
	DetectorOptions map[string]map[string]string
	// WindowSize of the event-time tumbling windows. Default 60s.
	WindowSize time.Duration
	// Lateness: how long after a window's end (in event time) its events
	// may still arrive. Default 5s.
	Lateness time.Duration
	// Suppression: a finding for an open alert (same tenant, device,
	// detector and key) within this long updates it. Default 10m.
	Suppression time.Duration
	// Warmup: on start, the pipeline rebuilds its state by re-reading this
	// much history (event time) before its resume position, without
	// emitting. Default 24h (the replay detector's horizon).
	Warmup time.Duration
	// TickInterval: an idle partition with open windows gets a clock.tick
	// after this long without events (wall time). Default 1s.
	TickInterval time.Duration
	// ModelDir keeps the artifacts of the models the pipeline trains
	// (model.deployed names them). Empty: models live in memory only.
	ModelDir string
	// Partitions of the log (P); clock ticks name a partition. Default
	// events.DefaultPartitions.
	Partitions int
	// Policy, when set, is the policy of every tenant and policy.changed
	// events are ignored (a replay's --policy: backtest a candidate
	// policy).
	Policy *policy.Document
	// Retries of a failing delivery before it goes to the dead letters.
	// Default 5.
	Retries int
	// NoModelEvents: the processor emits no model.deployed for the models
	// it trains, for a caller that would drop them (a replay folding its
	// outputs into alerts and a report: replay.Outputs), which spares
	// sealing the models whose ID no alert names
	// (detect.ModelPublisher.Unpublished). Every other output is the
	// same. The live pipeline emits them.
	NoModelEvents bool
	// Version names the halo build, recorded with the live pipeline's
	// settings (pipeline.configured).
	Version string
}

// OfLog returns c with the partitions of the log store reads (one that
// says, as natsstore's does) when c leaves them unset: a processor of
// other partitions takes the log's clock ticks for other devices' windows.
func (c Config) OfLog(store events.Store) Config {
	if ps, ok := store.(interface{ Partitions() int }); ok && c.Partitions == 0 {
		c.Partitions = ps.Partitions()
	}
	return c
}

// DefaultName is the pipeline's name when Config.Name is not set.
const DefaultName = "pipeline"

// DefaultWindow is the window size when Config.WindowSize is not set.
const DefaultWindow = time.Minute

// Window is the window size in force: WindowSize, else DefaultWindow.
func (c *Config) Window() time.Duration { return cmp.Or(c.WindowSize, DefaultWindow) }

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = DefaultName
	}
	c.WindowSize = c.Window()
	if c.Lateness == 0 {
		c.Lateness = 5 * time.Second
	}
	if c.Suppression == 0 {
		c.Suppression = 10 * time.Minute
	}
	if c.Warmup == 0 {
		c.Warmup = 24 * time.Hour
	}
	if c.TickInterval == 0 {
		c.TickInterval = time.Second
	}
	if c.Retries == 0 {
		c.Retries = 5
	}
	if c.Partitions == 0 {
		c.Partitions = events.DefaultPartitions
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.WindowSize < time.Second || c.WindowSize > 24*time.Hour {
		errs = append(errs, fmt.Errorf("window size %v: must be between 1s and 24h", c.WindowSize))
	}
	if c.Lateness < 0 || c.Lateness >= c.WindowSize*10 {
		errs = append(errs, fmt.Errorf("lateness %v: must be between 0 and 10 windows", c.Lateness))
	}
	if c.Suppression < 0 {
		errs = append(errs, fmt.Errorf("suppression %v is negative", c.Suppression))
	}
	if c.TickInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("tick interval %v: must be at least 10ms", c.TickInterval))
	}
	if c.Retries < 0 {
		errs = append(errs, fmt.Errorf("retries %d is negative", c.Retries))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}
