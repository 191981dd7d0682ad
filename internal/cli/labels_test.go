package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLabelsImport records a simulator labels file in the log, once however
// often it is imported; a malformed file records nothing.
func TestLabelsImport(t *testing.T) {
	ctx := context.Background()
	data, dir := t.TempDir(), t.TempDir()
	file := filepath.Join(dir, "attacks.jsonl")
	if err := os.WriteFile(file, []byte(`{"tenant":"shop","device":"pos-1","label":"replay","start":"2026-11-27T08:00:00Z","end":"2026-11-27T08:00:05Z"}
{"tenant":"shop","device":"pos-2","label":"scan","start":"2026-11-27T08:01:00Z","end":"2026-11-27T08:01:00Z"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Before the tenant exists: nothing recorded (a labels file of another
	// data directory, most likely), and the log is not made for it.
	if code, out, stderr := run(ctx, t, "labels", "import", file, "--data", data); code != ExitFailure || out != "" || !strings.Contains(stderr, "no event log in") {
		t.Fatalf("labels import before there is a log: %d %q %s", code, out, stderr)
	}
	if code, _, stderr := run(ctx, t, "tenants", "create", "acme", "--data", data); code != ExitOK {
		t.Fatalf("tenants create: %d %s", code, stderr)
	}
	if code, out, stderr := run(ctx, t, "labels", "import", file, "--data", data); code != ExitFailure || out != "" ||
		!strings.Contains(stderr, `nothing recorded: no tenant "shop" in the event log (tenants: acme)`) {
		t.Fatalf("labels import of another tenant's labels: %d %q %s", code, out, stderr)
	}
	if code, _, stderr := run(ctx, t, "tenants", "create", "shop", "--data", data); code != ExitOK {
		t.Fatalf("tenants create: %d %s", code, stderr)
	}
	for range 2 {
		if code, out, stderr := run(ctx, t, "labels", "import", file, "--data", data); code != ExitOK || !strings.Contains(out, "recorded 2 labels") {
			t.Fatalf("labels import: %d %s %s", code, out, stderr)
		}
	}
	code, out, stderr := run(ctx, t, "events", "ls", "--data", data, "--type", "label.recorded")
	if code != ExitOK || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"source":"LABEL_SOURCE_SIMULATOR"`) && !strings.Contains(out, `"source":"simulator"`) || !strings.Contains(out, `"malicious":true`) {
		t.Fatalf("label.recorded after importing twice:\n%s%s", out, stderr)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	_ = os.WriteFile(bad, []byte("{\"tenant\":\"shop\",\"device\":\"pos-3\",\"label\":\"x\",\"start\":\"2026-11-27T08:00:00Z\"}\nnot json\n"), 0o644)
	if code, _, stderr := run(ctx, t, "labels", "import", bad, "--data", data); code != ExitUsage || !strings.Contains(stderr, "line 2") {
		t.Fatalf("malformed file: %d %s", code, stderr)
	}
	if _, out, _ := run(ctx, t, "events", "ls", "--data", data, "--type", "label.recorded"); strings.Count(out, "\n") != 2 {
		t.Fatalf("a malformed file recorded labels:\n%s", out)
	}
}
