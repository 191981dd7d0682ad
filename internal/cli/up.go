package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/console"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/internal/health"
	"github.com/halo-sec/halo/internal/roles"
)

// Roles of the `halo up` process, as reported by GET /healthz.
const (
	roleEventLog = "eventlog"
	roleEdge     = "edge"
	rolePipeline = "pipeline"
	roleAPI      = "api"
)

// Timeouts of `halo up`.
const (
	shutdownTimeout = 5 * time.Second  // HTTP server drain on stop
	pingInterval    = 5 * time.Second  // event log readiness probe
	pingTimeout     = 2 * time.Second  // one probe
	readHeaderLimit = 5 * time.Second  // http.Server.ReadHeaderTimeout
	idleLimit       = 60 * time.Second // http.Server.IdleTimeout
)

type upCmd struct {
	app   *app
	store storeFlags

	edgeAddr       addrFlag
	apiAddr        addrFlag
	syncInterval   syncFlag
	retentionAge   durationFlag
	retentionBytes bytesFlag
	partitions     int
	edge           edgeFlags
	pipe           pipelineFlags

	webhookDenyPrivate bool
	demo               demoFlags
}

func newUpCmd(a *app) *cobra.Command {
	u := &upCmd{
		app:          a,
		edgeAddr:     addrFlag{value: defaultEdge},
		apiAddr:      addrFlag{value: "127.0.0.1:8080", allowZeroPort: true},
		syncInterval: syncFlag{value: 2 * time.Minute},
	}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run Halo on this machine: the event log, the edge, the pipeline, the API and console (--demo: with a simulated fleet)",
		Long: `Run every Halo role in one process, on embedded defaults.

Today that is:
  - the event log: an embedded NATS JetStream server keeping its files in
    DIR/nats (or, with --nats, a connection to an external NATS), advertised
    in the data directory so that other halo commands (halo events ...) use
    it while it runs;
  - the edge on --edge-addr: the mTLS proxy devices send all their traffic
    through (see halo edge --help), with its events spooled to DIR/spool/edge
    while the log is unreachable;
  - the detection pipeline (see halo pipeline --help): alerts and, as each
    tenant's policy says, interventions the edge enforces;
  - on --api-addr, an HTTP server with GET /healthz: 503 with
    {"status":"starting","roles":{...}} until every role is ready, then 200
    with {"status":"ok","roles":{"api":"ready","edge":"ready","eventlog":"ready","pipeline":"ready"}}; and
    GET /metrics (Prometheus: the edge's refusals by reason, handshakes,
    streams, bytes, events).

and the alert API under /v1/ (Bearer tokens from halo tenants create; the
OpenAPI document at /v1/openapi.json) with the web console at /.

With --demo it also creates a tenant demo and runs a simulated fleet against
its own edge, with attacks in its first minute and 10 s windows, and prints
the console URL and a token (also in DATA/demo.json); the data directory is
a temporary one unless --data is given.

When ready, halo up prints one line to standard error with the addresses and
the data directory. It stops cleanly on SIGINT (Ctrl-C) or SIGTERM: the edge
stops accepting, lets connections finish (up to 10s) and flushes its events,
the HTTP server drains (up to 5s), the event log closes, and it exits with
status 0.
A second signal stops it at once.

Durability: the event log fsyncs every --sync-interval (default 2m, as
JetStream). An acknowledged event survives a crash of any Halo process; an
operating system crash or power loss can lose up to the last interval.
--sync-interval always fsyncs every write, at about 100 times lower
throughput. Replicated streams on an external NATS cluster survive the loss
of a machine.`,
		Example: `  # Embedded defaults: data in ~/.local/share/halo, API on 127.0.0.1:8080
  halo up

  # Another data directory and addresses
  halo up --data /var/lib/halo --api-addr 0.0.0.0:8080 --edge-addr 0.0.0.0:8443

  # Keep 30 days or 50 GiB of events, fsync every 10 seconds
  halo up --retention-age 30d --retention-bytes 50GiB --sync-interval 10s

  # Use an external NATS cluster
  halo up --nats nats://nats-1:4222,nats://nats-2:4222 --nats-creds halo.creds

  # Wait until it is ready
  curl -fsS http://127.0.0.1:8080/healthz`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := u.demo.prepare(cmd.Flags(), u); err != nil {
				return err
			}
			if u.demo.tempDir != "" {
				defer os.RemoveAll(u.demo.tempDir)
			}
			return u.run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	u.store.register(fs, dataDirHelp)
	fs.Var(&u.edgeAddr, "edge-addr", "address of the edge, where devices connect over mTLS (e.g. --edge-addr 0.0.0.0:8443)")
	u.edge.register(fs)
	u.pipe.register(fs)
	fs.BoolVar(&u.webhookDenyPrivate, "webhook-deny-private", false, "refuse webhook URLs that resolve to loopback, private or link-local addresses (default: allowed, SPs often receive on internal hosts; e.g. --webhook-deny-private)")
	fs.Var(&u.apiAddr, "api-addr", "address of the HTTP API, serving GET /healthz; port 0 picks a free port, shown in the ready line (e.g. --api-addr 127.0.0.1:9090)")
	fs.Var(&u.syncInterval, "sync-interval", "how often the embedded event log fsyncs to disk, or \"always\" to fsync every write (~100x slower); a crash of the machine can lose up to this interval (e.g. --sync-interval 10s)")
	fs.Var(&u.retentionAge, "retention-age", "drop events older than this (log time); 0 keeps them forever (e.g. --retention-age 30d, --retention-age 720h)")
	fs.Var(&u.retentionBytes, "retention-bytes", "drop the oldest events when the log exceeds this size; 0 is unlimited (e.g. --retention-bytes 50GiB, 500MB)")
	u.demo.register(fs)
	fs.IntVar(&u.partitions, "partitions", events.DefaultPartitions, "number of partitions P when the log is created: a device's events go to partition FNV-1a(device) mod P (e.g. --partitions 64)")
	return cmd
}

