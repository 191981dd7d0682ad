package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/internal/fsutil"
	"github.com/halo-sec/halo/intervention"
)

func newDevicesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "Enrol, renew, revoke, quarantine and release devices",
		Long: `Devices are identified by an id unique in the installation (its serial
number): 1-128 letters, digits and '.', '_', ':', '-'. Each has a client
certificate from Halo's CA (DIR/pki), carrying its tenant and id, which it
presents to the edge.

These commands work whether or not 'halo up' runs on the data directory; a
running edge applies revocations, quarantines and releases within a second.`,
		Example: `  halo devices enroll --tenant acme --device POS-00012 --model P2 --firmware 1.4.2 --out ./certs
  halo devices quarantine --device POS-00012 --reason "port scan" --expiry 1h
  halo devices ls --tenant acme`,
		Args: cobra.ArbitraryArgs,
		RunE: runGroup,
	}
	cmd.AddCommand(newEnrollCmd(a, false), newEnrollCmd(a, true), newRevokeCmd(a), newQuarantineCmd(a), newReleaseCmd(a), newDevicesLsCmd(a))
	return cmd
}

func newEnrollCmd(a *app, renew bool) *cobra.Command {
	var (
		sf              storeFlags
		tenant          tenantFlag
		device          deviceFlag
		model, firmware string
		out, csr        string
		lifetime        durationFlag
	)
	use, short := "enroll", "Issue a device its client certificate and record device.enrolled"
	long := `Issue a device a client certificate (ECDSA P-256) signed by Halo's CA and
record device.enrolled. Writes OUTDIR/ID.crt, OUTDIR/ID.key (mode 0600) and
OUTDIR/ca.crt (the CA that also signs the edge's certificate, so the device
can verify the edge). With --csr, signs the device's own certificate request
instead (the key never leaves the device) and writes no key.`
	example := `  halo devices enroll --tenant acme --device POS-00012 --model P2 --firmware 1.4.2 --out ./certs
  halo devices enroll --tenant acme --device POS-00013 --csr POS-00013.csr --out ./certs

  # then, as the device:
  curl --proxy https://127.0.0.1:8443 --proxy-cacert certs/ca.crt \
       --proxy-cert certs/POS-00012.crt --proxy-key certs/POS-00012.key http://example.com/`
	if renew {
		use, short = "renew", "Re-issue an enrolled device's certificate before it expires"
		long = `Re-issue the certificate of an enrolled device (same tenant; model and
firmware kept unless given). The older certificates stay valid until they
expire or the device is revoked. Writes the same files as enroll.`
		example = `  halo devices renew --device POS-00012 --out ./certs
  halo devices renew --device POS-00012 --firmware 1.5.0 --csr new.csr --out ./certs`
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long, Example: example, Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case device.value == "":
				return usageErrorf("--device is required")
			case !renew && tenant.value == "":
				return usageErrorf("--tenant is required")
			case out == "":
				return usageErrorf("--out is required (the directory to write the certificate files to)")
			}
			var csrBytes []byte
			if csr != "" {
				b, err := os.ReadFile(csr)
				if err != nil {
					return &usageError{fmt.Errorf("--csr: %w", err)}
				}
				csrBytes = b
			}
			ctx := cmd.Context()
			store, reg, err := openRegistry(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			cfg, _ := sf.config(0)
			ca, err := identity.LoadOrCreateCA(cfg.DataDir)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			iss, err := identity.Enroll(ctx, store, reg, ca, identity.EnrollRequest{
				Tenant: tenant.value, Device: device.value, Model: model, Firmware: firmware,
				Lifetime: lifetime.value, CSR: csrBytes, Renew: renew, Actor: actor(),
			})
			if err != nil {
				return err
			}
			files := []string{filepath.Join(out, device.value+".crt"), filepath.Join(out, "ca.crt")}
			if err := fsutil.WriteFileAtomic(files[0], iss.CertPEM, 0o644); err != nil {
				return err
			}
			if err := fsutil.WriteFileAtomic(files[1], ca.CertPEM(), 0o644); err != nil {
				return err
			}
			if iss.KeyPEM != nil {
				kf := filepath.Join(out, device.value+".key")
				if err := fsutil.WriteFileAtomic(kf, iss.KeyPEM, 0o600); err != nil {
					return err
				}
				files = append(files, kf)
			}
			d, _ := reg.Device(device.value)
			fmt.Fprintf(a.stdout, "Device %s of tenant %s enrolled (certificate valid until %s):\n", device.value, d.Tenant, iss.Cert.NotAfter.UTC().Format(time.RFC3339))
			for _, f := range files {
				fmt.Fprintln(a.stdout, f)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	sf.register(fs, dataDirHelp)
	if !renew {
		fs.Var(&tenant, "tenant", "the tenant `NAME` the device belongs to (required; e.g. --tenant acme)")
	}
	fs.Var(&device, "device", "the device `ID`, its serial number (required; e.g. --device POS-00012)")
	fs.StringVar(&model, "model", "", "the device model, part of its cohort (e.g. --model P2)")
	fs.StringVar(&firmware, "firmware", "", "the firmware version, part of its cohort (e.g. --firmware 1.4.2)")
	fs.StringVar(&out, "out", "", "`OUTDIR` for ID.crt, ID.key and ca.crt (required; e.g. --out ./certs)")
	fs.StringVar(&csr, "csr", "", "sign this PEM certificate request `FILE` instead of generating a key (e.g. --csr POS-00013.csr)")
	fs.Var(&lifetime, "lifetime", "certificate lifetime (default 365d; e.g. --lifetime 90d)")
	return cmd
}

func newRevokeCmd(a *app) *cobra.Command {
	sf := storeFlags{mustExist: true}
	var device deviceFlag
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke every certificate of a device; the edge cuts its connections",
		Long: `Revoke every certificate of a device (device.revoked). A running edge refuses
them from then on (auth.failed, reason revoked) and cuts the device's open
connections within a second. Enrolling it again (halo devices renew) issues a
new certificate.`,
		Example: `  halo devices revoke --device POS-00012 --reason "reported stolen"`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if device.value == "" {
				return usageErrorf("--device is required")
			}
			ctx := cmd.Context()
			store, reg, err := openRegistry(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := identity.Revoke(ctx, store, reg, device.value, reason, actor()); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Device %s revoked.\n", device.value)
			return nil
		},
	}
	sf.register(cmd.Flags(), dataDirHelp)
	cmd.Flags().Var(&device, "device", "the device `ID` (required; e.g. --device POS-00012)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record (e.g. --reason \"reported stolen\")")
	return cmd
}

func newQuarantineCmd(a *app) *cobra.Command {
	sf := storeFlags{mustExist: true}
	var device deviceFlag
	var reason string
	var expiry durationFlag
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "quarantine",
		Short: "Confine a device to its tenant's quarantine allow-list",
		Long: `Quarantine a device: the edge cuts its open connections and lets it reach
only the destinations of its tenant's quarantine allow-list (policy
quarantine.allow, e.g. the update server) until released or expired. Prints
the intervention id.`,
		Example: `  halo devices quarantine --device POS-00012 --reason "port scan" --expiry 1h`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if device.value == "" {
				return usageErrorf("--device is required")
			}
			ctx := cmd.Context()
			store, reg, err := openRegistry(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			d, ok := reg.Device(device.value)
			if !ok {
				return fmt.Errorf("%w: %s", identity.ErrUnknownDevice, device.value)
			}
			id, err := intervention.Apply(ctx, store, intervention.Request{
				Kind: events.InterventionKind_INTERVENTION_KIND_QUARANTINE, Tenant: d.Tenant, Device: d.ID,
				Reason: reason, Actor: actor(), TTL: expiry.value, DryRun: dryRun,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Device %s quarantined.\n%s\n", d.ID, id)
			return nil
		},
	}
	fs := cmd.Flags()
	sf.register(fs, dataDirHelp)
	fs.Var(&device, "device", "the device `ID` (required; e.g. --device POS-00012)")
	fs.StringVar(&reason, "reason", "", "why, for the record and the device's refusals (e.g. --reason \"port scan\")")
	fs.Var(&expiry, "expiry", "lift it automatically after this long; 0 keeps it until released (e.g. --expiry 1h)")
	fs.BoolVar(&dryRun, "dry-run", false, "record it without enforcing it (e.g. --dry-run)")
	return cmd
}

func newReleaseCmd(a *app) *cobra.Command {
	sf := storeFlags{mustExist: true}
	var device deviceFlag
	var reason string
	cmd := &cobra.Command{
		Use:     "release",
		Short:   "Lift every quarantine of a device",
		Long:    "Lift every quarantine in force on a device (intervention.lifted for each).",
		Example: `  halo devices release --device POS-00012 --reason "cleared by analyst"`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if device.value == "" {
				return usageErrorf("--device is required")
			}
			ctx := cmd.Context()
			store, reg, err := openRegistry(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			d, ok := reg.Device(device.value)
			if !ok {
				return fmt.Errorf("%w: %s", identity.ErrUnknownDevice, device.value)
			}
			set, err := intervention.Load(ctx, store)
			if err != nil {
				return err
			}
			n, err := intervention.Release(ctx, store, set, d.Tenant, d.ID, reason, actor())
			if err != nil {
				return err
			}
			if n == 0 {
				return errors.New("device " + d.ID + " is not quarantined")
			}
			fmt.Fprintf(a.stdout, "Device %s released (%d quarantine(s) lifted).\n", d.ID, n)
			return nil
		},
	}
	sf.register(cmd.Flags(), dataDirHelp)
	cmd.Flags().Var(&device, "device", "the device `ID` (required; e.g. --device POS-00012)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record (e.g. --reason \"reported stolen\")")
	return cmd
}

func newDevicesLsCmd(a *app) *cobra.Command {
	sf := storeFlags{mustExist: true}
	var tenant tenantFlag
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List devices: tenant, model, firmware, status, certificate expiry",
		Long: `List the enrolled devices with their status: active, quarantined or revoked,
and when their newest valid certificate expires.`,
		Example: `  halo devices ls
  halo devices ls --tenant acme --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			store, reg, err := openRegistry(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := knownTenant(reg, tenant.value); err != nil {
				return err
			}
			ivs, err := intervention.Load(ctx, store)
			if err != nil {
				return err
			}
			now := time.Now()
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			if !asJSON {
				fmt.Fprintln(w, "DEVICE\tTENANT\tMODEL\tFIRMWARE\tSTATUS\tCERT EXPIRES")
			}
			enc := json.NewEncoder(a.stdout)
			for _, d := range reg.Devices(tenant.value) {
				status := "active"
				if _, q := ivs.Quarantine(d.Tenant, d.ID, now); q {
					status = "quarantined"
				}
				if d.Revoked {
					status = "revoked"
				}
				var expires time.Time
				for _, c := range d.Certs {
					if !c.Revoked && c.NotAfter.After(expires) {
						expires = c.NotAfter
					}
				}
				if asJSON {
					enc.Encode(map[string]any{"device": d.ID, "tenant": d.Tenant, "model": d.Model, "firmware": d.Firmware,
						"status": status, "enrolled": d.Enrolled, "cert_expires": expires})
					continue
				}
				exp := "-"
				if !expires.IsZero() {
					exp = expires.UTC().Format("2006-01-02")
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Tenant, d.Model, d.Firmware, status, exp)
			}
			if asJSON {
				return nil
			}
			return w.Flush()
		},
	}
	sf.register(cmd.Flags(), dataDirHelp)
	cmd.Flags().Var(&tenant, "tenant", "only this tenant's devices (e.g. --tenant acme)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per device instead of a table, for scripts (e.g. --json | jq .status)")
	return cmd
}
