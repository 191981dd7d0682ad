package events

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRemoveStaleSortDirs: the spill directories of processes that are
// gone are removed, those of running ones (this one) are kept, and so is
// anything else in the directory.
func TestRemoveStaleSortDirs(t *testing.T) {
	dir := t.TempDir()
	// A process that has exited: its id is free.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	mk := func(name string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(p, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "run-000000"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mine := mk(fmt.Sprintf("halo-sort-%d-123", os.Getpid()), 2*time.Hour)
	stale := mk(fmt.Sprintf("halo-sort-%d-456", dead), 0)
	oldFresh := mk("halo-sort-789", 0)
	oldStale := mk("halo-sort-790", 2*time.Hour)
	other := mk("export-tmp", 2*time.Hour)
	if err := os.WriteFile(filepath.Join(dir, "halo-sort-file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := RemoveStaleSortDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("removed %d, want 2", n)
	}
	for _, p := range []string{mine, oldFresh, other, filepath.Join(dir, "halo-sort-file")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
	for _, p := range []string{stale, oldStale} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s was kept", filepath.Base(p))
		}
	}
	if n, err := RemoveStaleSortDirs(filepath.Join(dir, "missing")); n != 0 || err != nil {
		t.Errorf("missing dir: %d %v", n, err)
	}

	// A sorter's spill directory names its process.
	s := NewTimeSorter(dir, 1)
	defer s.Close()
	for _, id := range []string{"x", "y"} { // the second spills the first
		if err := s.Add(Event{ID: DerivedID(id), Schema: SchemaVersion, Tenant: "t", Device: "d", Time: time.Unix(1, 0), Payload: &AuthFailed{}}); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(filepath.Base(s.dir), fmt.Sprintf("halo-sort-%d-", os.Getpid())) {
		t.Fatalf("spill directory %s does not name the process", s.dir)
	}
}
