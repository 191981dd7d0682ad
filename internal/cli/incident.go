package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/api"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/fsutil"
	"github.com/halo-sec/halo/replay"
)

// errUnknownAlert is returned by halo incident for an alert id the log
// does not hold.
var errUnknownAlert = errors.New("unknown alert")

func newIncidentCmd(a *app) *cobra.Command {
	var (
		sf            = storeFlags{mustExist: true}
		pf            pipelineFlags
		tenant        tenantFlag
		before, after = durationFlag{15 * time.Minute}, durationFlag{15 * time.Minute}
		limit         int
		out           string
		liveSettings  bool
	)
	cmd := &cobra.Command{
		Use:   "incident ALERT_ID",
		Short: "Write an alert's incident timeline: the device's events, feature windows, scores and alerts around it",
		Long: `Write the timeline of the device an alert was raised on, from --before the
alert to --after it: the device's events, its feature windows (features and
the detectors' scores against their thresholds) and its alerts, as
OUTDIR/timeline.json and OUTDIR/timeline.html (a chart and tables, one
self-contained page viewable offline).

timeline.json is exactly what GET /v1/devices/{id}/timeline answers for the
same range (both are api.BuildTimeline): the feature windows and scores are
recomputed by the pipeline's own processor over the tenant's history, with
--warmup (default 24h) replayed before the range so the detectors' baselines
and cohort models are those the pipeline had. The pipeline flags must match
the pipeline's own for the same scores.

An unknown alert id is an error (exit code 1); an alert id found in several
tenants needs --tenant.`,
		Example: `  halo incident al-c03b6a08-1846-5702-9dfa-597fa966d709 --out /tmp/incident
  halo incident al-c03b6a08-1846-5702-9dfa-597fa966d709 --before 1h --after 10m --out /tmp/incident && xdg-open /tmp/incident/timeline.html`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("%s takes one alert id, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			defer replay.BatchGC()()
			id := args[0]
			if err := checkOutDir(out); err != nil {
				return err
			}
			if after.value <= 0 {
				return usageErrorf("--after must be positive: the range [alert - before, alert + after) must hold the alert")
			}
			if limit < 1 {
				return usageErrorf("--limit must be at least 1, got %d", limit)
			}
			pcfg, err := pf.config()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			set, err := alerts.Load(ctx, store)
			if err != nil {
				return err
			}
			// Alert ids are per tenant: find the tenants that have this one.
			var tenants []string
			for ev, err := range store.Read(ctx, events.Query{Tenant: tenant.value, Types: []events.Type{events.TypeAlertRaised}}) {
				if err != nil {
					return fmt.Errorf("reading the alerts: %w", err)
				}
				if p, ok := ev.Payload.(*events.AlertRaised); ok && p.AlertId == id && !slices.Contains(tenants, ev.Tenant) {
					tenants = append(tenants, ev.Tenant)
				}
			}
			switch {
			case len(tenants) == 0 && tenant.value != "":
				return fmt.Errorf("%w %q in tenant %s", errUnknownAlert, id, tenant.value)
			case len(tenants) == 0:
				return fmt.Errorf("%w %q: no alert.raised event in the log has that id (halo events ls --type alert.raised lists them)", errUnknownAlert, id)
			case len(tenants) > 1:
				return usageErrorf("alert %q exists in tenants %v: name one with --tenant", id, tenants)
			}
			al, ok := set.Get(tenants[0], id)
			if !ok {
				return fmt.Errorf("%w %q: raised in tenant %s but not in the alert fold", errUnknownAlert, id, tenants[0])
			}
			if liveSettings {
				if _, err := applyLiveSettings(ctx, a, cmd.Flags(), store, &pcfg, al.Time.Add(-before.value), al.Time.Add(after.value)); err != nil {
					return err
				}
			}
			fmt.Fprintf(a.stderr, "alert %s: %s on %s/%s at %s; building the timeline\n", al.ID, al.Detector, al.Tenant, al.Device,
				al.Time.UTC().Format(time.RFC3339Nano))
			if w := al.WindowEnd.Sub(al.WindowStart); !cmd.Flags().Changed("window") && w > 0 && w != pcfg.Window() {
				// The pipeline that raised it ran with other windows (halo
				// up --demo's are 10s): its windows are the ones to show.
				pcfg.WindowSize = w
				fmt.Fprintf(a.stderr, "feature windows of %v, the alert's own (--window chooses others)\n", w)
			}
			start := time.Now()
			tl, err := api.BuildTimeline(ctx, store, set, api.TimelineRequest{Tenant: al.Tenant, Device: al.Device,
				From: al.Time.Add(-before.value), To: al.Time.Add(after.value), Limit: limit, Pipeline: pcfg})
			if errors.Is(err, api.ErrTimelineRequest) {
				return &usageError{err}
			}
			if err != nil {
				return err
			}
			b, err := json.Marshal(tl) // byte for byte the API's answer
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			if err := fsutil.WriteFileAtomic(filepath.Join(out, "timeline.json"), append(b, '\n'), 0o644); err != nil {
				return err
			}
			var page bytes.Buffer
			if err := replay.WriteTimelineHTML(&page, tl, al.ID); err != nil {
				return err
			}
			if err := fsutil.WriteFileAtomic(filepath.Join(out, "timeline.html"), page.Bytes(), 0o644); err != nil {
				return err
			}
			trunc := ""
			if tl.Truncated {
				trunc = fmt.Sprintf(" (truncated at --limit %d)", limit)
			}
			fmt.Fprintf(a.stdout, "%s/%s from %s to %s: %d events, %d windows, %d alerts%s in %v; %s\n", tl.Tenant, tl.Device,
				tl.From.Format(time.RFC3339), tl.To.Format(time.RFC3339), len(tl.Events), len(tl.Windows), len(tl.Alerts), trunc,
				time.Since(start).Round(time.Millisecond), out)
			return nil
		},
	}
	fs := cmd.Flags()
	sf.register(fs, dataDirHelp)
	pf.register(fs)
	fs.Var(&tenant, "tenant", "the alert's tenant, when its id exists in several (e.g. --tenant lab)")
	fs.Var(&before, "before", "how long before the alert the timeline starts (e.g. --before 1h)")
	fs.Var(&after, "after", "how long after the alert the timeline ends, exclusive; positive (e.g. --after 10m)")
	fs.IntVar(&limit, "limit", 1000, "most events, windows and alerts in the timeline, the earliest of each; above 10000 clamped (e.g. --limit 5000)")
	fs.StringVar(&out, "out", "", "`OUTDIR` for timeline.json and timeline.html (required; e.g. --out /tmp/incident)")
	liveSettingsFlag(fs, &liveSettings)
	return cmd
}
