package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/halo-sec/halo/models"
	"github.com/halo-sec/halo/pipeline/features"
)

// TestModelsDeployLsRollback drives halo models deploy, ls and rollback on
// an embedded log, and their errors.
func TestModelsDeployLsRollback(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	art, file := modelFile(t)
	if code, _, stderr := run(ctx, t, "models", "deploy", file, "--data", data, "--tenant", "acme"); code != ExitFailure || !strings.Contains(stderr, "halo tenants create acme") {
		t.Fatalf("deploy to a missing tenant: %d %s", code, stderr)
	}
	if code, _, stderr := run(ctx, t, "tenants", "create", "acme", "--data", data); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr := run(ctx, t, "models", "deploy", file, "--data", data, "--tenant", "acme")
	if code != 0 || !strings.Contains(out, "for tenant acme as version 1") {
		t.Fatalf("deploy: %d %s %s", code, out, stderr)
	}
	kept := filepath.Join(data, "models", strings.TrimPrefix(art.ID, "sha256:")+".json")
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("the artifact is not kept under the data directory: %v", err)
	}
	if code, out, _ = run(ctx, t, "models", "deploy", file, "--data", data, "--tenant", "acme", "--cohort", "acme/P2/1.4"); code != 0 || !strings.Contains(out, "cohort acme/P2/1.4 of acme as version 1") {
		t.Fatalf("cohort deploy: %s", out)
	}
	code, out, _ = run(ctx, t, "models", "ls", "--data", data, "--tenant", "acme")
	if code != 0 || strings.Count(out, "*") != 2 || !strings.Contains(out, "iforest") {
		t.Fatalf("ls:\n%s", out)
	}
	if code, out, _ = run(ctx, t, "models", "rollback", "--data", data, "--tenant", "acme"); code != 0 || !strings.Contains(out, "to the pipeline's own models") {
		t.Fatalf("rollback: %s", out)
	}
	code, out, _ = run(ctx, t, "models", "ls", "--data", data)
	if code != 0 || !strings.Contains(out, "(pipeline's own)") || strings.Count(out, "*") != 2 {
		t.Fatalf("ls after rollback:\n%s", out)
	}
	if code, _, stderr = run(ctx, t, "models", "rollback", "--data", data, "--tenant", "acme"); code != ExitFailure || !strings.Contains(stderr, "no deployed model") {
		t.Fatalf("second rollback: %d %s", code, stderr)
	}
	junk := filepath.Join(t.TempDir(), "junk.json")
	_ = os.WriteFile(junk, []byte("{}"), 0o644)
	if code, _, stderr = run(ctx, t, "models", "deploy", junk, "--data", data, "--tenant", "acme"); code != ExitFailure || !strings.Contains(stderr, "junk.json") {
		t.Fatalf("deploy junk: %d %s", code, stderr)
	}
	if code, _, _ = run(ctx, t, "models", "deploy", file, "--data", data); code != ExitUsage {
		t.Fatalf("deploy without --tenant: exit %d", code)
	}
}

// modelFile trains a small isolation forest over the pipeline's features
// and saves it to a file, as halo models train does.
func modelFile(t *testing.T) (*models.Artifact, string) {
	t.Helper()
	var rows [][]float64
	for i := 0; i < 200; i++ {
		r := make([]float64, len(features.Names))
		r[i%len(r)] = float64(i % 3)
		rows = append(rows, r)
	}
	art, err := models.TrainIsolationForest(rows, features.Names, models.IForestOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := art.Save(&b); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "m.json")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return art, file
}
