package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

func newEventsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Read the event log: list past events, follow new ones",
		Long: `Read Halo's event log. Standard output holds exactly one JSON object per
line and nothing else: the event envelope (id, type as a dotted name, schema,
tenant, device, time, recorded, seq) with its payload decoded. Counts and
errors go to standard error.

The log is found the same way by every subcommand: with --nats, on that
NATS server; else, if a 'halo up' is running on the data directory, through
it; else the command opens the data directory's log itself.`,
		Example: `  halo events ls --from 1h
  halo events tail --type alert.raised`,
		Args: cobra.ArbitraryArgs,
		RunE: runGroup,
	}
	cmd.AddCommand(newEventsLsCmd(a), newEventsTailCmd(a))
	return cmd
}

// filterFlags are the event filters common to ls and tail.
type filterFlags struct {
	tenant tenantFlag
	device deviceFlag
	types  typesFlag
	from   timeFlag
}

func (f *filterFlags) register(fs *pflag.FlagSet, fromHelp string) {
	fs.Var(&f.tenant, "tenant", "only events of this tenant (e.g. --tenant acme)")
	fs.Var(&f.device, "device", "only events about this device id (e.g. --device pos-00042)")
	fs.Var(&f.types, "type", "only events of these types; repeat or separate with commas (e.g. --type conn.opened,tx.observed --type alert.raised)")
	fs.Var(&f.from, "from", fromHelp)
}

type eventsLsCmd struct {
	app     *app
	store   storeFlags
	filters filterFlags
	to      timeFlag
}

func newEventsLsCmd(a *app) *cobra.Command {
	c := &eventsLsCmd{app: a, store: storeFlags{mustExist: true}}
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "Print every event matching the filters, one JSON object per line",
		Long: `Print every event of the log that matches the filters, in log order, one
JSON object per line on standard output; there is no default limit. Time
bounds are in event time (when it happened, not when it was recorded), so
history imported today is found by its own dates: --from is inclusive,
--to exclusive.

Times are RFC 3339 (2026-11-27T05:00:00Z), a date (2026-11-27, midnight UTC),
or a duration meaning that long ago (90s, 15m, 1h, 7d).

The number of events printed goes to standard error. The exit status is 0
when the whole range was read, 1 on an error, 130 when interrupted.`,
		Example: `  # Everything
  halo events ls

  # One device's connections of the last hour
  halo events ls --device pos-00042 --type conn.opened,conn.closed --from 1h

  # A tenant's alerts in November 2026, through jq
  halo events ls --tenant acme --type alert.raised --from 2026-11-01 --to 2026-12-01 | jq .payload

  # From another data directory, or from an external NATS
  halo events ls --data /var/lib/halo
  halo events ls --nats nats://nats-1:4222 --nats-creds halo.creds`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.run(cmd.Context()) },
	}
	fs := cmd.Flags()
	c.filters.register(fs, "only events at or after this event time: RFC 3339, a date, or a duration ago (e.g. --from 1h, --from 2026-11-27T05:00:00Z)")
	fs.Var(&c.to, "to", "only events before this event time, same forms as --from (e.g. --to 2026-11-28, --to 30m)")
	c.store.register(fs, dataDirHelp)
	return cmd
}

func (c *eventsLsCmd) query() (events.Query, error) {
	f := &c.filters
	q := events.Query{From: f.from.value, To: c.to.value, Tenant: f.tenant.value, Device: f.device.value, Types: f.types.types}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, usageErrorf("--from %s is not before --to %s", f.from.String(), c.to.String())
	}
	return q, nil
}

func (c *eventsLsCmd) run(ctx context.Context) error {
	q, err := c.query()
	if err != nil {
		return err
	}
	cfg, err := c.store.config(natsstore.ModeAuto)
	if err != nil {
		return err
	}
	cfg.Holder = c.app.command
	log := c.app.logger
	store, err := natsstore.Open(ctx, cfg, log)
	if err != nil {
		return openError(ctx, err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Warn("closing the event log", "error", err)
		}
	}()
	n, err := writeEvents(c.app.stdout, store.Read(ctx, q))
	reportSkipped(c.app, store.Stats())
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w after %d events", errInterrupted, n)
		}
		return fmt.Errorf("after %d events: %w", n, err)
	}
	log.Info("listed events", "count", n)
	return nil
}

// errOutput marks a failure to write standard output.
var errOutput = errors.New("writing standard output")

// writeEvents writes each event of seq as one JSON line to out, buffered,
// and returns how many it wrote. It stops at the first error of seq or of
// out; the lines before it are flushed.
func writeEvents(out io.Writer, seq iter.Seq2[events.Event, error]) (n int, err error) {
	w := bufio.NewWriterSize(out, 64<<10)
	var line []byte
	for ev, rerr := range seq {
		if rerr != nil {
			err = fmt.Errorf("reading the event log: %w", rerr)
			break
		}
		line = append(ev.AppendJSON(line[:0]), '\n')
		if _, werr := w.Write(line); werr != nil {
			return n, fmt.Errorf("%w: %w", errOutput, werr)
		}
		n++
	}
	if ferr := w.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("%w: %w", errOutput, ferr)
	}
	return n, err
}

