package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes of Main.
const (
	ExitOK          = 0   // success, including a clean stop on SIGINT/SIGTERM
	ExitFailure     = 1   // the command failed
	ExitUsage       = 2   // bad command line: unknown command or flag, invalid value
	ExitInterrupted = 130 // a command that runs to completion was interrupted
)

// Main runs the halo command line with args (without the program name) and
// returns the process exit code. ctx is cancelled when the process is asked
// to stop (cmd/halo cancels it on SIGINT and SIGTERM). Results go to stdout;
// logs, diagnostics and errors go to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, logger: slog.New(slog.DiscardHandler)}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "halo: %v\n", err)
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return ExitUsage
	case errors.Is(err, errInterrupted):
		return ExitInterrupted
	}
	return ExitFailure
}

// app is the state every command shares: the output streams and the logger
// built from the global flags before any command runs.
type app struct {
	stdout, stderr io.Writer
	logger         *slog.Logger

	logLevel  *choiceFlag
	logFormat *choiceFlag
	// command is the command being run ("halo replay"): it names this
	// process to others on the same data directory.
	command string
}

// usageError marks an error in the command line itself (exit code 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// errInterrupted is returned by commands that stop short of their result
// because the process was asked to stop.
var errInterrupted = errors.New("interrupted")

func newRootCmd(a *app) *cobra.Command {
	a.logLevel = newChoice("info", "debug", "info", "warn", "error")
	a.logFormat = newChoice("text", "text", "json")
	root := &cobra.Command{
		Use:   "halo",
		Short: "Halo secures fleets of IoT devices from the network side",
		Long: `Halo secures fleets of IoT devices (first: Android point-of-sale terminals)
without touching their apps. Devices send their traffic through an mTLS edge
that records every connection and payment fingerprint as an immutable event;
a pipeline turns events into features, scores and alerts, and any detector
can be re-run over the past.

The binary runs every role in one process (halo up; halo up --demo adds a
simulated fleet under attack) or each alone: the event log (embedded NATS
JetStream), the edge, the detection pipeline and the alert API with its web
console. It manages tenants, devices, blocks, policies and models; backtests
detectors over history (halo replay), writes incident timelines (halo
incident), imports Zeek logs and labels, exports Parquet for data science
(halo export) and trains and evaluates models (halo models).

Logs go to standard error; results go to standard output.`,
		Example: `  # Run Halo on this machine with a simulated fleet under attack
  halo up --demo

  # Run Halo on this machine with embedded defaults
  halo up

  # Print every event of the last hour, one JSON object per line
  halo events ls --from 1h

  # Debug logs as JSON
  halo --log-level debug --log-format json up`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE:          runGroup,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.logger, a.command = a.newLogger(), cmd.CommandPath()
			return nil
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	pf := root.PersistentFlags()
	pf.Var(a.logLevel, "log-level", "minimum level of the logs written to standard error: debug, info, warn or error (e.g. --log-level debug)")
	pf.Var(a.logFormat, "log-format", "log format on standard error: text (key=value pairs) or json (one object per line, for log shippers; e.g. --log-format json)")

	root.AddCommand(newUpCmd(a), newEdgeCmd(a), newPipelineCmd(a), newAPICmd(a), newAgentCmd(a), newTenantsCmd(a), newDevicesCmd(a), newBlockCmd(a), newPolicyCmd(a), newImportCmd(a), newReplayCmd(a), newIncidentCmd(a), newSimCmd(a), newExportCmd(a), newModelsCmd(a), newLabelsCmd(a), newEventsCmd(a), newVersionCmd(a))
	return root
}

// runGroup is the RunE of a command that only groups subcommands: without
// arguments it shows the help, with any it reports the unknown command.
func runGroup(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
	}
	return &usageError{errors.New(msg)}
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q (flags start with --)", cmd.CommandPath(), args[0])
	}
	return nil
}

// newLogger builds the process logger from --log-level and --log-format.
// Keys are snake_case throughout Halo (device_id, data_dir, event_id).
func (a *app) newLogger() *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(a.logLevel.value)) // the flag allows valid names only
	opts := &slog.HandlerOptions{Level: level}
	if a.logFormat.value == "json" {
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}

// changed reports whether the user set the named flag.
func changed(fs *pflag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Changed
}
