package roles

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/identity"
)

// TestSecondAPIServesNoWebhooks: an API started on a data directory whose
// webhooks another API serves (halo api next to halo up) serves the rest
// and answers /v1/webhooks 503, saying which process serves them: two
// engines on one journal each delivered every alert. The first still
// serves them.
func TestSecondAPIServesNoWebhooks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reg, err := identity.Load(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	token, err := identity.CreateTenant(ctx, store, reg, dir, "acme", "Acme", "test")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(tw{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	get := func(srv http.Handler) (int, string) {
		t.Helper()
		hs := httptest.NewServer(srv)
		defer hs.Close()
		req, _ := http.NewRequest("GET", hs.URL+"/v1/webhooks", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		var (
			resp *http.Response
			err  error
		)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			// The folds load the tenant's token after the start.
			if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized || time.Now().After(deadline) {
				break
			}
			resp.Body.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	first, wait1, err := API(ctx, store, dir, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer wait1()
	second, wait2, err := API(ctx, store, dir, nil, logger)
	if err != nil {
		t.Fatalf("a second API on the data directory: %v", err)
	}
	defer wait2()
	if code, body := get(second); code != http.StatusServiceUnavailable || !strings.Contains(body, "another process of this data directory serves them") {
		t.Fatalf("second API: %d %s", code, body)
	}
	if code, body := get(first); code != http.StatusOK {
		t.Fatalf("first API: %d %s", code, body)
	}
	cancel()
}
