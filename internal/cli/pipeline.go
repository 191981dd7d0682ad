package cli

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/roles"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/pipeline/detect"
)

// pipelineFlags are the pipeline's flags, shared by halo pipeline and halo up.
type pipelineFlags struct {
	detectors   []string
	window      durationFlag
	lateness    durationFlag
	suppression durationFlag
	warmup      durationFlag
	options     []string
}

func (f *pipelineFlags) register(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.detectors, "detectors", nil, "detectors to run, comma-separated (default every one: "+strings.Join(detect.Names(), ", ")+"; e.g. --detectors replay-attack)")
	fs.Var(&f.window, "window", "event-time window size (default 60s; e.g. --window 5m)")
	fs.Var(&f.lateness, "lateness", "how late an event may arrive after its window's end, in event time (default 5s; e.g. --lateness 30s)")
	fs.Var(&f.suppression, "suppression", "repeats of an open alert within this long update it instead of raising a new one (default 10m; e.g. --suppression 1h)")
	fs.Var(&f.warmup, "warmup", "history re-read on start to rebuild the detectors' state (default 24h; e.g. --warmup 72h)")
	fs.StringArrayVar(&f.options, "detector-option", nil, "set a detector's option, `DETECTOR.OPTION=VALUE`, as its documentation names them (repeatable; e.g. --detector-option beaconing.min_interval=2s)")
}

// detectorOptions parses --detector-option values.
func (f *pipelineFlags) detectorOptions() (map[string]map[string]string, error) {
	if len(f.options) == 0 {
		return nil, nil
	}
	out := map[string]map[string]string{}
	for _, o := range f.options {
		kv, val, ok := strings.Cut(o, "=")
		det, name, ok2 := strings.Cut(kv, ".")
		if !ok || !ok2 || det == "" || name == "" || val == "" {
			return nil, usageErrorf("--detector-option %q: want DETECTOR.OPTION=VALUE (e.g. beaconing.min_interval=2s)", o)
		}
		if err := detect.Check(det); err != nil {
			return nil, usageErrorf("--detector-option %q: %w", o, err)
		}
		if out[det] == nil {
			out[det] = map[string]string{}
		}
		out[det][name] = val
	}
	// Build the detectors once so that a bad option is a usage error now.
	if _, err := detect.New(nil, out); err != nil {
		return nil, usageErrorf("--detector-option: %v", err)
	}
	return out, nil
}

func (f *pipelineFlags) config() (pipeline.Config, error) {
	for _, d := range f.detectors {
		if err := detect.Check(d); err != nil {
			return pipeline.Config{}, usageErrorf("--detectors: %w", err)
		}
	}
	opts, err := f.detectorOptions()
	if err != nil {
		return pipeline.Config{}, err
	}
	return pipeline.Config{Detectors: f.detectors, DetectorOptions: opts, WindowSize: f.window.value, Lateness: f.lateness.value, Suppression: f.suppression.value, Warmup: f.warmup.value,
		Version: version()}, nil
}

// liveSettingsFlag registers --live-settings on a command that runs the
// pipeline over the log's history.
func liveSettingsFlag(fs *pflag.FlagSet, v *bool) {
	fs.BoolVar(v, "live-settings", true, "take the settings the flags leave unset (--window, --lateness, --suppression, --detectors, --detector-option) from those the live pipeline recorded in the log, so the same events give the same windows and alerts (e.g. --live-settings=false: this build's defaults)")
}