// config validates the flags together and returns the event log
// configuration.
func (u *upCmd) config() (natsstore.Config, error) {
	var errs []error
	// halo up serves the data directory's embedded log, or with --nats
	// uses the external one; either way it owns the stream settings.
	mode := natsstore.ModeServe
	if u.store.natsURL != "" {
		mode = natsstore.ModeAuto
	}
	cfg, err := u.store.config(mode)
	if err != nil {
		errs = append(errs, err)
	}
	if u.partitions < 1 || u.partitions > 1024 {
		errs = append(errs, fmt.Errorf("invalid --partitions %d: want 1 to 1024", u.partitions))
	}
	if sameAddr(u.edgeAddr.value, u.apiAddr.value) {
		errs = append(errs, fmt.Errorf("--edge-addr and --api-addr are both %s: give them different ports", u.apiAddr.value))
	}
	if err := errors.Join(errs...); err != nil {
		return natsstore.Config{}, &usageError{err}
	}
	cfg.ManageStream = true
	cfg.Holder = u.app.command
	cfg.Partitions = u.partitions
	cfg.SyncInterval = u.syncInterval.value
	cfg.MaxAge = u.retentionAge.value
	cfg.MaxBytes = u.retentionBytes.value
	return cfg, nil
}

// sameAddr reports whether two listen addresses would collide: the same
// port on the same host, or on all interfaces.
func sameAddr(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	return ha == hb || ha == "" || hb == "" || ha == "0.0.0.0" || hb == "0.0.0.0" || ha == "::" || hb == "::"
}

