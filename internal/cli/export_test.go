package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/halo-sec/halo/replay/zeek/zeektest"
)

func TestExportUsageErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--data", data}, "--out is required"},
		{[]string{"export", "--data", data, "--out", t.TempDir(), "--tables", "connections,flows"}, `unknown table "flows"`},
		{[]string{"export", "--data", data, "--out", t.TempDir(), "--from", "2026-11-28", "--to", "2026-11-27"}, "is not before"},
		{[]string{"export", "--data", data, "--out", t.TempDir(), "--rows-per-file", "-3"}, "--rows-per-file -3"},
		{[]string{"export", "--data", data, "--out", t.TempDir(), "--window", "soon"}, `"--window" flag`},
		{[]string{"export", "--data", data, "--out", t.TempDir(), "--tenant", "acme corp"}, "invalid tenant name"},
	} {
		t.Run(strings.Join(tc.args[3:], " "), func(t *testing.T) {
			code, stdout, stderr := run(ctx, t, tc.args...)
			if code != ExitUsage || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d and %q", code, stdout, stderr, ExitUsage, tc.want)
			}
		})
	}
	// Interrupted before it could write: exit 130, nothing written.
	out := filepath.Join(t.TempDir(), "x")
	if code, _, stderr := run(ctx, t, "export", "--data", data, "--out", out); code != ExitInterrupted {
		t.Errorf("interrupted export: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("an interrupted export created %s", out)
	}
}

// TestExportCommand imports a Zeek log and exports it in-process: the
// summary names every table, and the files are where docs/export.md says.
func TestExportCommand(t *testing.T) {
	log := zeektest.Path(t, "slips-test18-ctu-sme-11/zeek-labeled/conn.log.labeled")
	ctx := context.Background()
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "export")
	if code, _, stderr := run(ctx, t, "import", "zeek", "--data", data, "--tenant", "lab", log); code != ExitOK {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := run(ctx, t, "export", "--data", data, "--out", out, "--tenant", "lab")
	if code != ExitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	for _, table := range []string{"connections", "transactions", "features", "alerts", "labels"} {
		if !strings.Contains(stdout, table) {
			t.Errorf("summary lacks %s:\n%s", table, stdout)
		}
	}
	parts, _ := filepath.Glob(filepath.Join(out, "connections", "tenant=lab", "date=*", "part-0.parquet"))
	feats, _ := filepath.Glob(filepath.Join(out, "features", "tenant=lab", "date=*", "part-0.parquet"))
	if len(parts) == 0 || len(feats) == 0 {
		t.Fatalf("no connections or features files under %s:\n%s", out, stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "export.json")); err != nil {
		t.Fatal(err)
	}
}
