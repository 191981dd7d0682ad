package roles

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/halo-sec/halo/pipeline"
)

// Pipeline runs the detection pipeline until ctx ends: it rebuilds its state
// from the log, then consumes live. ready is called once it consumes.
func Pipeline(ctx context.Context, store pipeline.Store, cfg pipeline.Config, reg prometheus.Registerer, logger *slog.Logger, ready func()) error {
	cfg = cfg.OfLog(store)
	if ds, ok := store.(interface{ DataDir() string }); ok && cfg.ModelDir == "" && ds.DataDir() != "" {
		cfg.ModelDir = filepath.Join(ds.DataDir(), "models")
	}
	live, err := pipeline.NewLive(cfg, store, reg, logger.With("component", "pipeline"))
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-live.Ready():
			if ready != nil {
				ready()
			}
		case <-ctx.Done():
		}
	}()
	return live.Run(ctx)
}
