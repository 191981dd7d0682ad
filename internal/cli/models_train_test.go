package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/models"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/replay/zeek/zeektest"
)

// TestModelsTrainEval: the data scientist's loop on real labeled traffic —
// import the 001 Zeek log, export its features, train an IsolationForest
// and a random forest, evaluate both (text and --json) — plus determinism
// and the errors.
func TestModelsTrainEval(t *testing.T) {
	ctx := context.Background()
	data, exp, dir := t.TempDir(), filepath.Join(t.TempDir(), "export"), t.TempDir()
	if code, _, stderr := run(ctx, t, "import", "zeek", "--data", data, "--tenant", "lab", zeektest.Path(t, "001-zeek-scenario-malicious/labeled-conn.log")); code != ExitOK {
		t.Fatalf("import: %s", stderr)
	}
	if code, _, stderr := run(ctx, t, "export", "--data", data, "--out", exp, "--tables", "features"); code != ExitOK {
		t.Fatalf("export: %s", stderr)
	}
	fset, err := readTrainingSet(exp, features.Names)
	if err != nil {
		t.Fatal(err)
	}
	pos := 0
	for _, m := range fset.Malicious {
		if m {
			pos++
		}
	}
	if len(fset.Rows) == 0 || pos == 0 || len(fset.Names) != 22 {
		t.Fatalf("feature set: %d rows, %d malicious, %d features", len(fset.Rows), pos, len(fset.Names))
	}
	type evalJSON struct {
		ROCAUC    *float64 `json:"roc_auc"`
		PRAUC     *float64 `json:"pr_auc"`
		Precision *float64 `json:"precision"`
		Recall    *float64 `json:"recall"`
		Windows   int      `json:"windows"`
		Malicious int      `json:"malicious"`
		ByLabel   map[string]struct {
			Windows int     `json:"windows"`
			Recall  float64 `json:"recall"`
		} `json:"by_label"`
	}
	eval := func(model string) evalJSON {
		t.Helper()
		code, out, stderr := run(ctx, t, "models", "eval", "--model", model, "--data", exp, "--json")
		var e evalJSON
		if code != ExitOK || json.Unmarshal([]byte(out), &e) != nil || e.ROCAUC == nil || e.PRAUC == nil || e.Precision == nil || e.Recall == nil {
			t.Fatalf("eval --json: exit %d %q %s", code, out, stderr)
		}
		if e.Windows != len(fset.Rows) || e.Malicious != pos || e.ByLabel["CC"].Windows != pos {
			t.Fatalf("eval counts %+v, want %d windows, %d malicious, all CC", e, len(fset.Rows), pos)
		}
		return e
	}
	iso := filepath.Join(dir, "iforest.json")
	if code, out, stderr := run(ctx, t, "models", "train", "--data", exp, "--kind", "iforest", "--out", iso); code != ExitOK || !strings.Contains(out, "trained iforest") {
		t.Fatalf("train iforest: %s %s", out, stderr)
	}
	ie := eval(iso)
	forest := filepath.Join(dir, "forest.json")
	if code, out, stderr := run(ctx, t, "models", "train", "--data", exp, "--kind", "forest", "--seed", "7", "--out", forest); code != ExitOK || !strings.Contains(out, "holdout") {
		t.Fatalf("train forest: %s %s", out, stderr)
	}
	fe := eval(forest)
	// Supervised on these very labels, the forest separates the C&C
	// windows. (The IsolationForest ranks them only a little above chance: slow
	// periodic retries are not unusual windows, which is why the pipeline
	// has the beaconing detector.)
	if *fe.ROCAUC < 0.9 || *fe.Recall < 0.8 || *ie.ROCAUC < 0 || *ie.ROCAUC > 1 {
		t.Fatalf("forest ROC-AUC %.3f recall %.3f; iforest ROC-AUC %.3f", *fe.ROCAUC, *fe.Recall, *ie.ROCAUC)
	}
	t.Logf("001: iforest ROC-AUC %.3f PR-AUC %.3f; forest ROC-AUC %.3f PR-AUC %.3f recall %.3f", *ie.ROCAUC, *ie.PRAUC, *fe.ROCAUC, *fe.PRAUC, *fe.Recall)
	if code, out, _ := run(ctx, t, "models", "eval", "--model", forest, "--data", exp); code != ExitOK || !strings.Contains(out, "ROC-AUC") || !strings.Contains(out, "CC") {
		t.Fatalf("eval text:\n%s", out)
	}
	// Same export, options and seed: the same artifact, byte for byte; a
	// feature subset is what the artifact records.
	again := filepath.Join(dir, "forest2.json")
	run(ctx, t, "models", "train", "--data", exp, "--kind", "forest", "--seed", "7", "--out", again)
	a, _ := os.ReadFile(forest)
	b, _ := os.ReadFile(again)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("two trainings with the same seed differ")
	}
	sub := filepath.Join(dir, "sub.json")
	if code, _, stderr := run(ctx, t, "models", "train", "--data", exp, "--features", "connections,dst_ports,failed_conns", "--out", sub); code != ExitOK {
		t.Fatal(stderr)
	}
	f, _ := os.Open(sub)
	art, err := models.Load(f)
	f.Close()
	if err != nil || strings.Join(art.Features, ",") != "connections,dst_ports,failed_conns" {
		t.Fatalf("subset artifact: %v %v", art, err)
	}
	// The artifact records the export's windows (60 s, the default), and
	// neither a pipeline of other windows nor a replay of them takes it:
	// its counts are on another scale.
	if fset.Window != time.Minute || art.Window() != time.Minute {
		t.Fatalf("windows: export %v, artifact %v; want 1m", fset.Window, art.Window())
	}
	if code, _, stderr := run(ctx, t, "replay", "--data", data, "--out", t.TempDir(), "--model", sub, "--window", "10s"); code != ExitUsage ||
		!strings.Contains(stderr, "was trained on 1m0s windows, this replay's are 10s") {
		t.Fatalf("replay --model of other windows: %d %s", code, stderr)
	}
	exp10 := filepath.Join(t.TempDir(), "export10")
	if code, _, stderr := run(ctx, t, "export", "--data", data, "--out", exp10, "--tables", "features", "--window", "10s"); code != ExitOK {
		t.Fatalf("export --window 10s: %s", stderr)
	}
	if code, _, stderr := run(ctx, t, "models", "eval", "--model", sub, "--data", exp10); code != ExitFailure ||
		!strings.Contains(stderr, "was trained on 1m0s windows, the export's are 10s") {
		t.Fatalf("eval on an export of other windows: %d %s", code, stderr)
	}
	live := events.New("", "", pipeline.Config{WindowSize: 10 * time.Second, Version: version()}.Configured())
	if err := appendTo(ctx, data, live); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(ctx, t, "models", "deploy", sub, "--data", data, "--tenant", "lab"); code != ExitFailure ||
		!strings.Contains(stderr, "was trained on 1m0s windows; the live pipeline's are 10s") {
		t.Fatalf("deploy to a pipeline of other windows: %d %s", code, stderr)
	}
	eval(sub)
	// Errors.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"models", "train", "--data", exp}, ExitUsage, "--out"},
		{[]string{"models", "train", "--data", exp, "--kind", "svm", "--out", sub}, ExitUsage, "kind"},
		{[]string{"models", "train", "--data", exp, "--features", "nope", "--out", sub}, ExitFailure, `unknown feature "nope"`},
		{[]string{"models", "train", "--data", t.TempDir(), "--out", sub}, ExitFailure, "reading the features of"},
		{[]string{"models", "eval", "--model", filepath.Join(dir, "missing.json"), "--data", exp}, ExitFailure, "missing.json"},
	} {
		code, _, stderr := run(ctx, t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("halo %s: exit %d %q; want %d mentioning %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
	}
}
