package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"

	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/identity"
)

// openStore opens the event log for a command that reads and writes it:
// the running halo up's, else one started for the command.
func openStore(ctx context.Context, a *app, f *storeFlags) (*natsstore.Store, error) {
	cfg, err := f.config(natsstore.ModeAuto)
	if err != nil {
		return nil, err
	}
	store, err := natsstore.Open(ctx, cfg, a.logger)
	if err != nil {
		return nil, openError(ctx, err)
	}
	return store, nil
}

// loadRegistry folds the identities of the log.
func loadRegistry(ctx context.Context, store *natsstore.Store) (*identity.Registry, error) {
	reg, err := identity.Load(ctx, store)
	if err != nil {
		return nil, fmt.Errorf("reading tenants and devices: %w", err)
	}
	return reg, nil
}

// actor names who did something from the command line, for the log.
func actor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	if h, err := os.Hostname(); err == nil {
		return "cli@" + h
	}
	return "cli"
}
