package cli

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
)

func newLabelsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "labels",
		Short: "Record labeled spans of device traffic in the log (label.recorded)",
		Long: `Labels say which spans of a device's traffic were malicious: Zeek imports
record theirs, analysts' verdicts on alerts record theirs, and halo labels
import records a labels file — halo sim's --labels-out, or any JSON lines
{"tenant","device","label","start","end"} (with an optional "detail"). In the
log, labels reach halo replay's scores, halo export's labels table and the
features table's malicious column, and so the models trained on it.`,
		Example: `  halo sim --edge 127.0.0.1:8443 --tenant shop --devices 20 --duration 10m --attacks replay@2m,scan@5m --labels-out attacks.jsonl
  halo labels import attacks.jsonl`,
		Args: cobra.ArbitraryArgs,
		RunE: runGroup,
	}
	sf := storeFlags{mustExist: true}
	source := newChoice("simulator", "simulator", "import")
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Record a JSON-lines labels file as label.recorded events",
		Long: `Record every label of a JSON-lines labels file (the format of halo sim
--labels-out and halo replay --labels) as a malicious label.recorded event.
Event ids are derived from the label, so importing a file twice records it
once. A malformed line, or a label of a tenant the log does not hold (a
file of another data directory), stops the import before anything is
recorded.`,
		Example: `  halo labels import attacks.jsonl --data /var/lib/halo
  halo labels import analyst-spans.jsonl --source import`,
		Args: exactArgs(1, "the labels FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			labels, err := readLabels(args[0])
			if err != nil {
				return &usageError{err}
			}
			if len(labels) == 0 {
				return fmt.Errorf("%s holds no labels", args[0])
			}
			src := events.LabelSource_LABEL_SOURCE_SIMULATOR
			if source.value == "import" {
				src = events.LabelSource_LABEL_SOURCE_IMPORT
			}
			evs := make([]events.Event, 0, len(labels))
			for _, l := range labels {
				if err := events.ValidateTenant(l.Tenant); err != nil {
					return &usageError{fmt.Errorf("%s: %w", args[0], err)}
				}
				if err := events.ValidateDevice(l.Device); err != nil {
					return &usageError{fmt.Errorf("%s: %w", args[0], err)}
				}
				evs = append(evs, l.Event(src))
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			reg, err := identity.Load(ctx, store)
			if err != nil {
				return fmt.Errorf("reading tenants and devices: %w", err)
			}
			var unknown []string
			for _, l := range labels {
				if _, ok := reg.Tenant(l.Tenant); !ok && !slices.Contains(unknown, l.Tenant) {
					unknown = append(unknown, l.Tenant)
				}
			}
			if len(unknown) > 0 {
				// A labels file of another data directory, most likely:
				// nothing recorded rather than labels nothing reads.
				return fmt.Errorf("%s: nothing recorded: %w", args[0], knownTenant(reg, unknown[0]))
			}
			events.SortByTime(evs)
			if err := store.Append(ctx, evs...); err != nil {
				return fmt.Errorf("recording the labels: %w", err)
			}
			fmt.Fprintf(a.stdout, "recorded %d labels from %s\n", len(evs), args[0])
			return nil
		},
	}
	sf.register(imp.Flags(), dataDirHelp)
	imp.Flags().Var(source, "source", "who labeled the spans: simulator (halo sim) or import (another tool; e.g. --source import)")
	cmd.AddCommand(imp)
	return cmd
}
