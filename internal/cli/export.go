package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/export"
	"github.com/halo-sec/halo/pipeline"
)

func newExportCmd(a *app) *cobra.Command {
	var (
		sf                     = storeFlags{mustExist: true}
		from, to               timeFlag
		tenant                 tenantFlag
		window, lateness, warm durationFlag
		out                    string
		scores, overwrite      bool
		liveSettings           bool
		rowsPerFile, sortBuf   int
		tables                 []string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export a range of the log as Parquet tables for data science",
		Long: `Export a range of the event log (everything without --from/--to) as
Parquet tables, each a Hive-partitioned dataset rooted at OUTDIR/<table>/
(OUTDIR/<table>/tenant=…/date=…/part-N.parquet, zstd-compressed):

  connections   one row per connection (conn.closed joined with its conn.opened)
  transactions  one row per tx.observed
  features      one row per device window: the pipeline's feature vector,
                computed by the same code as the live pipeline and halo
                replay, the window's label (malicious, label) from
                label.recorded events and, with --scores, the score of the
                cohort's anomaly model
  alerts        one row per alert raised in the range, as folded from its events
  labels        one row per label.recorded (imports, analysts' verdicts)

OUTDIR/export.json records the range, the schema version and each table's
rows, files and partitions; every file names its table and schema version in
its metadata (halo.table, halo.schema_version). docs/export.md documents
every column. Files are written under temporary names and renamed, and the
tables are moved into OUTDIR only once all are written: an interrupted export
leaves no half file and no half table. With --from, the --warmup before it is
read to build the features' baselines (novelty, anomaly models), as a replay
does; nothing before --from is exported. The features' windows are the live
pipeline's, as it recorded them in the log (--window and --lateness override
them).`,
		Example: `  halo export --data /var/lib/halo --from 2026-11-01 --to 2026-11-08 --out /tmp/export
  python3 -c "import pandas as pd; print(pd.read_parquet('/tmp/export/features').groupby('malicious').size())"
  duckdb -c "select tenant, date, count(*) from read_parquet('/tmp/export/connections/**/*.parquet', hive_partitioning=true) group by all"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutDir(out); err != nil {
				return err
			}
			if rowsPerFile < 0 {
				return usageErrorf("--rows-per-file %d: must be positive", rowsPerFile)
			}
			if sortBuf < 1 {
				return usageErrorf("--sort-buffer %d: must be positive", sortBuf)
			}
			progress := false // a progress line is on stderr
			cfg := export.Config{
				Out: out, From: from.value, To: to.value, Tenant: tenant.value, Tables: tables, Scores: scores, Overwrite: overwrite, RowsPerFile: rowsPerFile,
				SortBuffer: sortBuf,
				Pipeline:   pipeline.Config{WindowSize: window.value, Lateness: lateness.value, Warmup: warm.value},
				Progress:   func(p export.Progress) { progress = true; printExportProgress(a, p) },
			}
			if err := cfg.Validate(); err != nil {
				return &usageError{err}
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := requireTenant(ctx, store, tenant.value); err != nil {
				fmt.Fprintf(a.stderr, "warning: %v: nothing of it to read\n", err)
			}
			if liveSettings { // the features' windows: the live pipeline's
				pc := cfg.Pipeline
				if _, err := applyLiveSettings(ctx, a, cmd.Flags(), store, &pc, from.value, to.value); err != nil {
					return err
				}
				cfg.Pipeline.WindowSize, cfg.Pipeline.Lateness = pc.WindowSize, pc.Lateness
			}
			warnTrimmed(ctx, a, store, from.value)
			removeStaleSortDirs(a, out)
			st, err := export.Run(ctx, store, cfg)
			reportSkipped(a, store.Stats()) // corrupt log messages are skipped and counted, never exported
			if progress {
				fmt.Fprintf(a.stderr, "\r%-78s\r", "")
			}
			if err != nil {
				switch {
				case ctx.Err() != nil:
					return fmt.Errorf("%w: nothing was written to %s", errInterrupted, out)
				case errors.Is(err, export.ErrConfig):
					return &usageError{err}
				case errors.Is(err, export.ErrExists):
					return fmt.Errorf("%w (--overwrite replaces it)", err)
				}
				return err
			}
			if st.WarmupEvents > 0 {
				fmt.Fprintf(a.stderr, "warm-up: %d events before %s read to build the features' state, not exported\n", st.WarmupEvents, from.value.UTC().Format(time.RFC3339))
			}
			names := make([]string, 0, len(st.Tables))
			for n := range st.Tables {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				t := st.Tables[n]
				fmt.Fprintf(a.stdout, "%-13s %9d rows %5d files %6d partitions %10d bytes\n", n, t.Rows, t.Files, len(t.Partitions), t.Bytes)
			}
			total := st.Read + st.Compute + st.Write
			fmt.Fprintf(a.stdout, "%d events, %d windows, %d rows in %v (read %v, windows and features %v, write %v: %.0f rows/s); %s\n",
				st.Events, st.Windows, st.Rows(), total.Round(time.Millisecond), st.Read.Round(time.Millisecond), st.Compute.Round(time.Millisecond),
				st.Write.Round(time.Millisecond), float64(st.Rows())/max(st.Write.Seconds(), 1e-9), out)
			return nil
		},
	}
	fs := cmd.Flags()
	sf.register(fs, dataDirHelp)
	fs.Var(&from, "from", "start of the range, event time (RFC 3339, a date, or a duration ago; e.g. --from 2026-11-01)")
	fs.Var(&to, "to", "end of the range, event time, exclusive (e.g. --to 2026-11-08)")
	fs.Var(&tenant, "tenant", "only this tenant's rows (e.g. --tenant lab)")
	fs.StringVar(&out, "out", "", "`OUTDIR` for the tables and export.json (required; e.g. --out /tmp/export)")
	liveSettingsFlag(fs, &liveSettings)
	fs.Var(&window, "window", "event-time window of the features, as the pipeline's (default 60s; e.g. --window 5m)")
	fs.Var(&lateness, "lateness", "how late an event may arrive after its window's end, as the pipeline's (default 5s; e.g. --lateness 30s)")
	fs.Var(&warm, "warmup", "history before --from read to build the features' state (default 24h; e.g. --warmup 72h)")
	fs.StringSliceVar(&tables, "tables", nil, "tables to write, comma-separated (default every one: "+strings.Join(export.Tables, ", ")+"; without features no windows are computed; e.g. --tables connections,transactions)")
	fs.BoolVar(&scores, "scores", false, "score every window with the pipeline's per-cohort anomaly models into anomaly_score (several times slower; e.g. --scores)")
	fs.BoolVar(&overwrite, "overwrite", false, "replace tables already in OUTDIR (e.g. --overwrite)")
	fs.IntVar(&sortBuf, "sort-buffer", events.DefaultSortEvents, "events held in memory to put the range in time order; a larger range is sorted in runs on disk under OUTDIR, so an export of any range runs in bounded memory (e.g. --sort-buffer 1000000)")
	fs.IntVar(&rowsPerFile, "rows-per-file", 0, "most rows in one file of a partition (default 1000000; e.g. --rows-per-file 250000)")
	return cmd
}

// printExportProgress shows an export's progress on one line of stderr.
func printExportProgress(a *app, p export.Progress) {
	el := p.Elapsed.Round(time.Second)
	switch p.Stage {
	case "read":
		if p.Fraction > 0 {
			eta := time.Duration(float64(p.Elapsed) * (1 - p.Fraction) / p.Fraction).Round(time.Second)
			fmt.Fprintf(a.stderr, "\rread %d events%s, %3.0f%% of the log, ETA %s (%s)   ", p.Events, sortedToDisk(p), 100*p.Fraction, eta, el)
		} else {
			fmt.Fprintf(a.stderr, "\rread %d events%s (%s)   ", p.Events, sortedToDisk(p), el)
		}
	case "features":
		fmt.Fprintf(a.stderr, "\rwindows and features: %3.0f%% of %d events, %d windows (%s)   ", 100*p.Fraction, p.Events, p.Windows, el)
	case "write":
		fmt.Fprintf(a.stderr, "\rwrote %d of %d rows (%3.0f%%), %d files (%s)   ", p.Rows, p.TotalRows, 100*float64(p.Rows)/float64(max(1, p.TotalRows)), p.Files, el)
	}
}

// sortedToDisk notes how many events an export sorted in runs on disk.
func sortedToDisk(p export.Progress) string {
	if p.SortedToDisk == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d sorted to disk)", p.SortedToDisk)
}