func (u *upCmd) run(ctx context.Context) error {
	cfg, err := u.config()
	if err != nil {
		return err
	}
	log := u.app.logger

	// The API listens first, so that /healthz answers "starting" while the
	// event log opens.
	ln, err := net.Listen("tcp", u.apiAddr.value)
	if err != nil {
		return fmt.Errorf("listening on --api-addr: %w", err)
	}
	static, err := u.edge.staticHosts()
	if err != nil {
		ln.Close()
		return err
	}
	pcfg, err := u.pipe.config()
	if err != nil {
		ln.Close()
		return err
	}
	reg := health.NewRegistry(roleEventLog, roleEdge, rolePipeline, roleAPI)
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/healthz", reg)
	mux.Handle("/metrics", promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderLimit,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       idleLimit,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Debug("api listening", "api_addr", ln.Addr().String())

	stopHTTP := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
			return fmt.Errorf("stopping the API server: %w", err)
		}
		return nil
	}

	log.Debug("opening the event log", "data_dir", cfg.DataDir, "nats_url", redactURLs(cfg.URL),
		"partitions", cfg.Partitions, "sync_interval", u.syncInterval.String(),
		"retention_age", u.retentionAge.String(), "retention_bytes", u.retentionBytes.String())
	store, err := natsstore.Open(ctx, cfg, log)
	if err != nil {
		herr := stopHTTP()
		if ctx.Err() != nil { // stopped while starting: a clean stop
			log.Info("stopped before the event log was ready")
			return herr
		}
		if errors.Is(err, natsstore.ErrConfig) {
			return &usageError{err}
		}
		if errors.Is(err, natsstore.ErrDataDirInUse) {
			return fmt.Errorf("the data directory's event log is in use (stop that process, or give another --data): %w", err)
		}
		return errors.Join(fmt.Errorf("opening the event log: %w", err), herr)
	}

	promReg.MustRegister(storeCollectors(store)...)

	// Readiness: the event log is ready once it answers a ping, and is
	// watched for as long as the process runs.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { watchEventLog(watchCtx, store, pingInterval, reg, log) })

	// The edge, on the same event log.
	edgeCtx, stopEdge := context.WithCancel(ctx)
	defer stopEdge()
	edgeAddr := make(chan string, 1)
	edgeDone := make(chan error, 1)
	go func() {
		edgeDone <- roles.Edge(edgeCtx, store, roles.EdgeOptions{
			DataDir: cfg.DataDir, Addr: u.edgeAddr.value, Hosts: u.edge.hosts, FailClosed: u.edge.failClosed,
			StaticHosts: static, Registerer: promReg,
		}, log, func(a string) {
			edgeAddr <- a
			reg.Set(roleEdge, health.Ready)
		})
	}()

	// The API, on the same event log.
	apiSrv, apiWait, err := roles.API(edgeCtx, store, cfg.DataDir, promReg, log, roles.APIOptions{WebhookDenyPrivate: u.webhookDenyPrivate, Pipeline: pcfg})
	if err != nil {
		stopEdge()
		<-edgeDone
		stopWatch()
		wg.Wait()
		herr := stopHTTP()
		store.Close()
		return errors.Join(fmt.Errorf("starting the API: %w", err), herr)
	}
	defer apiWait()
	mux.Handle("/v1/", apiSrv)
	mux.Handle("/", console.Handler())
	reg.Set(roleAPI, health.Ready)

	// The pipeline, on the same event log.
	pipeDone := make(chan error, 1)
	go func() {
		pipeDone <- roles.Pipeline(edgeCtx, store, pcfg, promReg, log, func() { reg.Set(rolePipeline, health.Ready) })
	}()

	var runErr error
	edgeStopped, pipeStopped := false, false
	// ended is the error of a role that returned: none when halo up is
	// stopping and the role stopped with it (the signal can win the
	// select against the role's own return of nil; a clean stop then
	// failed with "pipeline: %!w(<nil>)"), else what it returned, or that
	// it stopped unasked.
	ended := func(role string, err error) error {
		switch {
		case ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)):
			return nil
		case err == nil:
			return fmt.Errorf("%s: stopped unexpectedly", role)
		case strings.HasPrefix(err.Error(), role+": "): // it names itself ("edge: edge: listen …")
			return err
		}
		return fmt.Errorf("%s: %w", role, err)
	}
	select {
	case <-ctx.Done():
	case <-reg.WhenReady():
		boundEdge := <-edgeAddr
		fmt.Fprintf(u.app.stderr, "halo is up: api http://%s (/v1/, /healthz, /metrics), edge %s, data %s, event log %s\n",
			ln.Addr(), boundEdge, cfg.DataDir, store.ClientURL())
		if cfg.DataDir != "" {
			if err := writeUpInfo(cfg.DataDir, upInfo{API: "http://" + ln.Addr().String(), Edge: boundEdge, PID: os.Getpid()}); err != nil {
				log.Warn("cannot advertise the edge's address in the data directory (halo sim needs --edge)", "error", err)
			}
			defer removeUpInfo(cfg.DataDir)
		}
		if u.demo.on {
			wg.Go(func() {
				err := runDemo(edgeCtx, store, cfg.DataDir, ln.Addr(), boundEdge, u.demo.devices,
					func(s string) { fmt.Fprint(u.app.stderr, s) }, log)
				if err != nil && edgeCtx.Err() == nil {
					log.Error("the demo stopped", "error", err)
				}
			})
		}
		select {
		case <-ctx.Done():
		case err := <-served:
			runErr = ended("API server", err)
		case err := <-edgeDone:
			edgeStopped = true
			runErr = ended("edge", err)
		case err := <-pipeDone:
			pipeStopped = true
			runErr = ended("pipeline", err)
		}
	case err := <-pipeDone:
		pipeStopped = true
		runErr = ended("pipeline", err)
	case err := <-served:
		runErr = ended("API server", err)
	case err := <-edgeDone:
		edgeStopped = true
		runErr = ended("edge", err)
	}

	log.Info("stopping")
	reg.SetAll(health.Stopping)
	stopEdge()
	if !edgeStopped {
		if err := <-edgeDone; err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("edge: %w", err))
		}
	}
	if !pipeStopped {
		if err := <-pipeDone; err != nil && !errors.Is(err, context.Canceled) {
			runErr = errors.Join(runErr, fmt.Errorf("pipeline: %w", err))
		}
	}
	herr := stopHTTP()
	stopWatch()
	wg.Wait()
	if err := store.Close(); err != nil {
		herr = errors.Join(herr, fmt.Errorf("closing the event log: %w", err))
	}
	if err := errors.Join(runErr, herr); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// pinger is what readiness needs from the event log.
