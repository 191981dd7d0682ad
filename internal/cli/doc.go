// Package cli is Halo's command line: the `halo` root command and one file
// per command group (up, events, version), built with cobra. It parses and
// validates flags, builds the injected logger (log/slog to standard error),
// maps flags onto the configuration structs of the packages that do the work
// (events/natsstore, internal/health) and runs them under the context that
// cmd/halo cancels on SIGINT and SIGTERM. Commands keep standard output for
// their results (one JSON object per line) and everything else — logs,
// counts, errors — goes to standard error.
package cli
