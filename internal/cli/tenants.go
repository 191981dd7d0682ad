package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
)

func newTenantsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "Create tenants and their API tokens",
		Long: `A tenant is one customer of the installation (a service provider): its
devices, alerts and API tokens are its own. Tenant names are 1-64 letters,
digits, '-' and '_', starting with a letter or digit.

These commands work whether or not 'halo up' runs on the data directory.`,
		Example: `  halo tenants create acme --display-name "Acme Payments"
  halo tenants token add --tenant acme --role viewer
  halo tenants ls`,
		Args: cobra.ArbitraryArgs,
		RunE: runGroup,
	}
	cmd.AddCommand(newTenantsCreateCmd(a), newTenantsLsCmd(a), newTokenCmd(a))
	return cmd
}

func newTenantsCreateCmd(a *app) *cobra.Command {
	var sf storeFlags
	var display string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant and print its first API token (role operator)",
		Long: `Create a tenant, its fingerprint key (kept in DIR/secrets/tenants, mode 0600)
and a first API token with the operator role. The token is printed once,
alone on the last line of standard output: store it now, Halo keeps only its
hash.`,
		Example: `  halo tenants create acme --display-name "Acme Payments"
  TOKEN=$(halo tenants create acme | tail -n1)`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := events.ValidateTenant(args[0]); err != nil {
				return &usageError{err}
			}
			ctx := cmd.Context()
			store, reg, err := openRegistry(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			cfg, _ := sf.config(0)
			token, err := identity.CreateTenant(ctx, store, reg, cfg.DataDir, args[0], display, actor())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Tenant %s created. Its operator API token, shown once (Halo keeps only its hash):\n%s\n", args[0], token)
			return nil
		},
	}
	sf.register(cmd.Flags(), dataDirHelp)
	cmd.Flags().StringVar(&display, "display-name", "", "a human name for the tenant (e.g. --display-name \"Acme Payments\")")
	return cmd
}

func newTenantsLsCmd(a *app) *cobra.Command {
	sf := storeFlags{mustExist: true}
	cmd := &cobra.Command{
		Use:     "ls",
		Short:   "List tenants with their device counts",
		Long:    "List the tenants of the installation with their device counts and creation times.",
		Example: `  halo tenants ls --data /var/lib/halo`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			store, reg, err := openRegistry(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TENANT\tDISPLAY NAME\tDEVICES\tCREATED")
			for _, t := range reg.Tenants() {
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", t.Name, t.DisplayName, len(reg.Devices(t.Name)), t.Created.Format("2006-01-02 15:04:05Z07:00"))
			}
			return w.Flush()
		},
	}
	sf.register(cmd.Flags(), dataDirHelp)
	return cmd
}

func newTokenCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage a tenant's API tokens",
		Long:    "API tokens authenticate a tenant's people and tools to Halo's API; Halo keeps only their SHA-256 hashes.",
		Example: `  halo tenants token add --tenant acme --role viewer`,
		Args:    cobra.ArbitraryArgs, RunE: runGroup}
	sf := storeFlags{mustExist: true}
	var tenant tenantFlag
	role := newChoice("operator", "operator", "viewer")
	add := &cobra.Command{
		Use:   "add",
		Short: "Add an API token to a tenant and print it",
		Long: `Add an API token to an existing tenant. Role operator reads and acts
(acknowledge, quarantine, block); role viewer only reads. The token is printed
once, alone on the last line of standard output.`,
		Example: `  halo tenants token add --tenant acme --role viewer`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant.value == "" {
				return usageErrorf("--tenant is required")
			}
			ctx := cmd.Context()
			store, reg, err := openRegistry(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			r := events.Role_ROLE_OPERATOR
			if role.value == "viewer" {
				r = events.Role_ROLE_VIEWER
			}
			token, err := identity.AddToken(ctx, store, reg, tenant.value, r, actor())
			if errors.Is(err, identity.ErrUnknownTenant) {
				return fmt.Errorf("%w (create it with: halo tenants create %s)", err, tenant.value)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Token added to %s with role %s, shown once:\n%s\n", tenant.value, role.value, token)
			return nil
		},
	}
	sf.register(add.Flags(), dataDirHelp)
	add.Flags().Var(&tenant, "tenant", "the tenant `NAME` (required; e.g. --tenant acme)")
	add.Flags().Var(role, "role", "operator (read and act) or viewer (read only; e.g. --role viewer)")
	cmd.AddCommand(add)
	return cmd
}

// exactArgs requires n positional arguments, named in the error.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s needs %s, got %d argument(s)", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}
