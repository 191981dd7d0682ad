package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/halo-sec/halo/replay/zeek/zeektest"
)

// TestStaleSortDirsRemoved: the sorted runs that a killed import or replay
// left behind are removed by the next one, which says so.
func TestStaleSortDirsRemoved(t *testing.T) {
	ctx := context.Background()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	left := func(dir string) string {
		p := filepath.Join(dir, fmt.Sprintf("halo-sort-%d-1", cmd.Process.Pid))
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "run-000000"), make([]byte, 1024), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	data, out := t.TempDir(), t.TempDir()
	imported := left(filepath.Join(data, "tmp"))
	code, _, stderr := run(ctx, t, "import", "zeek", "--data", data, "--tenant", "lab", zeektest.Path(t, "001-zeek-scenario-malicious/labeled-conn.log"))
	if code != ExitOK {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(imported); !os.IsNotExist(err) || !strings.Contains(stderr, "removed 1 directories of sorted runs") {
		t.Fatalf("the import left the stale runs (%v):\n%s", err, stderr)
	}
	replayed := left(out)
	if code, _, stderr = run(ctx, t, "replay", "--data", data, "--out", out); code != ExitOK {
		t.Fatalf("replay: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(replayed); !os.IsNotExist(err) || !strings.Contains(stderr, "removed 1 directories of sorted runs") {
		t.Fatalf("the replay left the stale runs (%v):\n%s", err, stderr)
	}
}
