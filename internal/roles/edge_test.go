package roles

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/events/natstest"
	"github.com/halo-sec/halo/identity"
)

type tw struct{ t *testing.T }

func (w tw) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestEdgeSpoolsThroughALogOutage runs the edge role against a separate
// nats-server, stops the server in the middle of steady device traffic,
// keeps sending, restarts it, and checks that the log ends with exactly one
// conn.opened, tx.observed and conn.closed per request.
func TestEdgeSpoolsThroughALogOutage(t *testing.T) {
	srv := natstest.Start(t)
	dir := t.TempDir()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(tw{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	open := func() *natsstore.Store {
		s, err := natsstore.Open(ctx, natsstore.Config{URL: srv.URL(), CredsFile: srv.SeedFile, ConnectTimeout: 2 * time.Second, AckTimeout: 2 * time.Second}, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	store := open()
	ca, err := identity.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg := identity.NewRegistry()
	if _, err := identity.CreateTenant(ctx, store, reg, dir, "acme", "", "test"); err != nil {
		t.Fatal(err)
	}
	iss, err := identity.Enroll(ctx, store, reg, ca, identity.EnrollRequest{Tenant: "acme", Device: "POS-1"})
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	dst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		served.Add(1)
		w.Write([]byte(`{"ok":true}`))
	}))
	defer dst.Close()

	ectx, stop := context.WithCancel(ctx)
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Edge(ectx, store, EdgeOptions{DataDir: dir, Addr: "127.0.0.1:0", StaticHosts: map[string]netip.Addr{"pay.example": netip.MustParseAddr("127.0.0.1")}}, logger, func(a string) { addrCh <- a })
	}()
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-done:
		t.Fatalf("edge: %v", err)
	}

	cert, _ := tls.X509KeyPair(iss.CertPEM, iss.KeyPEM)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	proxy, _ := url.Parse("https://" + addr)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy),
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1"}}}
	_, port, _ := strings.Cut(strings.TrimPrefix(dst.URL, "http://"), ":")
	sent := 0
	send := func(n int) {
		for i := 0; i < n; i++ {
			body := fmt.Sprintf(`{"amount":"%d.00","nonce":"n%d"}`, sent, sent)
			resp, err := client.Post("http://pay.example:"+port+"/v1/charge", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatalf("request %d: %v", sent, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %d", sent, resp.StatusCode)
			}
			sent++
			time.Sleep(5 * time.Millisecond)
		}
	}
	send(100)
	srv.Stop()
	// The log is down for longer than the publisher's append timeout: the
	// edge keeps forwarding and spools.
	for outage := time.Now(); time.Since(outage) < 7*time.Second; {
		send(20)
	}
	srv.Restart(t)
	send(100)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("edge: %v", err)
	}
	// A second edge run on the same data dir drains what the first left.
	ectx2, stop2 := context.WithCancel(ctx)
	done2 := make(chan error, 1)
	go func() {
		done2 <- Edge(ectx2, store, EdgeOptions{DataDir: dir, Addr: "127.0.0.1:0"}, logger, nil)
	}()
	deadline := time.Now().Add(30 * time.Second)
	count := func() map[events.Type]int {
		c := map[events.Type]int{}
		for ev, err := range store.Read(ctx, events.Query{Tenant: "acme", Types: []events.Type{events.TypeConnOpened, events.TypeTxObserved, events.TypeConnClosed}}) {
			if err != nil {
				return nil
			}
			c[ev.Type()]++
		}
		return c
	}
	var c map[events.Type]int
	for time.Now().Before(deadline) {
		c = count()
		if c[events.TypeConnClosed] >= sent {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop2()
	<-done2
	c = count()
	if int(served.Load()) != sent {
		t.Fatalf("destination served %d of %d", served.Load(), sent)
	}
	for _, typ := range []events.Type{events.TypeConnOpened, events.TypeTxObserved, events.TypeConnClosed} {
		if c[typ] != sent {
			t.Fatalf("%s: %d events for %d requests (%v)", typ, c[typ], sent, c)
		}
	}
	t.Logf("%d requests through a log outage: %v", sent, c)
}
