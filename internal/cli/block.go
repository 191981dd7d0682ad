package cli

import (
	"encoding/hex"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/intervention"
)

func newBlockCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "block",
		Short: "Block destinations or transaction fingerprints at the edge",
		Long: `A block refuses, at the edge, what a tenant's devices (or one device) try to
reach: a host glob, an IP or CIDR, a port, a strict transaction fingerprint;
every part given must match. Refused requests get HTTP 403 with the block's
id, and conn.blocked is recorded. A running edge applies blocks within a
second.`,
		Example: `  halo block add --tenant acme --host '*.evil.example' --reason "C&C"
  halo block ls --tenant acme
  halo block rm iv-0196c1de-7a3b-7c51-9d2e-3f1a2b4c5d6e`,
		Args: cobra.ArbitraryArgs,
		RunE: runGroup,
	}
	cmd.AddCommand(newBlockAddCmd(a), newBlockRmCmd(a), newBlockLsCmd(a))
	return cmd
}

func newBlockAddCmd(a *app) *cobra.Command {
	var (
		sf         storeFlags
		tenant     tenantFlag
		device     deviceFlag
		host, cidr string
		fp         string
		port       int
		reason     string
		expiry     durationFlag
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add a block and print its id",
		Long: `Add a block for a tenant's devices (or one device) and print its id, alone
on standard output. Give at least one of --host, --cidr, --port and
--fingerprint; every one given must match. A block of every destination
(--host '*', --cidr 0.0.0.0/0, with no port or fingerprint) is refused: to
cut a device off, quarantine it.`,
		Example: `  halo block add --tenant acme --host '*.evil.example' --reason "C&C"
  halo block add --tenant acme --device POS-00012 --cidr 203.0.113.0/24 --port 8080 --expiry 24h`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant.value == "" {
				return usageErrorf("--tenant is required")
			}
			if port < 0 || port > 65535 {
				return usageErrorf("--port %d: want 1-65535", port)
			}
			m := &events.Match{HostGlob: strings.ToLower(host), Cidr: cidr, Port: uint32(port)}
			if fp != "" {
				b, err := hex.DecodeString(fp)
				if err != nil || len(b) != 16 {
					return usageErrorf("--fingerprint: want the 32 hex digits of a strict fingerprint (tx.observed strict_fp)")
				}
				m.StrictFp = b
			}
			req := intervention.Request{Kind: events.InterventionKind_INTERVENTION_KIND_BLOCK, Tenant: tenant.value, Device: device.value,
				Match: m, Reason: reason, Actor: actor(), TTL: expiry.value, DryRun: dryRun}
			if _, err := intervention.NewEvent(req); err != nil {
				return &usageError{err}
			}
			ctx := cmd.Context()
			store, reg, err := openRegistry(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			// A block for a tenant or device the log does not hold was
			// recorded and enforced on nothing (the API refuses it).
			if err := knownTenant(reg, tenant.value); err != nil {
				return err
			}
			if device.value != "" {
				if d, ok := reg.Device(device.value); !ok || d.Tenant != tenant.value {
					return fmt.Errorf("no device %q in tenant %s (halo devices ls --tenant %s lists them)", device.value, tenant.value, tenant.value)
				}
			}
			id, err := intervention.Apply(ctx, store, req)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, id)
			return nil
		},
	}
	fs := cmd.Flags()
	sf.register(fs, dataDirHelp)
	fs.Var(&tenant, "tenant", "the tenant `NAME` whose devices are blocked (required; e.g. --tenant acme)")
	fs.Var(&device, "device", "block for this device `ID` only (e.g. --device POS-00012)")
	fs.StringVar(&host, "host", "", "destination host `GLOB`; '*.x' also matches x (e.g. --host '*.evil.example')")
	fs.StringVar(&cidr, "cidr", "", "destination IP or `CIDR` (e.g. --cidr 203.0.113.0/24)")
	fs.IntVar(&port, "port", 0, "destination `PORT` (e.g. --port 8080)")
	fs.StringVar(&fp, "fingerprint", "", "strict transaction fingerprint, 32 `HEX` digits from tx.observed strict_fp (e.g. --fingerprint 9f86d081884c7d659a2feaa0c55ad015)")
	fs.StringVar(&reason, "reason", "", "why; shown to the device in the 403 and recorded (e.g. --reason \"C&C\")")
	fs.Var(&expiry, "expiry", "lift it automatically after this long (e.g. --expiry 24h)")
	fs.BoolVar(&dryRun, "dry-run", false, "record it without enforcing it, to see what it would catch (e.g. --dry-run)")
	return cmd
}

func newBlockRmCmd(a *app) *cobra.Command {
	sf := storeFlags{mustExist: true}
	var reason string
	cmd := &cobra.Command{
		Use:     "rm ID",
		Short:   "Lift a block (or any intervention) by id",
		Long:    "Lift a block, or a quarantine, by the id halo block add or halo block ls printed.",
		Example: `  halo block rm iv-0196c1de-...`,
		Args:    exactArgs(1, "the intervention ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			set, err := intervention.Load(ctx, store)
			if err != nil {
				return err
			}
			if err := intervention.Lift(ctx, store, set, args[0], reason, actor()); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Lifted %s.\n", args[0])
			return nil
		},
	}
	sf.register(cmd.Flags(), dataDirHelp)
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record (e.g. --reason \"false positive\")")
	return cmd
}

func newBlockLsCmd(a *app) *cobra.Command {
	sf := storeFlags{mustExist: true}
	var tenant tenantFlag
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the blocks and quarantines in force",
		Long:  "List the blocks and quarantines in force now (dry-run ones marked), oldest first.",
		Example: `  halo block ls
  halo block ls --tenant acme`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := requireTenant(ctx, store, tenant.value); err != nil {
				return err
			}
			set, err := intervention.Load(ctx, store)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tKIND\tTENANT\tDEVICE\tMATCH\tEXPIRES\tREASON")
			for _, iv := range set.Active(tenant.value, time.Now()) {
				kind := "block"
				if iv.Kind == events.InterventionKind_INTERVENTION_KIND_QUARANTINE {
					kind = "quarantine"
				}
				if iv.DryRun {
					kind += " (dry run)"
				}
				exp := "-"
				if !iv.Expires.IsZero() {
					exp = iv.Expires.UTC().Format(time.RFC3339)
				}
				dev := iv.Device
				if dev == "" {
					dev = "*"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", iv.ID, kind, iv.Tenant, dev, iv.Match.String(), exp, iv.Reason)
			}
			return w.Flush()
		},
	}
	sf.register(cmd.Flags(), dataDirHelp)
	cmd.Flags().Var(&tenant, "tenant", "only this tenant's (e.g. --tenant acme)")
	return cmd
}