type eventsTailCmd struct {
	app     *app
	store   storeFlags
	filters filterFlags
}

func newEventsTailCmd(a *app) *cobra.Command {
	c := &eventsTailCmd{app: a, store: storeFlags{mustExist: true}}
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Follow new events as they are appended, one JSON object per line",
		Long: `Follow the event log: print each new event matching the filters as soon as
it is appended, one JSON object per line on standard output (flushed after
every delivery), until interrupted (Ctrl-C or SIGTERM, exit status 0).

Without --from it starts after the last event in the log now. With --from it
first prints what the log recorded since then: for tail, --from is log time
(when the event was recorded), which is what a live feed is ordered by.

Run it against the data directory of a running 'halo up', or with --nats.`,
		Example: `  # Every new event
  halo events tail

  # New alerts of one tenant
  halo events tail --tenant acme --type alert.raised,alert.updated

  # What one device did in the last 10 minutes, then follow it
  halo events tail --device pos-00042 --from 10m`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.run(cmd.Context()) },
	}
	fs := cmd.Flags()
	c.filters.register(fs, "start with the events recorded since this log time instead of only new ones: RFC 3339, a date, or a duration ago (e.g. --from 10m)")
	c.store.register(fs, dataDirHelp)
	return cmd
}

func (c *eventsTailCmd) run(ctx context.Context) error {
	cfg, err := c.store.config(natsstore.ModeAuto)
	if err != nil {
		return err
	}
	cfg.Holder = c.app.command
	f := &c.filters
	opts := events.SubscribeOptions{Tenant: f.tenant.value, Device: f.device.value, Types: f.types.types}
	if f.from.value.IsZero() {
		opts.NewOnly = true
	} else {
		opts.StartTime = f.from.value
	}
	log := c.app.logger
	total := 0
	for {
		n, next, err := c.tail(ctx, cfg, opts)
		total += n
		if errors.Is(err, natsstore.ErrHandedOver) {
			// halo up started on the data directory this tail served
			// for itself: follow on through halo up's server, from
			// where it stopped.
			log.Info("halo up took over the event log: following on through it", "from_seq", next.StartSeq)
			opts, cfg.AwaitServer = next, true
			continue
		}
		log.Info("stopped following", "count", total)
		return err
	}
}

// tail follows the log until ctx ends or the subscription fails. It
// returns the options that follow on from where it stopped (the position
// after the last delivery, or after the end of the log when it
// subscribed).
func (c *eventsTailCmd) tail(ctx context.Context, cfg natsstore.Config, opts events.SubscribeOptions) (int, events.SubscribeOptions, error) {
	log := c.app.logger
	store, err := natsstore.Open(ctx, cfg, log)
	if err != nil {
		if ctx.Err() != nil { // interrupted: the normal end of tail
			return 0, opts, nil
		}
		return 0, opts, openError(ctx, err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Warn("closing the event log", "error", err)
		}
	}()
	next := opts
	if opts.NewOnly {
		last, err := store.LastSeq(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return 0, opts, nil
			}
			return 0, opts, fmt.Errorf("subscribing to the event log: %w", err)
		}
		next.NewOnly, next.StartSeq = false, last+1
		opts = next
	}
	sub, err := store.Subscribe(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			return 0, opts, nil
		}
		return 0, opts, fmt.Errorf("subscribing to the event log: %w", err)
	}
	defer sub.Close()
	log.Info("following the event log", "nats_url", store.ClientURL())
	n, err := follow(ctx, sub, c.app.stdout, func(seq uint64) { next.StartSeq, next.StartTime = seq+1, time.Time{} })
	reportSkipped(c.app, store.Stats())
	return n, next, err
}

// follow writes every event sub delivers as one JSON line to out, flushing
// after each delivery, until ctx ends (a nil error) or the subscription or
// out fails.
func follow(ctx context.Context, sub events.Subscription, out io.Writer, done func(seq uint64)) (n int, err error) {
	w := bufio.NewWriterSize(out, 64<<10)
	var line []byte
	for {
		d, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return n, nil
			}
			return n, fmt.Errorf("following the event log: %w", err)
		}
		for i := range d.Events {
			line = append(d.Events[i].AppendJSON(line[:0]), '\n')
			if _, err := w.Write(line); err != nil {
				return n, fmt.Errorf("%w: %w", errOutput, err)
			}
			n++
		}
		if err := w.Flush(); err != nil {
			return n, fmt.Errorf("%w: %w", errOutput, err)
		}
		done(d.Seq)
		if err := d.Ack(ctx); err != nil && ctx.Err() == nil {
			return n, fmt.Errorf("acknowledging delivery %d: %w", d.Seq, err)
		}
	}
}

// openError explains a failure to open the event log for reading.
func openError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w while opening the event log", errInterrupted)
	}
	return fmt.Errorf("opening the event log: %w", err)
}

// reportSkipped tells standard error about log messages readers skipped.
func reportSkipped(a *app, st natsstore.Stats) {
	if st.Corrupt > 0 || st.Unknown > 0 {
		a.logger.Warn("skipped log messages", "corrupt", st.Corrupt, "unknown_type", st.Unknown)
	}
}
