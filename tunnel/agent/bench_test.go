package agent_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"github.com/halo-sec/halo/tunnel"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// A small POST through agent → edge → local server, against the same
// through the edge directly with a Go client holding the device's
// certificate (the baseline). Bodies differ (a nonce), as the replay shield
// refuses a repeat. The edge appends its events off the request path, as in
// production, so the figures show the carrying, not the log. Run with:
//
//	go test ./tunnel/agent -run '^$' -bench . -benchtime 3s
func BenchmarkAgentRequest(b *testing.B) {
	benchAgent(b, false)
}

func BenchmarkDirectEdgeRequest(b *testing.B) {
	benchDirect(b, false)
}

// The same with a new client connection per request: the agent hands each
// a warm, already handshaken edge connection; the direct client makes a
// (resumed) TLS handshake each time.
func BenchmarkAgentRequestNewConn(b *testing.B) {
	benchAgent(b, true)
}

func BenchmarkDirectEdgeRequestNewConn(b *testing.B) {
	benchDirect(b, true)
}

func benchEnv(b *testing.B) *env {
	env := newEnvNoEdge(b)
	env.async = true
	env.edgeMod = func(c *tunnel.Config) { c.HandshakeTimeout = 10 * time.Second }
	env.startEdge("127.0.0.1:0")
	return env
}

func benchAgent(b *testing.B, newConn bool) {
	env := benchEnv(b)
	pay := newPayServer(b, false)
	a, _ := runAgent(b, env.files, env.addr, nil)
	proxy, _ := url.Parse("http://" + a.Addr())
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: newConn}
	defer tr.CloseIdleConnections()
	benchPost(b, &http.Client{Transport: tr}, pay.URL)
	if newConn {
		m := a.Metrics()
		b.ReportMetric(float64(m.WarmHits)/float64(max(m.Carried, 1)), "warm-hits/conn")
	}
}

func benchDirect(b *testing.B, newConn bool) {
	env := benchEnv(b)
	pay := newPayServer(b, false)
	proxy, _ := url.Parse("https://" + env.addr)
	cfg := deviceTLS(b, env.files)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(16)
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: cfg, DisableKeepAlives: newConn}
	defer tr.CloseIdleConnections()
	benchPost(b, &http.Client{Transport: tr}, pay.URL)
}

func benchPost(b *testing.B, client *http.Client, base string) {
	post := func(i int) {
		body := fmt.Sprintf(`{"merchant":"M-1","terminal":"T-1","amount":"1.00","currency":"EUR","nonce":"%d"}`, i)
		resp, err := client.Post(base+"/v1/charge", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	post(-1) // connections up, sessions cached
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		post(i)
		i++
	}
}

// deviceTLS is a Go client TLS configuration for the edge as device f.
func deviceTLS(tb testing.TB, f deviceFiles) *tls.Config {
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	b, err := os.ReadFile(f.ca)
	if err != nil {
		tb.Fatal(err)
	}
	pool.AppendCertsFromPEM(b)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1"}
}
