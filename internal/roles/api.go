package roles

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/api"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/policy"
)

// API builds the /v1/ API on the log: it loads the folds it reads
// (identities, alerts, interventions, policies) and follows them until ctx
// ends. The returned wait function blocks until the followers stopped.
func API(ctx context.Context, store events.Store, dataDir string, reg prometheus.Registerer, logger *slog.Logger) (*api.Server, func(), error) {
	ids, err := identity.Load(ctx, store)
	if err != nil {
		return nil, nil, err
	}
	als, err := alerts.Load(ctx, store)
	if err != nil {
		return nil, nil, err
	}
	ivs, err := intervention.Load(ctx, store)
	if err != nil {
		return nil, nil, err
	}
	pols, err := policy.Load(ctx, store)
	if err != nil {
		return nil, nil, err
	}
	var ca *identity.CA
	if dataDir != "" {
		if ca, err = identity.LoadOrCreateCA(dataDir); err != nil {
			return nil, nil, err
		}
	}
	srv, err := api.New(api.Config{Store: store, Registry: ids, Alerts: als, Interventions: ivs, Policies: pols, CA: ca,
		Logger: logger.With("component", "api"), Metrics: reg})
	if err != nil {
		return nil, nil, err
	}
	var wg sync.WaitGroup
	follow := func(name string, fn func(context.Context, events.Store) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := fn(ctx, store); err != nil && ctx.Err() == nil {
					logger.Warn("api: following the log failed; retrying", "fold", name, "error", err)
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
				}
			}
		}()
	}
	follow("identities", ids.Follow)
	follow("alerts", als.Follow)
	follow("interventions", ivs.Follow)
	follow("policies", pols.Follow)
	return srv, wg.Wait, nil
}
