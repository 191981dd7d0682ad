package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	if err := WriteFileAtomic(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "two" {
		t.Fatalf("read %q, %v", b, err)
	}
	if err := CheckPrivate(p); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := CheckPrivate(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("CheckPrivate on 0640: %v", err)
	}
	if err := WriteFileAtomic(filepath.Join(t.TempDir(), "missing", "x"), nil, 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

// TestLock: a second lock of a file fails at once, naming the holder's
// pid; unlocked, it is free.
func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	f, _, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, holder, err := Lock(path); !errors.Is(err, ErrLocked) || holder != fmt.Sprintf("pid %d", os.Getpid()) {
		t.Fatalf("a second lock: %v, holder %q", err, holder)
	}
	Unlock(f)
	g, _, err := Lock(path)
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	Unlock(g)
	Unlock(nil)
}
