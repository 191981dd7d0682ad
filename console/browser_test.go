package console_test

// The browser test drives the console in a real headless Chromium, against
// a real halo stack: an embedded NATS log, the API from internal/roles and
// console.Handler on one httptest server.
//
// Setup (Debian): apt-get install -y chromium
// Run:            go test ./console/ -run TestBrowser -v
// In CI set HALO_REQUIRE_BROWSER=1 so a missing Chromium fails the test
// instead of skipping it. With -update-screenshot it rewrites docs/console.png.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/halo-sec/halo/console"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/internal/roles"
)

const chromiumPath = "/usr/bin/chromium"

// screenshotPath is where the README's screenshot is written, relative to
// this package's directory (where go test runs).
const screenshotPath = "../docs/console.png"

var updateScreenshot = flag.Bool("update-screenshot", false, "rewrite docs/console.png, the README's screenshot of the console")

func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("HALO_REQUIRE_BROWSER") == "1" {
			t.Fatalf("HALO_REQUIRE_BROWSER=1 but %s is missing (%v): install it with apt-get install -y chromium", chromiumPath, err)
		}
		t.Skipf("skipping the browser test: %s is missing (apt-get install -y chromium; set HALO_REQUIRE_BROWSER=1 to make this a failure)", chromiumPath)
	}
}

// stack is a running halo API and console with one tenant, one operator
// token and one enrolled device.
type stack struct {
	store  events.Store
	url    string
	token  string
	tenant string
	device string
}

