package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/events/storetest"
)

// TestTailFollowsThroughHandover: halo events tail run while halo up was
// down serves the data directory's log itself; a halo up starting then
// takes it over (instead of failing because the directory is in use), and
// tail follows on through halo up's server, missing nothing appended
// meanwhile.
func TestTailFollowsThroughHandover(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	if code, _, stderr := run(ctx, t, "tenants", "create", "acme", "--data", data); code != ExitOK {
		t.Fatalf("tenants create: exit %d:\n%s", code, stderr)
	}
	advertised := func() (holder string, serving bool) {
		b, err := os.ReadFile(filepath.Join(data, "nats", "server.json"))
		if err != nil {
			return "", false
		}
		var si struct {
			Holder  string
			Serving bool
		}
		json.Unmarshal(b, &si)
		return si.Holder, si.Serving
	}
	var tailOut, tailErr syncBuffer
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(filepath.Join(data, "nats", "server.json"))
				t.Fatalf("no %s within 20 s; server.json %s; tail:\n%s", what, b, tailErr.String())
			}
		}
	}

	tailCtx, stopTail := context.WithCancel(ctx)
	defer stopTail()
	tailDone := make(chan int, 1)
	go func() { tailDone <- Main(tailCtx, []string{"events", "tail", "--data", data}, &tailOut, &tailErr) }()
	waitFor("tail serving the log itself", func() bool { h, _ := advertised(); return h == "halo events tail" })

	upCtx, stopUp := context.WithCancel(ctx)
	defer stopUp()
	var upOut, upErr syncBuffer
	upDone := make(chan int, 1)
	go func() {
		upDone <- Main(upCtx, []string{"up", "--data", data, "--api-addr", "127.0.0.1:0", "--edge-addr", freeTCPAddr(t)}, &upOut, &upErr)
	}()
	waitFor("halo up serving the log", func() bool {
		select {
		case code := <-upDone:
			t.Fatalf("halo up: exit %d:\n%s", code, upErr.String())
		default:
		}
		_, serving := advertised()
		return serving
	})

	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: data, MustExist: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if store.Embedded() {
		t.Fatal("the test's store started its own server instead of joining halo up's")
	}
	evs := storetest.Traffic("acme", "pos-1", time.Now(), 3)
	if err := store.Append(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	waitFor("the 3 events on tail's output", func() bool { return strings.Count(tailOut.String(), "\n") >= 3 })
	for _, ev := range evs {
		if !strings.Contains(tailOut.String(), ev.ID.String()) {
			t.Errorf("tail's output lacks %s:\n%s", ev.ID, tailOut.String())
		}
	}
	if !strings.Contains(tailErr.String(), "following on through it") {
		t.Errorf("tail's log does not say it follows on through halo up:\n%s", tailErr.String())
	}
	if !strings.Contains(upErr.String(), `from="halo events tail (pid `) {
		t.Errorf("halo up's log does not name what it took the log over from:\n%s", upErr.String())
	}
	waitFor("halo up being up", func() bool { return strings.Contains(upOut.String()+upErr.String(), "halo is up") })
	stopTail()
	if code := <-tailDone; code != ExitOK {
		t.Errorf("tail: exit %d:\n%s", code, tailErr.String())
	}
	stopUp()
	if code := <-upDone; code != ExitOK {
		t.Errorf("up: exit %d:\n%s", code, upErr.String())
	}
}
