package roles

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/api"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/policy"
	"github.com/halo-sec/halo/webhooks"
)

// APIOptions are the optional settings of the API role.
type APIOptions struct {
	// WebhookDenyPrivate refuses webhook URLs resolving to loopback,
	// private or link-local addresses (--webhook-deny-private). Default
	// false.
	WebhookDenyPrivate bool
	// Pipeline is the pipeline configuration device timelines recompute
	// feature windows and scores with (api.Config.Pipeline): the running
	// pipeline's. Default: the pipeline's defaults.
	Pipeline pipeline.Config
}

// API builds the /v1/ API on the log: it loads the folds it reads
// (identities, alerts, interventions, policies) and follows them until ctx
// ends, and runs the alert stream and, with a data directory, the webhook
// engine (state in DATA/webhooks). The returned wait function blocks until
// the followers stopped.
func API(ctx context.Context, store events.Store, dataDir string, reg prometheus.Registerer, logger *slog.Logger, opts ...APIOptions) (*api.Server, func(), error) {
	var opt APIOptions
	if len(opts) > 0 {
		opt = opts[0]
	}
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
	var (
		hooks      *webhooks.Engine
		noWebhooks string
	)
	if dataDir != "" {
		hooks, err = webhooks.New(webhooks.Config{Dir: filepath.Join(dataDir, "webhooks"), DenyPrivate: opt.WebhookDenyPrivate,
			Logger: logger.With("component", "webhooks"), Metrics: reg})
		if errors.Is(err, webhooks.ErrInUse) {
			// Another API of this data directory (halo up's) delivers
			// them: a second engine would deliver every alert again.
			noWebhooks = "another process of this data directory serves them (" + err.Error() + "); use its API for /v1/webhooks"
			logger.Warn("api: serving no webhooks: another process of this data directory does", "error", err)
			hooks, err = nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
	}
	seen := &lastSeen{at: map[string]time.Time{}}
	srv, err := api.New(api.Config{Store: store, Registry: ids, Alerts: als, Interventions: ivs, Policies: pols, CA: ca,
		Logger: logger.With("component", "api"), Metrics: reg, Webhooks: hooks, NoWebhooks: noWebhooks, LastSeen: seen.get, Pipeline: opt.Pipeline})
	if err != nil {
		if hooks != nil {
			hooks.Close()
		}
		return nil, nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		seen.follow(ctx, store, logger)
	}()
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
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Run(ctx); err != nil {
			logger.Warn("api: the alert stream stopped", "error", err)
		}
	}()
	if hooks != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hooks.Run(ctx)
			hooks.Close()
		}()
	}
	return srv, wg.Wait, nil
}
