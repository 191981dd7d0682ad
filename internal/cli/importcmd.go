package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
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
		sf     storeFlags
		tenant tenantFlag
		local  bool
	)
	zk := &cobra.Command{
		Use:   "zeek FILE...",
		Short: "Import Zeek conn.log files (TSV or JSON) as conn.* and label.recorded events",
		Long: `Import Zeek conn.log files, TSV with #fields headers or JSON lines, as
conn.opened and conn.closed events, and, for records labeled anything but
benign (Stratosphere's label/detailedlabel columns), label.recorded events.
Event ids are derived from the file's content and line, so importing a file
twice stores it once. Event times are the records' own: history from years
ago is found by its dates. The device is the originating host, or with
--local-device the local host of an inbound record.`,
		Example: `  halo import zeek --tenant lab --local-device ../shared/data/zeek/stratosphere/008-zeek-mixed/data/conn.log.labeled
  halo events ls --tenant lab --type label.recorded | head`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("halo import zeek needs at least one FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant.value == "" {
				return usageErrorf("--tenant is required")
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
			// pipeline consuming the import and a replay of it agree.
			var all []events.Event
			for _, path := range args {
				start := time.Now()
				st, err := zeek.ImportFile(path, zeek.Options{Tenant: tenant.value, LocalDevice: local}, func(ev events.Event) error {
					all = append(all, ev)
					return nil
				})
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				for _, e := range st.Errors {
					fmt.Fprintf(a.stderr, "%s: skipped %s\n", filepath.Base(path), e)
				}
				fmt.Fprintf(a.stdout, "%s: %d records, %d events (%d labels, %d malicious), %d devices, %s to %s, %d skipped, in %v\n",
					path, st.Records, st.Emitted, st.Labels, st.Malicious, st.Devices, st.First.Format(time.RFC3339), st.Last.Format(time.RFC3339), st.Skipped, time.Since(start).Round(time.Millisecond))
			}
			return zeek.Append(ctx, store, all)
		},
	}
	sf.register(zk.Flags(), dataDirHelp)
	zk.Flags().Var(&tenant, "tenant", "the tenant `NAME` the history belongs to (required; e.g. --tenant lab)")
	zk.Flags().BoolVar(&local, "local-device", false, "attribute inbound records (remote originator, local responder) to the local host (e.g. --local-device)")
	cmd.AddCommand(zk)
	return cmd
}
