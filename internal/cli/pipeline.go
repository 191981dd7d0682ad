package cli

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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

// replayArgs are the flags that give a replay this pipeline's settings
// (those set; a replay's defaults are the pipeline's), e.g.
// "--window 10s --lateness 2s --detector-option beaconing.min_interval=4s":
// the same events then give the same alerts. Not --warmup: a replay's
// warm-up is what it reads before --from.
func (f *pipelineFlags) replayArgs() string {
	var args []string
	for _, d := range []struct {
		name string
		f    durationFlag
	}{{"window", f.window}, {"lateness", f.lateness}, {"suppression", f.suppression}} {
		if d.f.value != 0 {
			args = append(args, "--"+d.name, d.f.String())
		}
	}
	if len(f.detectors) > 0 {
		args = append(args, "--detectors", strings.Join(f.detectors, ","))
	}
	for _, o := range f.options {
		args = append(args, "--detector-option", o)
	}
	return strings.Join(args, " ")
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
	return pipeline.Config{Detectors: f.detectors, DetectorOptions: opts, WindowSize: f.window.value, Lateness: f.lateness.value, Suppression: f.suppression.value, Warmup: f.warmup.value}, nil
}

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
failing goes to the dead letters (stream HALO_DLQ) with the reason.

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