// applyLiveSettings fills the settings of pcfg that the flags of fs leave
// unset with those the live pipeline recorded in the log for [from, to)
// (pipeline.RecordedSettings), says so on stderr, and warns when the live
// pipeline ran with other settings over part of the range. Detector options merge: a flag's
// replaces the recorded value of that option only. It returns the
// recorded settings taken, or nil when the log records none.
func applyLiveSettings(ctx context.Context, a *app, fs *pflag.FlagSet, store events.Store, pcfg *pipeline.Config, from, to time.Time) (*pipeline.Settings, error) {
	rec, ok, err := pipeline.RecordedSettings(ctx, store, pcfg.Name, from, to)
	if err != nil || !ok {
		return nil, err
	}
	s := rec.Settings
	if !fs.Changed("window") {
		pcfg.WindowSize = s.Window
	}
	if !fs.Changed("lateness") {
		pcfg.Lateness = s.Lateness
	}
	if !fs.Changed("suppression") {
		pcfg.Suppression = s.Suppression
	}
	if !fs.Changed("detectors") && len(s.Detectors) > 0 {
		for _, d := range s.Detectors {
			if err := detect.Check(d); err != nil {
				return nil, usageErrorf("the live pipeline's settings (recorded %s by %s) run a detector this build does not have: %w; give --detectors, or --live-settings=false", stamp(s.At), s.Version, err)
			}
		}
		pcfg.Detectors = s.Detectors
	}
	if len(s.DetectorOptions) > 0 {
		merged := map[string]map[string]string{}
		for det, o := range s.DetectorOptions {
			merged[det] = maps.Clone(o)
		}
		for det, o := range pcfg.DetectorOptions {
			if merged[det] == nil {
				merged[det] = map[string]string{}
			}
			maps.Copy(merged[det], o)
		}
		if _, err := detect.New(nil, merged); err != nil {
			return nil, usageErrorf("the live pipeline's detector options (recorded %s by %s) do not suit this build: %v; give --live-settings=false", stamp(s.At), s.Version, err)
		}
		pcfg.DetectorOptions = merged
	}
	fmt.Fprintf(a.stderr, "settings of the live pipeline, recorded %s: %s (flags override them; --live-settings=false ignores them)\n", stamp(s.At), s.Args())
	if s.Version != "" && s.Version != version() {
		fmt.Fprintf(a.stderr, "note: the live pipeline ran %s, this is %s: detectors that changed between them give other alerts\n", s.Version, version())
	}
	for _, o := range rec.Others {
		fmt.Fprintf(a.stderr, "warning: the live pipeline ran with other settings from %s: %s; this run takes those recorded %s over the whole range (narrow it with --from/--to, or give the flags)\n", stamp(o.At), o.Args(), stamp(s.At))
	}
	return &s, nil
}

// stamp formats an instant for messages: RFC 3339 in UTC, to the second.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func newPipelineCmd(a *app) *cobra.Command {
	var (
		sf    = storeFlags{role: true}
		pf    pipelineFlags
		maddr = addrFlag{allowZeroPort: true}
	)
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Run the detection pipeline alone: events in, alerts and interventions out",
		Long: `Run only the detection pipeline against the event log of --data (the running
halo up's, or one started here) or of --nats. It consumes the edge's events
in log order through a watermill router, runs the detectors, and writes
alert.raised / alert.updated and, as the tenant's policy says,
intervention.applied, which the edge enforces.

On start it rebuilds its state by re-reading --warmup of history without
emitting, then resumes after the last position it acknowledged: killing and
restarting it loses no alert and writes none twice. A delivery that keeps
failing goes to the dead letters (stream HALO_DLQ) with the reason. One
pipeline runs per log: this one fails, naming the other, when halo up (or
another halo pipeline) already runs one.

Detectors:
` + detectorList(),
		Example: `  halo pipeline --data /var/lib/halo
  halo pipeline --nats nats://nats-1:4222 --nats-creds halo.creds --detectors replay-attack --metrics-addr 127.0.0.1:9102`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pcfg, err := pf.config()
			if err != nil {
				return err
			}
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			reg := prometheus.NewRegistry()
			stopMetrics, err := serveMetrics(maddr.value, reg)
			if err != nil {
				return err
			}
			defer stopMetrics()
			err = roles.Pipeline(ctx, store, pcfg, reg, a.logger, func() {
				fmt.Fprintf(a.stderr, "halo pipeline is up: consuming %s, data %s\n", store.ClientURL(), store.DataDir())
			})
			if ctx.Err() != nil {
				return nil
			}
			return err
		},
	}
	fs := cmd.Flags()
	sf.register(fs, dataDirHelp)
	pf.register(fs)
	fs.Var(&maddr, "metrics-addr", "serve Prometheus metrics on GET http://ADDR/metrics (e.g. --metrics-addr 127.0.0.1:9102)")
	return cmd
}

func detectorList() string {
	var b strings.Builder
	for _, n := range detect.Names() {
		doc := detect.Doc(n)
		first, _, _ := strings.Cut(doc, "\n")
		fmt.Fprintf(&b, "  %s\n", first)
	}
	return b.String()
}
