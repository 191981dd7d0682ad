package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/sim"
)

// defaultEdge is where halo up and halo edge listen for devices by
// default (a variable: a test points it at a port nothing listens on).
var defaultEdge = "127.0.0.1:8443"

func newSimCmd(a *app) *cobra.Command {
	var (
		sf             storeFlags
		tenant         tenantFlag
		edge           string
		devices        int
		duration       durationFlag
		rate           float64
		attacks        string
		labelsOut      string
		recordLabels   bool
		seed           uint64
		domain         string
		certsOut       string
		beaconInterval durationFlag
		beaconCount    int
		exfilBytes     bytesFlag
		noProgress     bool
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a simulated fleet of POS terminals through a real edge, with injected attacks",
		Long: `Run a fleet of simulated point-of-sale terminals through a running edge.

Each device is enrolled in the tenant (created when missing; its operator
token is printed) with its own certificate, as halo devices enroll does, and
talks to the edge (--edge; by default the one of the halo up running on
the same --data) over mTLS with kept-alive connections: heartbeats and
payments (JSON: merchant, terminal, amount, currency, nonce, timestamp) as
plain HTTP the edge fingerprints, update checks and downloads over TLS
through CONNECT. The destinations run here, on loopback, named
*.DOMAIN (default sim.halo.test): the edge must resolve them to 127.0.0.1
(halo up --edge-resolve '*.sim.halo.test=127.0.0.1'). The payment gateway
answers 200, sometimes 503 or too late; devices retry those with the same
body. Devices differ by model and firmware (cohorts); one cohort adopts a
new destination together after a while (an app update). Everything is
seeded by --seed.

Attacks (--attacks KIND@OFFSET[:DEVICE],...; DEVICE is an index like 3 or
device-3, or an id; without it the seed picks one):
  replay   resend an approved payment byte for byte, from the device and from
           the next one (replay-attack)
  beacon   check in with a C&C host every --beacon-interval, --beacon-count
           times (beaconing)
  exfil    upload --exfil-bytes to a new host in one connection (flood, bytes)
  scan     CONNECT to 100 loopback addresses and telnet-like ports (scan)
  flood    250 connections to one host in a burst (flood)
  badcert  handshakes with the device's revoked certificate and a foreign one
           (auth-failures)
Each injected attack is written to --labels-out as one JSON line per device
{"tenant","device","label","start","end"}, the format halo replay --labels
reads.

A progress line on standard error shows devices, requests, errors and
attacks; at the end the counters are printed to standard output as JSON.`,
		Example: `  halo up --edge-resolve '*.sim.halo.test=127.0.0.1' &
  halo sim --edge 127.0.0.1:8443 --tenant acme --devices 50 --duration 10m \
      --attacks replay@1m,scan@2m,beacon@3m:device-3 --labels-out attacks.jsonl
  halo replay --labels attacks.jsonl --out report/`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant.value == "" {
				return usageErrorf("--tenant is required")
			}
			if devices < 1 {
				return usageErrorf("--devices %d: want at least 1", devices)
			}
			list, err := sim.ParseAttacks(attacks)
			if err != nil {
				return &usageError{fmt.Errorf("--attacks: %w", err)}
			}
			cfg, err := sf.config(0)
			if err != nil {
				return err
			}
			noUp := false // no --edge, and no halo up runs on the data directory: the default edge address
			if !cmd.Flags().Changed("edge") && cfg.DataDir != "" {
				if up, err := readUpInfo(cfg.DataDir); err == nil {
					edge = up.Edge
					a.logger.Info("using the edge of the halo up running on the data directory", "edge", edge, "pid", up.PID)
				} else {
					noUp = true
				}
			}
			scfg := sim.Config{
				Edge: edge, DataDir: cfg.DataDir, Tenant: tenant.value, Devices: devices, Duration: duration.value,
				Rate: rate, Attacks: list, Seed: seed, Domain: domain, CertsDir: certsOut,
				BeaconInterval: beaconInterval.value, BeaconCount: beaconCount, ExfilBytes: exfilBytes.value,
				Logger: a.logger.With("component", "sim"), RecordLabels: recordLabels,
			}
			var labels *os.File
			if labelsOut != "" {
				if labels, err = os.Create(labelsOut); err != nil {
					return &usageError{fmt.Errorf("--labels-out: %w", err)}
				}
				defer labels.Close()
				scfg.Labels = labels
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			scfg.Store = store
			s, err := sim.New(scfg)
			if errors.Is(err, sim.ErrConfig) {
				return &usageError{err}
			}
			if err != nil {
				return err
			}
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			var runErr error
			shownToken := false
		loop:
			for {
				select {
				case runErr = <-done:
					break loop
				case <-tick.C:
					if tok := s.Token(); tok != "" && !shownToken {
						shownToken = true
						fmt.Fprintf(a.stderr, "Tenant %s created; its operator API token (shown once):\n%s\n", tenant.value, tok)
					}
					if !noProgress {
						fmt.Fprintf(a.stderr, "\r%s   ", s.Stats())
					}
				}
			}
			st := s.Stats()
			if !noProgress {
				fmt.Fprintf(a.stderr, "\r%s\n", st)
			}
			if tok := s.Token(); tok != "" && !shownToken {
				fmt.Fprintf(a.stderr, "Tenant %s created; its operator API token (shown once):\n%s\n", tenant.value, tok)
			}
			if labels != nil {
				if err := labels.Sync(); err != nil {
					runErr = errors.Join(runErr, err)
				}
			}
			if runErr != nil {
				if ctx.Err() != nil && errors.Is(runErr, ctx.Err()) {
					return errInterrupted
				}
				if errors.Is(runErr, sim.ErrEdgeResolve) {
					return &usageError{runErr}
				}
				if noUp && errors.Is(runErr, sim.ErrNoEdge) {
					return fmt.Errorf("no halo up runs on %s, and no edge answers at the default %s: start halo up --data %s, or give --edge HOST:PORT: %w",
						cfg.DataDir, edge, cfg.DataDir, runErr)
				}
				return runErr
			}
			b, _ := json.Marshal(st)
			fmt.Fprintln(a.stdout, string(b))
			return nil
		},
	}
	fs := cmd.Flags()
	sf.register(fs, dataDirHelp)
	fs.StringVar(&edge, "edge", defaultEdge, "the edge's `HOST:PORT`; without it, the edge of the halo up running on --data, else "+defaultEdge+" (e.g. --edge 127.0.0.1:8443)")
	fs.Var(&tenant, "tenant", "the tenant `NAME` of the fleet, created when missing (required; e.g. --tenant acme)")
	fs.IntVar(&devices, "devices", 10, "number of simulated devices, enrolled as TENANT-pos-00001 and up (e.g. --devices 200)")
	fs.Var(&duration, "duration", "how long to run; 0 runs until interrupted (e.g. --duration 10m)")
	fs.Float64Var(&rate, "rate", 1, "multiplies every device's activity, for load tests (e.g. --rate 5)")
	fs.StringVar(&attacks, "attacks", "", "attacks to inject, KIND@OFFSET[:DEVICE] comma-separated; kinds "+strings.Join(sim.AttackKinds, ", ")+" (e.g. --attacks replay@5m,beacon@10m:device-3)")
	fs.BoolVar(&recordLabels, "record-labels", false, "also record each injected attack in the log as a label.recorded (source simulator), where halo replay and halo export find it (e.g. --record-labels)")
	fs.StringVar(&labelsOut, "labels-out", "", "write each injected attack to `FILE` as JSON lines for halo replay --labels (e.g. --labels-out attacks.jsonl)")
	fs.Uint64Var(&seed, "seed", 1, "seed of every random choice: devices, schedule, amounts (e.g. --seed 42)")
	fs.StringVar(&domain, "domain", "sim.halo.test", "domain of the destinations' names, which the edge must resolve to 127.0.0.1 (e.g. --domain sim.example)")
	fs.StringVar(&certsOut, "certs-out", "", "write each device's ID.crt, ID.key and ca.crt to `DIR`, to drive a device with curl (e.g. --certs-out ./certs)")
	fs.Var(&beaconInterval, "beacon-interval", "time between two C&C check-ins of a beacon attack (default 12s; the beaconing detector wants a mean of at least its min_interval, 10s by default; e.g. --beacon-interval 2s)")
	fs.IntVar(&beaconCount, "beacon-count", 12, "check-ins per beacon attack (e.g. --beacon-count 8)")
	fs.Var(&exfilBytes, "exfil-bytes", "bytes one exfil attack uploads (default 64MiB; e.g. --exfil-bytes 100MB)")
	fs.BoolVar(&noProgress, "no-progress", false, "no progress line on standard error (e.g. --no-progress)")
	return cmd
}
