package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/export"
	"github.com/halo-sec/halo/internal/fsutil"
	"github.com/halo-sec/halo/models"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/pipeline/features"
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
	cmd.AddCommand(newModelsTrainCmd(a), newModelsEvalCmd(a), newModelsDeployCmd(a), newModelsRollbackCmd(a), newModelsLsCmd(a))
	return cmd
}

func newModelsTrainCmd(a *app) *cobra.Command {
	var (
		dir, out string
		feats    []string
		seed     int64
		fpr      float64
		trees    int
	)
	kind := newChoice("iforest", "iforest", "forest")
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a golearn model on an export's feature windows and write its artifact",
		Long: `Train a model on the features table of a Parquet export (halo export): an
IsolationForest (--kind iforest, unsupervised: every window, the threshold
calibrated so that --fpr of them are flagged) or a random forest (--kind
forest, supervised by the windows' malicious labels, with a holdout
measured). The same export, options and seed give the same artifact, bit
for bit. The artifact (versioned JSON: features, baselines, threshold,
metrics, trees) is what halo models eval, halo models deploy and halo
replay --model take.`,
		Example: `  halo export --data /var/lib/halo --out /tmp/export
  halo models train --data /tmp/export --kind iforest --out iforest.json
  halo models train --data /tmp/export --kind forest --features connections,dst_ports,bytes_up --seed 7 --out forest.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" || out == "" {
				return usageErrorf("--data EXPORTDIR and --out FILE are required")
			}
			start := time.Now()
			names := features.Names
			if len(feats) > 0 {
				names = feats
			}
			fset, err := readTrainingSet(dir, names)
			if err != nil {
				return err
			}
			pos := 0
			for _, m := range fset.Malicious {
				if m {
					pos++
				}
			}
			fmt.Fprintf(a.stderr, "read %d windows of %v (%d malicious) with %d features from %d files in %v; training %s\n",
				len(fset.Rows), fset.Window, pos, len(fset.Names), fset.Files, time.Since(start).Round(time.Millisecond), kind.value)
			tstart := time.Now()
			var art *models.Artifact
			switch kind.value {
			case "iforest":
				art, err = models.TrainIsolationForest(fset.Rows, fset.Names, models.IForestOptions{Trees: trees, Seed: seed, FPR: fpr, CreatedBy: "halo models train", Window: fset.Window})
			default:
				if pos == 0 || pos == len(fset.Rows) {
					return fmt.Errorf("--kind forest needs labeled windows of both classes; the export has %d malicious of %d (import labels, or train --kind iforest)", pos, len(fset.Rows))
				}
				art, err = models.TrainRandomForest(fset.Rows, fset.Malicious, fset.Names, models.ForestOptions{Trees: trees, Seed: seed, CreatedBy: "halo models train", Window: fset.Window})
			}
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := art.Save(&buf); err != nil {
				return err
			}
			if err := fsutil.WriteFileAtomic(out, buf.Bytes(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "trained %s %s on %d windows in %v: threshold %.4g; wrote %s\n", art.Kind, shortModelID(art.ID), art.Rows, time.Since(tstart).Round(time.Millisecond), art.Threshold, out)
			if h := art.Metrics.Holdout; h != nil {
				fmt.Fprintf(a.stdout, "holdout (%d windows): ROC-AUC %.3f, PR-AUC %.3f, precision %.3f, recall %.3f\n", art.Metrics.HoldoutRows, zeroNaN(h.ROCAUC), zeroNaN(h.PRAUC), h.Precision, h.Recall)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "data", "", "the export `DIR` of halo export (its features table; required; e.g. --data /tmp/export)")
	f.Var(kind, "kind", "iforest (IsolationForest, no labels) or forest (random forest on the malicious labels; e.g. --kind forest)")
	f.StringSliceVar(&feats, "features", nil, "the feature columns to train on, comma-separated (default all; e.g. --features connections,dst_ports,bytes_up)")
	f.Int64Var(&seed, "seed", 1, "random seed: the same export, options and seed give the same model (e.g. --seed 7)")
	f.Float64Var(&fpr, "fpr", 0.01, "iforest: the share of training windows above the calibrated threshold (e.g. --fpr 0.005)")
	f.IntVar(&trees, "trees", 0, "trees in the forest (default 100 for iforest, 50 for forest; e.g. --trees 200)")
	f.StringVar(&out, "out", "", "the artifact `FILE` to write (required; e.g. --out iforest.json)")
	return cmd
}

// EvalReport is the JSON of halo models eval --json.
type EvalReport struct {
	Model     string               `json:"model"`
	Kind      string               `json:"kind"`
	Windows   int                  `json:"windows"`
	Malicious int                  `json:"malicious"`
	Threshold float64              `json:"threshold"`
	ROCAUC    float64              `json:"roc_auc"`
	PRAUC     float64              `json:"pr_auc"`
	Precision float64              `json:"precision"`
	Recall    float64              `json:"recall"`
	TP        int                  `json:"tp"`
	FP        int                  `json:"fp"`
	FN        int                  `json:"fn"`
	TN        int                  `json:"tn"`
	ByLabel   map[string]LabelEval `json:"by_label"`
}

// LabelEval is the recall of one label's windows.
type LabelEval struct {
	Windows int     `json:"windows"`
	Flagged int     `json:"flagged"`
	Recall  float64 `json:"recall"`
}

func newModelsEvalCmd(a *app) *cobra.Command {
	var (
		dir, model string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Measure a model on an export's labeled feature windows",
		Long: `Score every feature window of an export (halo export) with a model artifact
and measure it against the windows' malicious labels: ROC-AUC, PR-AUC
(average precision, as scikit-learn's), precision and recall at the model's
threshold with the confusion matrix, and the recall of each label. Undefined
figures (one class only) are 0. --json prints one object (roc_auc, pr_auc,
precision, recall, by_label, ...).`,
		Example: `  halo models eval --model iforest.json --data /tmp/export
  halo models eval --model forest.json --data /tmp/export --json | jq .roc_auc`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" || model == "" {
				return usageErrorf("--model FILE and --data EXPORTDIR are required")
			}
			f, err := os.Open(model)
			if err != nil {
				return err
			}
			art, err := models.Load(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", model, err)
			}
			fset, err := readTrainingSet(dir, art.Features)
			if err != nil {
				return err
			}
			if art.Window() != 0 && art.Window() != fset.Window {
				return fmt.Errorf("%s was trained on %v windows, the export's are %v: evaluate it on an export of %v windows (halo export --window %v)", model, art.Window(), fset.Window, art.Window(), art.Window())
			}
			scores, err := art.Score(fset.Rows)
			if err != nil {
				return err
			}
			m, err := models.Evaluate(scores, fset.Malicious, art.Threshold)
			if err != nil {
				return err
			}
			rep := EvalReport{Model: art.ID, Kind: string(art.Kind), Windows: len(scores), Threshold: art.Threshold,
				ROCAUC: zeroNaN(m.ROCAUC), PRAUC: zeroNaN(m.PRAUC), Precision: m.Precision, Recall: m.Recall,
				TP: m.TP, FP: m.FP, FN: m.FN, TN: m.TN, ByLabel: map[string]LabelEval{}}
			for i, mal := range fset.Malicious {
				if !mal {
					continue
				}
				rep.Malicious++
				name := fset.Labels[i]
				if name == "" {
					name = "malicious"
				}
				le := rep.ByLabel[name]
				le.Windows++
				if art.Flag(scores[i]) {
					le.Flagged++
				}
				rep.ByLabel[name] = le
			}
			for k, le := range rep.ByLabel {
				le.Recall = float64(le.Flagged) / float64(le.Windows)
				rep.ByLabel[k] = le
			}
			if asJSON {
				b, err := json.Marshal(rep)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s\n", b)
				return nil
			}
			fmt.Fprintf(a.stdout, "model %s (%s), threshold %.4g, on %d windows (%d malicious)\n", shortModelID(art.ID), art.Kind, art.Threshold, rep.Windows, rep.Malicious)
			fmt.Fprintf(a.stdout, "ROC-AUC %.3f  PR-AUC %.3f  precision %.3f  recall %.3f  (tp %d fp %d fn %d tn %d)\n", rep.ROCAUC, rep.PRAUC, rep.Precision, rep.Recall, rep.TP, rep.FP, rep.FN, rep.TN)
			names := make([]string, 0, len(rep.ByLabel))
			for k := range rep.ByLabel {
				names = append(names, k)
			}
			slices.Sort(names)
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "LABEL\tWINDOWS\tFLAGGED\tRECALL")
			for _, k := range names {
				le := rep.ByLabel[k]
				fmt.Fprintf(w, "%s\t%d\t%d\t%.3f\n", k, le.Windows, le.Flagged, le.Recall)
			}
			return w.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "the model artifact `FILE` (halo models train; required; e.g. --model iforest.json)")
	f.StringVar(&dir, "data", "", "the export `DIR` of halo export (required; e.g. --data /tmp/export)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object (e.g. --json)")
	return cmd
}

// trainingSet is an export's feature windows, projected on some features.
type trainingSet struct {
	Names     []string
	Rows      [][]float64
	Malicious []bool
	Labels    []string // the covering label's name, "" when none
	Files     int
	// Window is the size of the feature windows.
	Window time.Duration
}

// readTrainingSet reads the features table of an export (export.ReadFeatures)
// and keeps the named features, in that order.
func readTrainingSet(dir string, names []string) (*trainingSet, error) {
	idx := make([]int, len(names))
	for i, n := range names {
		if idx[i] = slices.Index(features.Names, n); idx[i] < 0 {
			return nil, fmt.Errorf("unknown feature %q (the features: %s)", n, strings.Join(features.Names, ", "))
		}
	}
	rows, err := export.ReadFeatures(dir, "")
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("the export in %s holds no feature windows (export them with: halo export --tables features --out %s)", dir, dir)
	}
	ts := &trainingSet{Names: names, Window: time.Duration(rows[0].End - rows[0].Start)}
	for _, r := range rows {
		if w := time.Duration(r.End - r.Start); w != ts.Window {
			return nil, fmt.Errorf("the export in %s holds feature windows of %v and of %v: train on one size, the pipeline's", dir, ts.Window, w)
		}
		v := make([]float64, len(idx))
		for j, k := range idx {
			v[j] = r.Values[k]
		}
		label := ""
		if r.Label != nil {
			label = *r.Label
		}
		ts.Rows, ts.Malicious, ts.Labels = append(ts.Rows, v), append(ts.Malicious, r.Malicious), append(ts.Labels, label)
	}
	files, _ := filepath.Glob(filepath.Join(dir, export.TableFeatures, "tenant=*", "date=*", "*.parquet"))
	ts.Files = len(files)
	return ts, nil
}

func zeroNaN(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
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
			if err := windowsMatch(ctx, store, args[0]); err != nil {
				return err
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
		sf     = storeFlags{mustExist: true}
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
			store, deps, err := openDeployments(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
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
		sf     = storeFlags{mustExist: true}
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
			store, deps, err := openDeployments(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := requireTenant(ctx, store, tenant.value); err != nil {
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

// openDeployments opens the log and folds its model deployments.
func openDeployments(ctx context.Context, a *app, sf *storeFlags) (*natsstore.Store, *models.Deployments, error) {
	store, err := openStore(ctx, a, sf)
	if err != nil {
		return nil, nil, err
	}
	deps, err := models.LoadDeployments(ctx, store)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, deps, nil
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

// windowsMatch checks that the model artifact at path, when it records the
// size of the windows it was trained on, was trained on the live
// pipeline's, as the pipeline recorded them in the log (a pipeline scores
// no window with a model of other windows: their counts are on another
// scale).
func windowsMatch(ctx context.Context, store events.Store, path string) error {
	w, err := modelWindow(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rec, ok, err := pipeline.RecordedSettings(ctx, store, "", time.Time{}, time.Time{})
	if err != nil || !ok || w == 0 || w == rec.Window {
		return err
	}
	return fmt.Errorf("%s was trained on %v windows; the live pipeline's are %v (recorded %s): export with --window %v, and train again", path, w, rec.Window, stamp(rec.At), rec.Window)
}

// modelWindow is the size of the windows the model artifact at path was
// trained on; 0 when it does not say.
func modelWindow(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	art, err := models.Load(f)
	if err != nil {
		return 0, err
	}
	return art.Window(), nil
}
