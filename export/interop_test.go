package export

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/replay"
	"github.com/halo-sec/halo/replay/zeek"
)

// zeekLog finds a file of ../shared/data/zeek above the working directory.
func zeekLog(t testing.TB, rel string) string {
	t.Helper()
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		p := filepath.Join(filepath.Dir(d), "shared", "data", "zeek", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("shared/data/zeek/%s not found above %s", rel, wd)
	return ""
}

// openLog returns a real embedded JetStream log in a temp dir.
func openLog(t testing.TB) *natsstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func importZeek(t testing.TB, store events.Store, tenant, rel string) []events.Event {
	t.Helper()
	var evs []events.Event
	if _, err := zeek.ImportFile(zeekLog(t, rel), zeek.Options{Tenant: tenant, LocalDevice: true}, func(ev events.Event) error {
		evs = append(evs, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	replay.SortByTime(evs)
	appendAll(t, store, evs)
	return evs
}

func appendAll(t testing.TB, store events.Store, evs []events.Event) {
	t.Helper()
	ctx := context.Background()
	for len(evs) > 0 {
		n := min(len(evs), 4096)
		if err := store.Append(ctx, evs[:n]...); err != nil {
			t.Fatal(err)
		}
		evs = evs[n:]
	}
}

func TestSmoke(t *testing.T) {
	store := openLog(t)
	importZeek(t, store, "lab", "stratosphere/001-zeek-scenario-malicious/labeled-conn.log")
	f := &fleet{Tenant: "shop", Devices: 20, Start: time.Date(2026, 11, 2, 23, 50, 0, 0, time.UTC), Step: 200 * time.Millisecond, TxPerHTTP: 3, Seed: 1}
	appendAll(t, store, f.Events(6000))
	out := "/tmp/smoke-export"; os.RemoveAll(out)
	st, err := Run(context.Background(), store, Config{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	for k, v := range st.Tables {
		t.Logf("%s %+v", k, v)
	}
	t.Log(out)
	os.Setenv("X", out)
}
