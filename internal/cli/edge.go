package cli

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/halo-sec/halo/internal/roles"
)

// edgeFlags are the edge's flags, shared by halo edge and halo up.
type edgeFlags struct {
	hosts      []string
	resolve    []string
	failClosed bool
}

func (f *edgeFlags) register(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.hosts, "edge-host", nil, "extra DNS `NAME` or IP in the edge's certificate, as devices dial it (repeatable; localhost, 127.0.0.1 and ::1 are always in; e.g. --edge-host edge.example.com)")
	fs.StringArrayVar(&f.resolve, "edge-resolve", nil, "resolve `NAME=IP` at the edge without DNS, like curl --resolve; *.DOMAIN covers every name under DOMAIN (repeatable; e.g. --edge-resolve pay.example=10.0.0.5, --edge-resolve '*.sim.halo.test=127.0.0.1')")
	fs.BoolVar(&f.failClosed, "fail-closed", false, "refuse new device connections while the event log is unreachable, instead of forwarding and spooling events to disk (e.g. --fail-closed)")
}

func (f *edgeFlags) staticHosts() (map[string]netip.Addr, error) {
	if len(f.resolve) == 0 {
		return nil, nil
	}
	out := map[string]netip.Addr{}
	for _, r := range f.resolve {
		name, ip, ok := strings.Cut(r, "=")
		a, err := netip.ParseAddr(strings.TrimSpace(ip))
		if !ok || name == "" || err != nil {
			return nil, usageErrorf("--edge-resolve %q: want NAME=IP (e.g. pay.example=127.0.0.1)", r)
		}
		out[strings.ToLower(strings.TrimSpace(name))] = a
	}
	return out, nil
}

func newEdgeCmd(a *app) *cobra.Command {
	var (
		sf    = storeFlags{role: true}
		ef    edgeFlags
		addr  = addrFlag{value: defaultEdge}
		maddr = addrFlag{allowZeroPort: true}
	)
	cmd := &cobra.Command{
		Use:   "edge",
		Short: "Run the edge alone: the mTLS proxy devices send their traffic through",
		Long: `Run only the edge, against the event log of --data (the running halo up's,
or one started here) or of --nats. halo up runs the same edge with the other
roles; run halo edge to add edges, e.g. one per site, sharing a NATS cluster.

The edge requires a client certificate from Halo's CA (halo devices enroll),
serves CONNECT host:port for any TCP stream (TLS inside stays opaque: it
records the SNI and a ClientHello fingerprint, sizes and timing) and
absolute-form plain HTTP requests, which it fingerprints (tx.observed). It
enforces blocks, quarantines and the replay shield, and records every
connection. Payments inside TLS cannot be fingerprinted by the edge.

If the event log is unreachable the edge keeps forwarding (or, with
--fail-closed, refuses new connections) and spools its events to
DIR/spool/edge, draining them when the log is back. It stops cleanly on
SIGINT/SIGTERM: stops accepting, lets connections finish (10s), flushes its
events.`,
		Example: `  halo edge --data /var/lib/halo --addr 0.0.0.0:8443 --edge-host edge.example.com
  halo edge --nats nats://nats-1:4222 --nats-creds halo.creds --data /var/lib/halo-edge --addr :8443`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			static, err := ef.staticHosts()
			if err != nil {
				return err
			}
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			promReg := prometheus.NewRegistry()
			stopMetrics, err := serveMetrics(maddr.value, promReg)
			if err != nil {
				return err
			}
			defer stopMetrics()
			err = roles.Edge(ctx, store, roles.EdgeOptions{
				DataDir: store.DataDir(), Addr: addr.value, Hosts: ef.hosts, FailClosed: ef.failClosed, StaticHosts: static, Registerer: promReg,
			}, a.logger, func(bound string) {
				fmt.Fprintf(a.stderr, "halo edge is up: devices connect to %s, event log %s, data %s\n", bound, store.ClientURL(), store.DataDir())
			})
			if err != nil && ctx.Err() == nil {
				return err
			}
			return err
		},
	}
	fs := cmd.Flags()
	sf.register(fs, dataDirHelp)
	ef.register(fs)
	fs.Var(&addr, "addr", "address devices connect to (e.g. --addr 0.0.0.0:8443)")
	fs.Var(&maddr, "metrics-addr", "serve Prometheus metrics on GET http://ADDR/metrics (e.g. --metrics-addr 127.0.0.1:9101)")
	return cmd
}
