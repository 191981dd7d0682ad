package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/console"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/internal/health"
	"github.com/halo-sec/halo/internal/roles"
)

func newAPICmd(a *app) *cobra.Command {
	var (
		sf           = storeFlags{role: true}
		pf           pipelineFlags
		addr         = addrFlag{value: "127.0.0.1:8080", allowZeroPort: true}
		denyPrivate  bool
		liveSettings bool
	)
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve the alert API alone (/v1/, /healthz, /metrics)",
		Long: `Serve only Halo's HTTP API against the event log of --data (the running
halo up's, or one started here) or of --nats: /v1/ (Bearer tokens from halo
tenants create / halo tenants token add; the OpenAPI 3 document at
/v1/openapi.json), /healthz and /metrics. Every write goes through the log;
reads come from folds that follow it, so several API processes can serve one
log. The pipeline flags say how GET /v1/devices/{id}/timeline recomputes
feature windows and scores; those left unset are the live pipeline's, as it
recorded them in the log when this API started.`,
		Example: `  halo api --data /var/lib/halo --addr 0.0.0.0:8080
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/alerts?status=open`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pcfg, err := pf.config()
			if err != nil {
				return err
			}
			cfg, err := sf.config(natsstore.ModeAuto)
			if err != nil {
				return err
			}
			cfg.Holder = a.command
			store, err := natsstore.Open(ctx, cfg, a.logger)
			if err != nil {
				return openError(ctx, err)
			}
			defer store.Close()
			if liveSettings { // at start: a later change of the pipeline's needs a restart
				if _, err := applyLiveSettings(ctx, a, cmd.Flags(), store, &pcfg, time.Time{}, time.Time{}); err != nil {
					return err
				}
			}
			reg := prometheus.NewRegistry()
			fctx, stop := context.WithCancel(ctx)
			defer stop()
			srv, wait, err := roles.API(fctx, store, cfg.DataDir, reg, a.logger, roles.APIOptions{WebhookDenyPrivate: denyPrivate, Pipeline: pcfg})
			if err != nil {
				return err
			}
			defer wait()
			ln, err := net.Listen("tcp", addr.value)
			if err != nil {
				return fmt.Errorf("--addr: %w", err)
			}
			hreg := health.NewRegistry(roleAPI)
			hreg.Set(roleAPI, health.Ready)
			mux := http.NewServeMux()
			mux.Handle("/v1/", srv)
			mux.Handle("/", console.Handler())
			mux.Handle("/healthz", hreg)
			mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			hs := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderLimit, IdleTimeout: idleLimit, ErrorLog: slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn)}
			served := make(chan error, 1)
			go func() { served <- hs.Serve(ln) }()
			fmt.Fprintf(a.stderr, "halo api is up: http://%s (/v1/, /healthz, /metrics), event log %s\n", ln.Addr(), store.ClientURL())
			select {
			case <-ctx.Done():
			case err := <-served:
				if !errors.Is(err, http.ErrServerClosed) {
					return err
				}
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			stop()
			return hs.Shutdown(sctx)
		},
	}
	sf.register(cmd.Flags(), dataDirHelp)
	pf.register(cmd.Flags())
	liveSettingsFlag(cmd.Flags(), &liveSettings)
	cmd.Flags().BoolVar(&denyPrivate, "webhook-deny-private", false, "refuse webhook URLs that resolve to loopback, private or link-local addresses (e.g. --webhook-deny-private)")
	cmd.Flags().Var(&addr, "addr", "address to serve on; port 0 picks a free port, shown in the ready line (e.g. --addr 0.0.0.0:8080)")
	return cmd
}
