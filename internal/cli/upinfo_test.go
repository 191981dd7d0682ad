package cli

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestUpInfo: halo up's advertisement is read back while its process runs,
// ignored once the process is gone or when it is not one, and removed only
// by the process that wrote it.
func TestUpInfo(t *testing.T) {
	dir := t.TempDir()
	if _, err := readUpInfo(dir); !errors.Is(err, errNoUp) {
		t.Fatalf("no up.json: %v, want errNoUp", err)
	}
	me := upInfo{API: "http://127.0.0.1:18080", Edge: "127.0.0.1:18443", PID: os.Getpid()}
	if err := writeUpInfo(dir, me); err != nil {
		t.Fatal(err)
	}
	if got, err := readUpInfo(dir); err != nil || got != me {
		t.Fatalf("read back %+v, %v; want %+v", got, err, me)
	}

	// A process that is gone (no pid reaches 2^30, Linux's limit is 2^22):
	// its advertisement is stale.
	gone := upInfo{API: me.API, Edge: me.Edge, PID: 1 << 30}
	if err := writeUpInfo(dir, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := readUpInfo(dir); !errors.Is(err, errNoUp) {
		t.Fatalf("up.json of exited pid %d: %v, want errNoUp", gone.PID, err)
	}
	removeUpInfo(dir) // not ours: stays
	if _, err := os.Stat(filepath.Join(dir, upInfoFile)); err != nil {
		t.Fatalf("another process's up.json removed: %v", err)
	}

	for _, bad := range []string{"", "{", `{"api":"x","pid":1}`, `{"edge":"127.0.0.1:1","pid":0}`} {
		if err := os.WriteFile(filepath.Join(dir, upInfoFile), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readUpInfo(dir); !errors.Is(err, errNoUp) {
			t.Errorf("up.json %q: %v, want errNoUp", bad, err)
		}
	}

	if err := writeUpInfo(dir, me); err != nil {
		t.Fatal(err)
	}
	removeUpInfo(dir)
	if _, err := os.Stat(filepath.Join(dir, upInfoFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("own up.json not removed: %v", err)
	}
}
