package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/models"
)

func newModelsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Deploy, roll back and list the models the anomaly detector scores with",
		Long: `The anomaly detector trains an IsolationForest per cohort (tenant, device
model, firmware) by itself. An operator can deploy a model instead (an
artifact of halo models train, or of the pipeline's own model directory) for
a tenant or one of its cohorts: halo models deploy records model.deployed,
and a running pipeline scores with it from its next window on, without a
restart. halo models rollback returns to the previous deployment, and from
the first one to the pipeline's own models. Deployments are versioned per
(tenant, cohort) and folded from the log, so a replay scores with the model
that was in force.`,
		Example: `  halo models deploy iforest.json --tenant acme
  halo models ls --tenant acme
  halo models rollback --tenant acme`,
		Args: cobra.ArbitraryArgs,
		RunE: runGroup,
	}
	cmd.AddCommand(newModelsDeployCmd(a), newModelsRollbackCmd(a), newModelsLsCmd(a))
	return cmd
}

func newModelsDeployCmd(a *app) *cobra.Command {
	var (
		sf     storeFlags
		tenant tenantFlag
		cohort string
	)
	cmd := &cobra.Command{
		Use:   "deploy FILE",
		Short: "Deploy a model artifact for a tenant (or one cohort): model.deployed",
		Long: `Check a model artifact, keep a copy under DIR/models named by its id, and
record model.deployed as the next version for the tenant (or --cohort): the
pipeline scores the tenant's windows with it from then on.`,
		Example: `  halo models deploy iforest.json --tenant acme
  halo models deploy p2.json --tenant acme --cohort acme/P2/1.4.2`,
		Args: exactArgs(1, "the model artifact FILE"),
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
			if _, ok := reg.Tenant(tenant.value); !ok {
				return fmt.Errorf("no tenant %s (create it with: halo tenants create %s)", tenant.value, tenant.value)
			}
			deps, err := models.LoadDeployments(ctx, store)
			if err != nil {
				return err
			}
			cfg, _ := sf.config(0)
			d, err := deps.Deploy(ctx, store, cfg.DataDir, args[0], tenant.value, cohort, actor())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "deployed %s (%s, %d features, threshold %.4g) for %s as version %d\n", shortModelID(d.ModelID), d.Kind, len(d.Features), d.Threshold, scope(d), d.Version)
			return nil
		},
	}
	sf.register(cmd.Flags(), dataDirHelp)
	cmd.Flags().Var(&tenant, "tenant", "the tenant `NAME` the model scores (required; e.g. --tenant acme)")
	cmd.Flags().StringVar(&cohort, "cohort", "", "only this cohort, tenant/model/firmware (default every cohort of the tenant; e.g. --cohort acme/P2/1.4.2)")
	return cmd
}

func newModelsRollbackCmd(a *app) *cobra.Command {
	var (
		sf     storeFlags
		tenant tenantFlag
		cohort string
	)
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Return a tenant (or cohort) to the model deployed before the current one",
		Long: `Record model.deployed restoring the deployment before the one in force for
the tenant (or --cohort); from the first deployment, return to the models the
pipeline trains itself.`,
		Example: `  halo models rollback --tenant acme`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant.value == "" {
				return usageErrorf("--tenant is required")
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			deps, err := models.LoadDeployments(ctx, store)
			if err != nil {
				return err
			}
			d, err := deps.Rollback(ctx, store, tenant.value, cohort, actor())
			if err != nil {
				return err
			}
			if d.ModelID == "" {
				fmt.Fprintf(a.stdout, "rolled back %s to the pipeline's own models\n", scope(d))
			} else {
				fmt.Fprintf(a.stdout, "rolled back %s to version %d (%s)\n", scope(d), d.Version, shortModelID(d.ModelID))
			}
			return nil
		},
	}
	sf.register(cmd.Flags(), dataDirHelp)
	cmd.Flags().Var(&tenant, "tenant", "the tenant `NAME` (required; e.g. --tenant acme)")
	cmd.Flags().StringVar(&cohort, "cohort", "", "the cohort deployment to roll back, tenant/model/firmware (default the tenant-wide one; e.g. --cohort acme/P2/1.4.2)")
	return cmd
}

func newModelsLsCmd(a *app) *cobra.Command {
	var (
		sf     storeFlags
		tenant tenantFlag
	)
	cmd := &cobra.Command{
		Use:     "ls",
		Short:   "List model deployments and rollbacks, marking those in force",
		Long:    "List operators' model deployments and rollbacks in the order they were recorded; * marks the deployment in force for its tenant or cohort.",
		Example: `  halo models ls --tenant acme`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			deps, err := models.LoadDeployments(ctx, store)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "\tTENANT\tCOHORT\tVERSION\tMODEL\tKIND\tTHRESHOLD\tAT\tBY")
			hist := deps.History(tenant.value)
			last := map[string]int{} // tenant|cohort → index of its last row
			for i, d := range hist {
				last[d.Tenant+"|"+d.Cohort] = i
			}
			for i, d := range hist {
				mark := ""
				cur, ok := deps.Current(d.Tenant, d.Cohort)
				if ok && cur.Version == d.Version && cur.At.Equal(d.At) || !ok && last[d.Tenant+"|"+d.Cohort] == i {
					mark = "*" // in force (a return to the pipeline's own models is, too)
				}
				model, kind := shortModelID(d.ModelID), d.Kind
				if d.ModelID == "" {
					model, kind = "(pipeline's own)", "-"
				}
				if d.Rollback {
					kind += " (rollback)"
				}
				cohort := d.Cohort
				if cohort == "" {
					cohort = "(all)"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%.4g\t%s\t%s\n", mark, d.Tenant, cohort, d.Version, model, kind, d.Threshold, d.At.Format("2006-01-02 15:04:05Z07:00"), d.Actor)
			}
			return w.Flush()
		},
	}
	sf.register(cmd.Flags(), dataDirHelp)
	cmd.Flags().Var(&tenant, "tenant", "only this tenant's deployments (e.g. --tenant acme)")
	return cmd
}

func scope(d models.Deployment) string {
	if d.Cohort == "" {
		return "tenant " + d.Tenant
	}
	return "cohort " + d.Cohort + " of " + d.Tenant
}

func shortModelID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