type pinger interface {
	Ping(ctx context.Context) error
}

// watchEventLog pings the event log at once and then every interval until
// ctx ends: the role becomes Ready at the first answer, Unavailable when a
// ready log stops answering, Ready again when it answers.
func watchEventLog(ctx context.Context, p pinger, interval time.Duration, reg *health.Registry, log *slog.Logger) {
	ready, warned := false, false
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := p.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && !ready:
			reg.Set(roleEventLog, health.Ready)
			if warned {
				log.Info("event log answering again")
			}
			warned = false
		case err != nil && ready:
			reg.Set(roleEventLog, health.Unavailable)
			log.Warn("event log not answering", "error", err)
			warned = true
		case err != nil && !warned:
			log.Warn("event log not answering yet", "error", err)
			warned = true
		}
		ready = err == nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// storeCollectors export the event log store's counters (natsstore.Stats)
// as Prometheus metrics: what this process appended, and what its readers
// skipped (corrupt messages, unknown types, repeats), which were only in
// the log lines of the commands that read.
func storeCollectors(store *natsstore.Store) []prometheus.Collector {
	counter := func(name, help string, v func(natsstore.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(store.Stats())) })
	}
	return []prometheus.Collector{
		counter("halo_eventlog_appended_events_total", "Events this process appended to the log, acknowledged.", func(s natsstore.Stats) uint64 { return s.Appended }),
		counter("halo_eventlog_messages_total", "Log messages this process published (each carries one or more events).", func(s natsstore.Stats) uint64 { return s.Messages }),
		counter("halo_eventlog_corrupt_messages_total", "Log messages that did not decode, skipped by this process's readers.", func(s natsstore.Stats) uint64 { return s.Corrupt }),
		counter("halo_eventlog_unknown_events_total", "Events of types this build does not know, skipped by this process's readers.", func(s natsstore.Stats) uint64 { return s.Unknown }),
		counter("halo_eventlog_duplicate_events_total", "Repeated event ids dropped by this process's readers.", func(s natsstore.Stats) uint64 { return s.Duplicates }),
		counter("halo_eventlog_read_stalls_total", "Reads failed because pending events never came.", func(s natsstore.Stats) uint64 { return s.ReadStalls }),
		counter("halo_eventlog_storage_restarts_total", "Restarts of the embedded log's server after its storage failed a write (a full disk).", func(s natsstore.Stats) uint64 { return s.StorageRestarts }),
	}
}
