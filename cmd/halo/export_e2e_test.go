package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/halo-sec/halo/replay/zeek/zeektest"
)

// TestExportEndToEnd imports a labeled Zeek log with the binary, exports it
// with halo export, and reads the tables back with pyarrow: as many
// connections as the log has conn.closed events, as many labels as
// label.recorded, the labeled windows malicious; a second export into the
// same directory fails without --overwrite and leaves the first intact.
func TestExportEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	zeekLog := zeektest.Path(t, "001-zeek-scenario-malicious/labeled-conn.log")
	bin := buildHalo(t)
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "export")
	run := func(args ...string) (stdout, stderr string, err error) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--data", data)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err = runWithin(cmd, 120e9)
		return o.String(), e.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		o, e, err := run(args...)
		if err != nil {
			t.Fatalf("halo %s: %v\n%s\n%s", strings.Join(args, " "), err, o, e)
		}
		return o
	}
	must("import", "zeek", "--tenant", "lab", zeekLog)
	closed := strings.Count(must("events", "ls", "--tenant", "lab", "--type", "conn.closed"), "\n")
	labels := strings.Count(must("events", "ls", "--tenant", "lab", "--type", "label.recorded"), "\n")
	summary := must("export", "--tenant", "lab", "--out", out)
	if !strings.Contains(summary, "connections") || !strings.Contains(summary, "rows/s") {
		t.Fatalf("halo export printed %q", summary)
	}
	manifest, err := os.ReadFile(filepath.Join(out, "export.json"))
	if err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys
import pyarrow.dataset as ds
out = sys.argv[1]
res = {}
for t in ["connections", "transactions", "features", "alerts", "labels"]:
    tab = ds.dataset(f"{out}/{t}", format="parquet", partitioning="hive").to_table()
    res[t] = tab.num_rows
    if t == "features":
        res["malicious"] = sum(tab.column("malicious").to_pylist())
print(json.dumps(res))
`
	py := exec.Command("python3", "-c", script, out)
	b, err := py.CombinedOutput()
	if err != nil {
		t.Fatalf("pyarrow: %v\n%s", err, b)
	}
	var got map[string]int
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("pyarrow printed %s", b)
	}
	if closed == 0 || got["connections"] != closed || got["labels"] != labels || got["transactions"] != 0 || got["features"] == 0 {
		t.Fatalf("read back %v; the log has %d conn.closed and %d label.recorded", got, closed, labels)
	}
	if got["malicious"] != 47 { // the labeled (device, window) pairs of this log
		t.Fatalf("%d malicious windows, want 47", got["malicious"])
	}
	_, e, err := run("export", "--tenant", "lab", "--out", out)
	if err == nil || !strings.Contains(e, "--overwrite") {
		t.Fatalf("a second export into %s: %v\n%s", out, err, e)
	}
	if again, _ := os.ReadFile(filepath.Join(out, "export.json")); !bytes.Equal(again, manifest) {
		t.Fatal("a refused export changed export.json")
	}
	must("export", "--tenant", "lab", "--out", out, "--overwrite", "--tables", "connections")
	if _, err := os.Stat(filepath.Join(out, "features")); err != nil {
		t.Fatalf("--overwrite --tables connections removed the features table: %v", err)
	}
}