func newStack(t *testing.T, ctx context.Context, noStream bool) *stack {
	t.Helper()
	dataDir := t.TempDir()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: filepath.Join(dataDir, "nats")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := &stack{store: store, tenant: "acme", device: "pos-0001"}
	reg := identity.NewRegistry()
	if s.token, err = identity.CreateTenant(ctx, store, reg, dataDir, s.tenant, "Acme Payments", "test"); err != nil {
		t.Fatal(err)
	}
	ca, err := identity.LoadOrCreateCA(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.Enroll(ctx, store, reg, ca, identity.EnrollRequest{Tenant: s.tenant, Device: s.device, Model: "A920", Firmware: "PayDroid 7.1.2"}); err != nil {
		t.Fatal(err)
	}
	apiCtx, cancel := context.WithCancel(ctx)
	srv, wait, err := roles.API(apiCtx, store, dataDir, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", srv)
	mux.Handle("/", console.Handler())
	if noStream { // a server without GET /v1/alerts/stream: the console must poll
		mux.Handle("GET /v1/alerts/stream", http.NotFoundHandler())
	}
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { hs.Close(); cancel(); wait() })
	s.url = hs.URL
	return s
}

// TestBrowser signs in, sees an alert arrive live, opens its device,
// quarantines it and sees its status change, once over the SSE stream and
// once with the stream unavailable (polling). The stream run saves the
// screenshot.
func TestBrowser(t *testing.T) {
	requireChromium(t)
	t.Run("stream", func(t *testing.T) { testConsole(t, "stream", true) })
	t.Run("polling", func(t *testing.T) { testConsole(t, "polling", false) })
}

func testConsole(t *testing.T, wantMode string, screenshot bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := newStack(t, ctx, wantMode == "polling")

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer bcancel()

	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	poll := chromedp.WithPollingTimeout(10 * time.Second)

	// Sign in; the list is empty.
	do("sign in",
		chromedp.Navigate(s.url+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), s.token),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("no-alerts")),
	)
	if _, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](`document.querySelector("#live").dataset.mode === "`+wantMode+`"`, poll)); err != nil {
		t.Fatalf("live feed mode is %q, want %q: %v", text("#live"), wantMode, err)
	}

	// The device's traffic of the last hours, for its activity chart.
	var traffic []events.Event
	for i := 0; i < 240; i++ {
		t0 := time.Now().UTC().Add(-time.Duration(240-i) * 5 * time.Minute)
		conn := fmt.Sprintf("c%d", i)
		o := events.New(s.tenant, s.device, &events.ConnOpened{ConnId: conn, DstHost: "pay.example", DstPort: 443, Mode: events.ConnMode_CONN_MODE_CONNECT})
		o.Time = t0
		c := events.New(s.tenant, s.device, &events.ConnClosed{ConnId: conn, BytesUp: uint64(2000 + 50*(i%17)), BytesDown: uint64(9000 + 300*(i%11)), Reason: events.CloseReason_CLOSE_REASON_CLIENT})
		c.Time = t0.Add(time.Second)
		traffic = append(traffic, o, c)
	}
	if err := s.store.Append(ctx, traffic...); err != nil {
		t.Fatal(err)
	}

	// The pipeline raises an alert: it appears without a reload.
	at := time.Now().UTC().Add(-3 * time.Minute)
	ev := events.New(s.tenant, s.device, &events.AlertRaised{
		AlertId: "alert-0001", Detector: "beacon", Severity: events.Severity(4), Score: 0.93,
		WindowStart: at.Add(-5 * time.Minute).UnixNano(), WindowEnd: at.UnixNano(),
		Evidence: [][]byte{func() []byte { id := events.NewID(); return id[:] }()},
		Summary:  "Periodic beacon to c2.evil.example every 60 s", Explanation: "Connections every 60 s ± 0.4 s to a host this fleet never contacted.",
		Key: "c2.evil.example",
	})
	ev.Time = at
	if err := s.store.Append(ctx, ev); err != nil {
		t.Fatal(err)
	}
	row := `tr[data-alert-id="alert-0001"]`
	do("alert appears live", chromedp.WaitVisible(chromedp.CSS(row)))
	if got := text(row + " td:nth-child(4)"); !strings.Contains(got, "beacon to c2.evil.example") {
		t.Errorf("the new row's summary = %q", got)
	}
	navs, err := chromedp.Run(bctx, chromedp.Evaluate[int](`performance.getEntriesByType("navigation").length`))
	if err != nil || navs != 1 {
		t.Errorf("navigations = %d (%v), want 1: the page must not reload", navs, err)
	}

	// Open the device and quarantine it.
	do("open device",
		chromedp.Click(chromedp.CSS(row+" td:nth-child(3) a")),
		chromedp.WaitVisible(chromedp.ID("quarantine")),
	)
	if got := text("#device-status"); got != "active" {
		t.Fatalf("device status before quarantine = %q, want active", got)
	}
	// The activity chart is drawn from the device's timeline.
	do("activity chart", chromedp.WaitVisible(chromedp.ID("activity-chart")))
	do("quarantine",
		chromedp.SendKeys(chromedp.ID("reason"), "beacon to c2.evil.example"),
		chromedp.Click(chromedp.ID("quarantine")),
		chromedp.Poll[chromedp.Void](`document.querySelector("#device-status")?.textContent === "quarantined"`, poll),
		chromedp.WaitEnabled(chromedp.ID("release")),
	)

	// The quarantine is in the log.
	var found *events.InterventionApplied
	for e, err := range s.store.Read(ctx, events.Query{Tenant: s.tenant, Device: s.device}) {
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := e.Payload.(*events.InterventionApplied); ok && p.Kind == events.InterventionKind_INTERVENTION_KIND_QUARANTINE {
			found = p
		}
	}
	switch {
	case found == nil:
		t.Fatal("no quarantine intervention.applied event in the log")
	case found.Reason != "beacon to c2.evil.example" || !strings.HasPrefix(found.Actor, "token:"):
		t.Errorf("quarantine event: reason %q actor %q", found.Reason, found.Actor)
	}

	if screenshot {
		do("settle", chromedp.Sleep(300*time.Millisecond))
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("screenshot: %d bytes, not a PNG", len(png))
		}
		// The README's copy is rewritten on request only, so that a test
		// run leaves the working tree as it was.
		if *updateScreenshot {
			if err := os.WriteFile(screenshotPath, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", screenshotPath, len(png))
		}
	}

	// Sign out returns to sign-in; an unknown token gets a message.
	do("sign out",
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("token")),
	)
	do("unknown token",
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem("halo.token", "nope")`),
		chromedp.Navigate(s.url+"/?again#/fleet"),
		chromedp.WaitVisible(chromedp.ID("token")),
	)
	msg, err := chromedp.Run(bctx, chromedp.Poll[string](`document.querySelector("#signin-msg")?.textContent || ""`, poll))
	if err != nil {
		t.Fatalf("sign-in message after a 401: %v", err)
	}
	if !strings.Contains(msg, "sign in again") {
		t.Errorf("after a 401 the sign-in message = %q", msg)
	}
}
