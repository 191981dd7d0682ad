package natsstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLease: one process at a time holds a name. Another's Lease waits
// for it up to its wait, then fails naming the holder; a released lease
// is free at once; a lease whose holder is gone without releasing it (its
// connection closed: a crash) lapses within LeaseTTL.
func TestLease(t *testing.T) {
	defer func(d time.Duration) { LeaseTTL = d }(LeaseTTL)
	LeaseTTL = time.Second
	ctx := context.Background()
	dir := t.TempDir()
	server, err := Open(ctx, Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	client := func() *Store {
		t.Helper()
		s, err := Open(ctx, Config{DataDir: dir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := client(), client()
	release, lost, err := a.Lease(ctx, "pipeline.test", 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = b.Lease(ctx, "pipeline.test", 2*LeaseTTL) // renewed meanwhile: still held
	if !errors.Is(err, ErrLeaseHeld) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d on ", os.Getpid())) || time.Since(start) < 2*LeaseTTL {
		t.Fatalf("a second lease: %v after %v", err, time.Since(start))
	}
	select {
	case <-lost:
		t.Fatal("the holder lost its lease to a process that waited")
	default:
	}
	release()
	release() // twice is fine
	rb, _, err := b.Lease(ctx, "pipeline.test", 0)
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	if _, _, err := a.Lease(ctx, "pipeline.other", 0); err != nil {
		t.Fatalf("another name: %v", err)
	}
	// b's process is gone without releasing it: the lease lapses.
	b.Close()
	start = time.Now()
	ra, _, err := a.Lease(ctx, "pipeline.test", 5*LeaseTTL)
	if err != nil {
		t.Fatalf("after the holder closed: %v", err)
	}
	if time.Since(start) > 3*LeaseTTL {
		t.Fatalf("the lapsed lease was taken after %v (LeaseTTL %v)", time.Since(start), LeaseTTL)
	}
	ra()
	rb()
}
