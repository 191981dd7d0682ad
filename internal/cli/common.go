package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/identity"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// openStore opens the event log for a command that reads and writes it:
// the running halo up's, else one started for the command.
func openStore(ctx context.Context, a *app, f *storeFlags) (*natsstore.Store, error) {
	cfg, err := f.config(natsstore.ModeAuto)
	if err != nil {
		return nil, err
	}
	cfg.Holder = a.command
	store, err := natsstore.Open(ctx, cfg, a.logger)
	if err != nil {
		return nil, openError(ctx, err)
	}
	return store, nil
}

// openRegistry opens the log and folds its tenants and devices; the caller
// closes the store.
func openRegistry(ctx context.Context, a *app, f *storeFlags) (*natsstore.Store, *identity.Registry, error) {
	store, err := openStore(ctx, a, f)
	if err != nil {
		return nil, nil, err
	}
	reg, err := identity.Load(ctx, store)
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("reading tenants and devices: %w", err)
	}
	return store, reg, nil
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

// serveMetrics serves reg's Prometheus metrics on addr (--metrics-addr)
// until the returned stop is called; nothing when addr is empty.
func serveMetrics(addr string, reg *prometheus.Registry) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderLimit}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}

// removeStaleSortDirs removes the sorted runs that interrupted replays,
// imports and exports left in dir (events.RemoveStaleSortDirs), saying so
// on stderr.
func removeStaleSortDirs(a *app, dir string) {
	n, err := events.RemoveStaleSortDirs(dir)
	if err != nil {
		fmt.Fprintf(a.stderr, "warning: removing sorted runs that an interrupted run left in %s: %v\n", dir, err)
	}
	if n > 0 {
		fmt.Fprintf(a.stderr, "removed %d directories of sorted runs that interrupted runs left in %s\n", n, dir)
	}
}

// checkOutDir checks --out, a directory a command writes into, before it
// does any work: given, and not an existing file.
func checkOutDir(out string) error {
	if out == "" {
		return usageErrorf("--out is required")
	}
	if fi, err := os.Stat(out); err == nil && !fi.IsDir() {
		return usageErrorf("--out %s is a file: give a directory (it is made if missing)", out)
	}
	return nil
}

// requireTenant: a --tenant naming no tenant of the log is an error that
// lists those there are (a typo listed nothing, or the default policy,
// silently). Nothing to check when name is empty.
func requireTenant(ctx context.Context, store events.Store, name string) error {
	if name == "" {
		return nil
	}
	reg, err := identity.Load(ctx, store)
	if err != nil {
		return fmt.Errorf("reading tenants and devices: %w", err)
	}
	return knownTenant(reg, name)
}

// knownTenant is requireTenant's check on a registry already loaded.
func knownTenant(reg *identity.Registry, name string) error {
	if name == "" {
		return nil
	}
	if _, ok := reg.Tenant(name); ok {
		return nil
	}
	var names []string
	for _, t := range reg.Tenants() {
		names = append(names, t.Name)
	}
	switch {
	case len(names) == 0:
		return fmt.Errorf("no tenant %q: the event log has none yet (halo tenants create NAME)", name)
	case len(names) > 10:
		names = append(names[:10], fmt.Sprintf("… %d more: halo tenants ls", len(names)-10))
	}
	return fmt.Errorf("no tenant %q in the event log (tenants: %s)", name, strings.Join(names, ", "))
}

// warnTrimmed tells standard error when a range read from the log starts
// (from; zero: the log's beginning) before the oldest event its retention
// kept: the older events are gone, and a report over the range would
// otherwise not say so.
func warnTrimmed(ctx context.Context, a *app, store *natsstore.Store, from time.Time) {
	trimmed, oldest, err := store.Trimmed(ctx)
	if err != nil || !trimmed || !from.IsZero() && !from.Before(oldest) {
		return
	}
	fmt.Fprintf(a.stderr, "warning: the log's retention removed its oldest events: it holds those recorded since %s, and nothing before is read\n",
		oldest.UTC().Format(time.RFC3339))
}
