package cli

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/internal/fsutil"
	"github.com/halo-sec/halo/replay"
	"github.com/halo-sec/halo/replay/zeek"
)

func newImportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "import",
		Short:   "Import history from other sensors into the event log",
		Long:    "Import history recorded by other sensors (Zeek today) as Halo events, so it can be replayed, backtested and exported like the edge's own.",
		Example: "  halo import zeek --tenant lab conn.log",
		Args:    cobra.ArbitraryArgs,
		RunE:    runGroup,
	}
	var (
		sf         storeFlags
		tenant     tenantFlag
		local      bool
		localNets  []string
		labelsOut  string
		sortBuffer int
	)
	zk := &cobra.Command{
		Use:   "zeek FILE...",
		Short: "Import Zeek conn.log files (TSV or JSON) as conn.* and label.recorded events",
		Long: `Import Zeek conn.log files, TSV with #fields headers or JSON lines, as
conn.opened and conn.closed events, and, for records labeled anything but
benign (Stratosphere's label/detailedlabel columns), label.recorded events.
Event ids are derived from the file's content and line, so importing a file
twice stores it once. Event times are the records' own: history from years
ago is found by its dates. The events of all files are appended in event-time
order. The tenant is created if it does not exist.

The device of a record is its local endpoint: the originator when it is
local (Zeek's local_orig, or an address in --local-net, default the private
and link-local ranges), else the responder when that is local (an inbound
attack on a device belongs to the device), else the originator.

Malformed lines are reported and skipped, with counts; --labels-out also
writes the malicious labels as JSON lines {"tenant","device","label",
"detail","start","end"}, the format halo replay --labels reads.`,
		Example: `  halo import zeek --tenant lab ../shared/data/zeek/stratosphere/008-zeek-mixed/data/conn.log.labeled
  halo events ls --tenant lab --type label.recorded | head

  # A site whose devices live in public address space
  halo import zeek --tenant site-7 --local-net 203.0.113.0/24,2001:db8::/32 --labels-out labels.jsonl conn.log`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("halo import zeek needs at least one FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			defer replay.BatchGC()()
			if tenant.value == "" {
				return usageErrorf("--tenant is required")
			}
			nets := zeek.DefaultLocalNets
			if cmd.Flags().Changed("local-net") {
				nets = []netip.Prefix{}
				for _, c := range localNets {
					pfx, err := netip.ParsePrefix(strings.TrimSpace(c))
					if err != nil {
						return usageErrorf("--local-net %q: %v", c, err)
					}
					nets = append(nets, pfx.Masked())
				}
			}
			ctx := cmd.Context()
			store, reg, err := openRegistry(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			cfg, _ := sf.config(0)
			created, err := identity.EnsureTenant(ctx, store, reg, cfg.DataDir, tenant.value, actor())
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(a.stderr, "created tenant %s (no API token yet: halo tenants token add --tenant %s)\n", tenant.value, tenant.value)
			}
			// Zeek writes a connection when it ends, so files are not in
			// time order: the events of all files are appended in (event
			// time, id) order, the order replay uses, so that the live
			// pipeline consuming the import and a replay of it agree. They
			// are sorted in bounded memory: beyond --sort-buffer events, in
			// runs on disk under the data directory, removed at the end.
			spillDir := "" // the system's
			if cfg.DataDir != "" {
				spillDir = filepath.Join(cfg.DataDir, "tmp")
			}
			if spillDir != "" {
				removeStaleSortDirs(a, spillDir)
			}
			sorter := events.NewTimeSorter(spillDir, sortBuffer)
			defer sorter.Close()
			var labels []replay.Label
			for _, path := range args {
				start := time.Now()
				st, err := zeek.ImportFile(path, zeek.Options{Tenant: tenant.value, LocalNets: nets}, func(ev events.Event) error {
					if labelsOut != "" && ev.Type() == events.TypeLabelRecorded {
						labels = append(labels, replay.LabelsFromEvents([]events.Event{ev})...)
					}
					return sorter.Add(ev)
				})
				if err != nil {
					return err // it names the file
				}
				for _, e := range st.Errors {
					fmt.Fprintf(a.stderr, "%s: skipped %s\n", filepath.Base(path), e)
				}
				fmt.Fprintf(a.stdout, "%s: %d records, %d events (%d labels, %d malicious), %d devices, %s to %s, %d skipped, in %v\n",
					path, st.Records, st.Emitted, st.Labels, st.Malicious, st.Devices, st.First.Format(time.RFC3339), st.Last.Format(time.RFC3339), st.Skipped, time.Since(start).Round(time.Millisecond))
			}
			if labelsOut != "" {
				var buf []byte
				for _, l := range labels {
					if !l.Malicious {
						continue
					}
					b, err := json.Marshal(l)
					if err != nil {
						return err
					}
					buf = append(append(buf, b...), '\n')
				}
				if err := fsutil.WriteFileAtomic(labelsOut, buf, 0o644); err != nil {
					return fmt.Errorf("--labels-out: %w", err)
				}
			}
			if sorter.Runs() > 0 {
				fmt.Fprintf(a.stderr, "sorted %d events in %d runs on disk (more than --sort-buffer %d); appending\n", sorter.Len(), sorter.Runs(), sortBuffer)
			}
			_, err = zeek.AppendSorted(ctx, store, sorter.Sorted())
			return err
		},
	}
	sf.register(zk.Flags(), dataDirHelp)
	zk.Flags().Var(&tenant, "tenant", "the tenant `NAME` the history belongs to (required; e.g. --tenant lab)")
	zk.Flags().StringSliceVar(&localNets, "local-net", nil, "the devices' networks, CIDR, comma-separated: a record's device is its endpoint inside them (default the private and link-local ranges; e.g. --local-net 203.0.113.0/24)")
	zk.Flags().IntVar(&sortBuffer, "sort-buffer", events.DefaultSortEvents, "events held in memory to sort the import by event time; more are sorted in runs on disk under the data directory (e.g. --sort-buffer 1000000)")
	zk.Flags().StringVar(&labelsOut, "labels-out", "", "also write the malicious labels to `FILE` as JSON lines, the format of halo replay --labels (e.g. --labels-out labels.jsonl)")
	zk.Flags().BoolVar(&local, "local-device", false, "no effect: inbound records always belong to the local host now (e.g. --local-device)")
	_ = zk.Flags().MarkDeprecated("local-device", "records are attributed to their local endpoint by default; see --local-net")
	cmd.AddCommand(zk)
	return cmd
}
