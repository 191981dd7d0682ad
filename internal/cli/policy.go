package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/policy"
)

func newPolicyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Set or show a tenant's policy (actions, quarantine allow-list, replay shield)",
		Long: `A tenant's policy maps detectors and severities to actions (notify, block the
destination or the fingerprint, quarantine the device, with an expiry and a
dry-run mode), lists what a quarantined device may still reach, and sets the
edge's replay shield. It is YAML, validated with every problem reported, and
recorded in the log (policy.changed); running edges apply it within a second.`,
		Example: `  halo policy show --tenant acme
  halo policy set --tenant acme acme.yaml`,
		Args: cobra.ArbitraryArgs,
		RunE: runGroup,
	}
	var sf storeFlags
	var tenant tenantFlag
	set := &cobra.Command{
		Use:   "set FILE",
		Short: "Validate a YAML policy and record it as the tenant's (policy.changed)",
		Long:  "Validate a YAML policy file, reporting every problem at once, and record it as the tenant's new policy version.",
		Example: `  cat > acme.yaml <<'YAML'
  replay_shield: {enabled: true, methods: [POST], horizon: 24h}
  quarantine: {allow: [updates.example.com, "10.20.0.0/16"]}
  rules:
    - {detector: replay-attack, actions: [block-fingerprint], expiry: 24h}
    - {detector: scan, min_severity: high, actions: [quarantine], expiry: 1h}
    - {detector: "*", actions: [notify]}
  YAML
  halo policy set --tenant acme acme.yaml`,
		Args: exactArgs(1, "the policy FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant.value == "" {
				return usageErrorf("--tenant is required")
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return &usageError{err}
			}
			doc, err := policy.Parse(b)
			if err != nil {
				return &usageError{err}
			}
			if err := knownDetectors(doc); err != nil {
				return &usageError{fmt.Errorf("%s: %w", args[0], err)}
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := requireTenant(ctx, store, tenant.value); err != nil {
				return err // a policy of no tenant governs nothing
			}
			pols, err := policy.Load(ctx, store)
			if err != nil {
				return err
			}
			v, err := policy.Record(ctx, store, pols, tenant.value, b, actor())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Policy version %d recorded for %s.\n", v, tenant.value)
			return nil
		},
	}
	sf.register(set.Flags(), dataDirHelp)
	set.Flags().Var(&tenant, "tenant", "the tenant `NAME` (required; e.g. --tenant acme)")

	sf2 := storeFlags{mustExist: true}
	var tenant2 tenantFlag
	show := &cobra.Command{
		Use:     "show",
		Short:   "Print the policy in force for a tenant (the default when none was set)",
		Long:    "Print, as YAML, the policy in force for a tenant: the last one recorded, or Halo's default.",
		Example: `  halo policy show --tenant acme > acme.yaml`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant2.value == "" {
				return usageErrorf("--tenant is required")
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, a, &sf2)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := requireTenant(ctx, store, tenant2.value); err != nil {
				return err
			}
			pols, err := policy.Load(ctx, store)
			if err != nil {
				return err
			}
			b, err := pols.For(tenant2.value).Marshal()
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}
	sf2.register(show.Flags(), dataDirHelp)
	show.Flags().Var(&tenant2, "tenant", "the tenant `NAME` (required; e.g. --tenant acme)")
	cmd.AddCommand(set, show)
	return cmd
}

// knownDetectors refuses a policy rule for a detector Halo does not have:
// a rule for "beconing" was recorded and matched nothing, silently, while
// its author believed beaconing quarantined.
func knownDetectors(doc policy.Document) error {
	for i, r := range doc.Rules {
		if r.Detector == "*" {
			continue
		}
		if err := detect.Check(r.Detector); err != nil {
			return fmt.Errorf("rule %d: %w (or * for any)", i+1, err)
		}
	}
	return nil
}
