package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/publish"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/policy"
	"github.com/halo-sec/halo/tunnel"
	"github.com/halo-sec/halo/tunnel/fingerprint"
)

// EdgeOptions configure the edge role.
type EdgeOptions struct {
	// DataDir holds the CA, the tenants' fingerprint keys and the edge's
	// spool (DataDir/spool/edge).
	DataDir string
	// Addr to listen on for devices.
	Addr string
	// Hosts in the edge's certificate besides the defaults.
	Hosts []string
	// FailClosed refuses new connections while the log is unreachable.
	FailClosed bool
	// StaticHosts resolves names without DNS (name → IP).
	StaticHosts map[string]netip.Addr
	// Registerer for the edge's and the publisher's metrics; may be nil.
	Registerer prometheus.Registerer
	// Tune adjusts the edge configuration (limits, timeouts) before start.
	Tune func(*tunnel.Config)
}

// Edge runs the edge until ctx ends: it folds identities, interventions and
// policies from the log and follows them, rebuilds the replay shield,
// publishes its events through a spooling publisher, and serves devices.
// ready is called with the bound address once it listens. On return every
// event has been handed to the log or its spool.
func Edge(ctx context.Context, store events.Store, o EdgeOptions, logger *slog.Logger, ready func(addr string)) error {
	ca, err := identity.LoadOrCreateCA(o.DataDir)
	if err != nil {
		return err
	}
	reg, err := identity.Load(ctx, store)
	if err != nil {
		return err
	}
	ivs, err := intervention.Load(ctx, store)
	if err != nil {
		return err
	}
	pols, err := policy.Load(ctx, store)
	if err != nil {
		return err
	}
	pub, err := publish.New(publish.Config{SpoolDir: filepath.Join(o.DataDir, "spool", "edge")}, store, logger.With("component", "publisher"))
	if err != nil {
		return err
	}
	if o.Registerer != nil {
		if err := pub.Register(o.Registerer, "halo_edge_publisher"); err != nil {
			return err
		}
	}
	var keyMu sync.Mutex
	keyers := map[string]*fingerprint.Keyer{}
	cfg := tunnel.Config{
		Addr: o.Addr, CA: ca, Registry: reg, Interventions: ivs, Policies: pols, Emitter: pub, Health: pub,
		FailClosed: o.FailClosed, StaticHosts: o.StaticHosts, Metrics: tunnel.NewMetrics(o.Registerer),
		Keyer: func(tenant string) (*fingerprint.Keyer, error) {
			keyMu.Lock()
			defer keyMu.Unlock()
			if k, ok := keyers[tenant]; ok {
				return k, nil
			}
			secret, err := identity.TenantSecret(o.DataDir, tenant)
			if err != nil {
				return nil, err
			}
			k, err := fingerprint.NewKeyer(secret)
			if err != nil {
				return nil, err
			}
			keyers[tenant] = k
			return k, nil
		},
	}
	if len(o.Hosts) > 0 {
		cfg.Hosts = append([]string{"localhost", "127.0.0.1", "::1"}, o.Hosts...)
	}
	if o.Tune != nil {
		o.Tune(&cfg)
	}
	edge, err := tunnel.New(cfg, logger.With("component", "edge"))
	if err != nil {
		return err
	}
	if n, err := edge.RebuildShield(ctx, store, maxHorizon(pols, reg)); err != nil {
		return err
	} else if n > 0 {
		logger.Info("replay shield rebuilt from the log", "fingerprints", n)
	}
	if err := edge.Listen(); err != nil {
		return err
	}

	rctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	follow := func(name string, fn func(context.Context, events.Store) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rctx.Err() == nil {
				if err := fn(rctx, store); err != nil && rctx.Err() == nil {
					logger.Warn("following the log failed; retrying", "fold", name, "error", err)
					select {
					case <-rctx.Done():
					case <-time.After(time.Second):
					}
				}
			}
		}()
	}
	follow("identities", reg.Follow)
	follow("interventions", ivs.Follow)
	follow("policies", pols.Follow)
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(rctx) }()

	if ready != nil {
		ready(edge.Addr())
	}
	runErr := edge.Run(ctx)
	// The edge has emitted every connection's events: flush them.
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	closeErr := pub.Close(cctx)
	cancel()
	wg.Wait()
	<-pubDone
	if closeErr != nil {
		closeErr = fmt.Errorf("flushing the edge's events: %w", closeErr)
	}
	return errors.Join(runErr, closeErr)
}

// maxHorizon is the longest replay-shield horizon of any tenant.
func maxHorizon(pols *policy.Set, reg *identity.Registry) time.Duration {
	h := time.Duration(policy.Default().ReplayShield.Horizon)
	for _, t := range reg.Tenants() {
		if th := time.Duration(pols.For(t.Name).ReplayShield.Horizon); th > h {
			h = th
		}
	}
	return h
}
