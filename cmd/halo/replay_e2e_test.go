package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportAndReplayEndToEnd imports a labeled Zeek log with the binary,
// imports it again (stored once), replays it twice into sandboxes, and
// checks the report and that alerts.jsonl is byte-identical between runs.
func TestImportAndReplayEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	var zeekLog string
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		p := filepath.Join(filepath.Dir(d), "shared", "data", "zeek", "stratosphere", "001-zeek-scenario-malicious", "labeled-conn.log")
		if _, err := os.Stat(p); err == nil {
			zeekLog = p
			break
		}
	}
	if zeekLog == "" {
		t.Fatal("shared/data/zeek not found above " + wd)
	}
	bin := buildHalo(t)
	data := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--data", data)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := runWithin(cmd, 60e9); err != nil {
			t.Fatalf("halo %s: %v\n%s\n%s", strings.Join(args, " "), err, &out, &errb)
		}
		return out.String()
	}
	run("import", "zeek", "--tenant", "lab", "--local-device", zeekLog)
	run("import", "zeek", "--tenant", "lab", "--local-device", zeekLog)
	ls := run("events", "ls", "--tenant", "lab", "--type", "label.recorded")
	if n := strings.Count(ls, "\n"); n != 244 {
		t.Fatalf("%d labels after importing twice, want 244", n)
	}
	out1, out2 := t.TempDir(), t.TempDir()
	run("replay", "--tenant", "lab", "--out", out1)
	run("replay", "--tenant", "lab", "--out", out2)
	a1, _ := os.ReadFile(filepath.Join(out1, "alerts.jsonl"))
	a2, _ := os.ReadFile(filepath.Join(out2, "alerts.jsonl"))
	if len(a1) == 0 || !bytes.Equal(a1, a2) {
		t.Fatalf("alerts.jsonl differs between two replays of the same range (%d vs %d bytes)", len(a1), len(a2))
	}
	if page, err := os.ReadFile(filepath.Join(out1, "report.html")); err != nil || !bytes.Contains(page, []byte("<svg")) {
		t.Fatalf("report.html: %v", err)
	}
	var rep struct {
		Overall struct {
			Precision, Recall float64
		}
		ByLabel map[string]struct {
			Recall float64 `json:"recall"`
		} `json:"by_label"`
	}
	b, _ := os.ReadFile(filepath.Join(out1, "report.json"))
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Overall.Precision < 0.9 || rep.Overall.Recall < 0.9 || rep.ByLabel["CC"].Recall < 0.9 {
		t.Fatalf("report %s", b)
	}
}
