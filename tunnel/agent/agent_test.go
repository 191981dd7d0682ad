package agent_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/tunnel"
	"github.com/halo-sec/halo/tunnel/agent"
)

func TestCurlThroughTheAgent(t *testing.T) {
	env := newEnv(t)
	a, _ := runAgent(t, env.files, env.addr, nil)
	plain := newPayServer(t, false)
	secure := newPayServer(t, true)

	body := `{"merchant":"M-1","terminal":"T-1","amount":"12.50","currency":"EUR","nonce":"n1"}`
	out, code, err := curl(t, a.Addr(), "-H", "Content-Type: application/json", "-d", body, plain.URL+"/v1/charge")
	if err != nil || code != 200 {
		t.Fatalf("curl http: %v %d %s", err, code, out)
	}
	if m := decodeJSON(t, out); m["status"] != "approved" || int(m["bytes"].(float64)) != len(body) {
		t.Fatalf("destination saw %v", m)
	}
	out, code, err = curl(t, a.Addr(), "-k", secure.URL+"/health")
	if err != nil || code != 200 || !strings.Contains(out, "approved") {
		t.Fatalf("curl https (CONNECT): %v %d %s", err, code, out)
	}

	// The edge recorded both, as the agent's device.
	evs := env.waitEvents(5, events.TypeConnOpened, events.TypeTxObserved, events.TypeConnClosed)
	var modes []events.ConnMode
	var tx *events.TxObserved
	closed := 0
	for _, ev := range evs {
		if ev.Tenant != "acme" || ev.Device != "POS-1" {
			t.Fatalf("event for %s/%s, want acme/POS-1", ev.Tenant, ev.Device)
		}
		switch p := ev.Payload.(type) {
		case *events.ConnOpened:
			modes = append(modes, p.Mode)
		case *events.TxObserved:
			tx = p
		case *events.ConnClosed:
			closed++
		}
	}
	if len(modes) != 2 || modes[0] != events.ConnMode_CONN_MODE_HTTP || modes[1] != events.ConnMode_CONN_MODE_CONNECT || closed != 2 {
		t.Fatalf("conn.opened modes %v, %d conn.closed", modes, closed)
	}
	if tx == nil || tx.Method != "POST" || tx.Path != "/v1/charge" || tx.Status != 200 || tx.BodySize != uint64(len(body)) || len(tx.StrictFp) == 0 {
		t.Fatalf("tx.observed %v", tx)
	}
	m := a.Metrics()
	if m.Accepted != 2 || m.Carried != 2 || m.BytesUp < uint64(len(body)) || m.BytesDown == 0 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestKeepAliveUsesOneEdgeConnection(t *testing.T) {
	env := newEnv(t)
	a, _ := runAgent(t, env.files, env.addr, nil)
	pay := newPayServer(t, false)
	out, code, err := curl(t, a.Addr(), pay.URL+"/a", pay.URL+"/b", pay.URL+"/c")
	if err != nil || code != 200 || strings.Count(out, "approved") != 3 {
		t.Fatalf("curl: %v %d %s", err, code, out)
	}
	if m := a.Metrics(); m.Accepted != 1 || m.Carried != 1 {
		t.Fatalf("curl reused its local connection, but the agent saw %+v", m)
	}
	// One mTLS connection: every request came from the same source address.
	evs := env.waitEvents(3, events.TypeConnOpened)
	src := map[string]int{}
	for _, ev := range evs {
		src[ev.Payload.(*events.ConnOpened).SrcAddr]++
	}
	if len(src) != 1 {
		t.Fatalf("requests came over %d edge connections: %v", len(src), src)
	}
}

func TestWarmConnectionsAndSessionResumption(t *testing.T) {
	env := newEnv(t)
	a, _ := runAgent(t, env.files, env.addr, nil)
	pay := newPayServer(t, false)
	waitFor(t, "the warm pool", 5*time.Second, func() bool { return a.Metrics().EdgeDials >= 2 })
	for i := range 4 {
		if _, code, err := curl(t, a.Addr(), pay.URL+"/"+string(rune('a'+i))); err != nil || code != 200 {
			t.Fatalf("curl: %v %d", err, code)
		}
		// The pool refills in the background (at once, on an idle device).
		waitFor(t, "the refill", 5*time.Second, func() bool { return a.Metrics().EdgeDials >= uint64(3+i) })
	}
	m := a.Metrics()
	if m.WarmHits < 3 {
		t.Fatalf("only %d of 4 requests found a warm connection: %+v", m.WarmHits, m)
	}
	waitFor(t, "resumed sessions", 5*time.Second, func() bool { return a.Metrics().EdgeResumed > 0 })
}

func TestEdgeDownAndBackWithoutRestartingTheAgent(t *testing.T) {
	env := newEnvNoEdge(t)
	pay := newPayServer(t, false)
	addr := freeAddr(t)
	const dialTimeout = 3 * time.Second // a refused connection fails at once anyway
	a, logs := runAgent(t, env.files, addr, func(c *agent.Config) { c.DialTimeout = dialTimeout })

	unreachable := func() {
		t.Helper()
		start := time.Now()
		out, code, _ := curl(t, a.Addr(), pay.URL+"/down")
		if took := time.Since(start); took > dialTimeout+time.Second {
			t.Fatalf("the client waited %v with the edge down", took)
		}
		if m := decodeJSON(t, out); code != 502 || m["error"] != "edge_unreachable" || !strings.Contains(m["message"].(string), addr) {
			t.Fatalf("edge down: %d %s", code, out)
		}
	}
	reachable := func() {
		t.Helper()
		waitFor(t, "requests to succeed again", 5*time.Second, func() bool {
			_, code, _ := curl(t, a.Addr(), pay.URL+"/up")
			return code == 200
		})
	}
	unreachable()
	// CONNECT gets the same answer (curl reports it, not the body).
	if out, _, _ := curl(t, a.Addr(), "-k", "https://127.0.0.1:1/"); !strings.Contains(out, "502") {
		t.Fatalf("CONNECT with the edge down: %s", out)
	}
	env.startEdge(addr)
	reachable()
	// The pool reconnects in the background too.
	waitFor(t, "the warm pool to refill", 5*time.Second, func() bool {
		_, code, _ := curl(t, a.Addr(), pay.URL+"/warm")
		return code == 200 && a.Metrics().WarmHits > 0
	})
	env.stopEdge()
	unreachable()
	env.startEdge(addr)
	reachable()
	if n := logs.count("edge unreachable; retrying"); n != 2 {
		t.Fatalf("logged 'edge unreachable' %d times for two outages", n)
	}
	if n := logs.count("edge reachable again"); n != 2 {
		t.Fatalf("logged 'edge reachable again' %d times for two recoveries", n)
	}
}

func TestEdgeThatNeverHandshakesIsBoundedByDialTimeout(t *testing.T) {
	env := newEnvNoEdge(t)
	// Accepts TCP, never answers TLS: a hung or half-dead edge.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	const dialTimeout = 700 * time.Millisecond
	a, _ := runAgent(t, env.files, ln.Addr().String(), func(c *agent.Config) { c.DialTimeout = dialTimeout })
	start := time.Now()
	out, code, _ := curl(t, a.Addr(), "http://127.0.0.1:9/x")
	if took := time.Since(start); took < dialTimeout/2 || took > dialTimeout+time.Second {
		t.Fatalf("answered after %v with a dial timeout of %v", took, dialTimeout)
	}
	if m := decodeJSON(t, out); code != 502 || m["error"] != "edge_unreachable" {
		t.Fatalf("hung edge: %d %s", code, out)
	}
}

func TestUntrustedEdgeIsATLSError(t *testing.T) {
	env := newEnv(t)
	other, err := identity.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := env.files
	files.ca = filepath.Join(t.TempDir(), "other-ca.crt")
	if err := os.WriteFile(files.ca, other.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	a, logs := runAgent(t, files, env.addr, nil)
	for range 3 {
		out, code, _ := curl(t, a.Addr(), "http://127.0.0.1:9/")
		m := decodeJSON(t, out)
		if code != 502 || m["error"] != "edge_tls_error" || !strings.Contains(m["message"].(string), "unknown authority") {
			t.Fatalf("untrusted edge: %d %s", code, out)
		}
	}
	if n := logs.count("edge unreachable; retrying"); n != 1 {
		t.Fatalf("logged %d times", n)
	}
}

func TestRefusedCertificateIsReportedOnceAndAnsweredLocally(t *testing.T) {
	env := newEnv(t)
	pay := newPayServer(t, false)
	a, logs := runAgent(t, env.files, env.addr, func(c *agent.Config) { c.BackoffMin, c.BackoffMax = 300*time.Millisecond, 5*time.Second })
	if _, code, err := curl(t, a.Addr(), pay.URL+"/before"); err != nil || code != 200 {
		t.Fatalf("before revocation: %v %d", err, code)
	}
	// The operator revokes the device, through the log.
	ops, err := identity.Load(context.Background(), env.store)
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.Revoke(context.Background(), env.store, ops, "POS-1", "stolen", "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the agent to learn of the refusal", 5*time.Second, func() bool { return logs.count("the edge refuses this device's certificate") > 0 })
	before := len(env.waitEvents(1, events.TypeAuthFailed))
	for range 10 {
		out, code, _ := curl(t, a.Addr(), pay.URL+"/after")
		m := decodeJSON(t, out)
		if code != 403 || m["error"] != "unauthorized" || m["reason"] != "revoked" {
			t.Fatalf("revoked: %d %s", code, out)
		}
	}
	if n := logs.count("the edge refuses this device's certificate"); n != 1 {
		t.Fatalf("the refusal was logged %d times", n)
	}
	// Ten requests did not make ten handshakes the edge refused: only the
	// pool's backed-off attempts reach it.
	time.Sleep(200 * time.Millisecond)
	if after := len(env.waitEvents(1, events.TypeAuthFailed)); after-before > 5 {
		t.Fatalf("%d refused handshakes at the edge for 10 local requests", after-before)
	}
	if pay.n.Load() != 1 {
		t.Fatal("a revoked device reached the destination")
	}
	if m := a.Metrics(); m.EdgeRefusals < 10 {
		t.Fatalf("refusals not counted: %+v", m)
	}
}

func TestForeignCertificateRefusalReachesTheClient(t *testing.T) {
	env := newEnv(t)
	pay := newPayServer(t, false)
	// A certificate from another installation's CA, for the same names.
	otherCA, err := identity.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	iss, err := otherCA.IssueDevice("acme", "POS-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	foreign := env.writeFiles("foreign", iss.CertPEM, iss.KeyPEM)
	// No warm pool: the local client's own connection meets the refusal.
	a, logs := runAgent(t, foreign, env.addr, func(c *agent.Config) { c.Warm, c.BackoffMax = -1, 30*time.Second })
	for range 3 {
		out, code, _ := curl(t, a.Addr(), pay.URL+"/x")
		if m := decodeJSON(t, out); code != 403 || m["reason"] != "unknown-ca" {
			t.Fatalf("foreign certificate: %d %s", code, out)
		}
	}
	if n := logs.count("the edge refuses this device's certificate"); n != 1 {
		t.Fatalf("the refusal was logged %d times", n)
	}
	if d := a.Metrics().EdgeDials; d != 1 {
		t.Fatalf("%d handshakes for three requests after a refusal", d)
	}
}

func TestRenewedCertificateIsPickedUp(t *testing.T) {
	env := newEnv(t)
	pay := newPayServer(t, false)
	echo := newEchoServer(t)
	a, logs := runAgent(t, env.files, env.addr, nil)
	if _, code, err := curl(t, a.Addr(), pay.URL+"/old"); err != nil || code != 200 {
		t.Fatalf("before renewal: %v %d", err, code)
	}
	tun := connectVia(t, a.Addr(), echo)
	echoOnce(t, tun, "before")
	oldPEM, _ := os.ReadFile(env.files.cert)
	blk, _ := pem.Decode(oldPEM)
	oldSum := sha256.Sum256(blk.Bytes)

	env.enroll("POS-1", true) // what `halo devices renew` writes
	waitFor(t, "the reload", 5*time.Second, func() bool { return a.Metrics().CertReloads == 1 })
	echoOnce(t, tun, "during") // the open stream was not dropped
	if logs.count("device certificate reloaded") != 1 {
		t.Fatal("reload not logged")
	}
	// Revoke only the old certificate: what still works uses the new one.
	ev := events.New("acme", "POS-1", &events.DeviceRevoked{CertSha256: oldSum[:], Reason: "renewed", Actor: "test"})
	if err := env.store.Append(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	tun.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := tun.Read(make([]byte, 1)); err == nil {
		t.Fatal("the stream over the old certificate was not cut by its revocation")
	}
	for i := range 3 {
		if out, code, err := curl(t, a.Addr(), pay.URL+"/new"); err != nil || code != 200 {
			t.Fatalf("request %d after renewal: %v %d %s", i, err, code, out)
		}
	}
	if logs.count("refuses") != 0 {
		t.Fatal("the agent met a refusal after renewal")
	}
}

func TestMaxConnsAnswers503(t *testing.T) {
	env := newEnv(t)
	pay := newPayServer(t, false)
	echo := newEchoServer(t)
	a, _ := runAgent(t, env.files, env.addr, func(c *agent.Config) { c.MaxConns = 2 })
	t1 := connectVia(t, a.Addr(), echo)
	t2 := connectVia(t, a.Addr(), echo)
	out, code, _ := curl(t, a.Addr(), pay.URL+"/third")
	if m := decodeJSON(t, out); code != 503 || m["error"] != "too_many_connections" {
		t.Fatalf("over the bound: %d %s", code, out)
	}
	if m := a.Metrics(); m.RefusedMaxConns != 1 || m.Active != 2 {
		t.Fatalf("metrics %+v", m)
	}
	echoOnce(t, t1, "still")
	t2.Close()
	waitFor(t, "a free slot", 5*time.Second, func() bool {
		_, code, _ := curl(t, a.Addr(), pay.URL+"/again")
		return code == 200
	})
}

func TestShutdownLetsStreamsFinishThenCuts(t *testing.T) {
	env := newEnv(t)
	echo := newEchoServer(t)
	a, _ := runAgent(t, env.files, env.addr, nil)
	tun := connectVia(t, a.Addr(), echo)
	echoOnce(t, tun, "x")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := a.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 connections") || time.Since(start) > 2*time.Second {
		t.Fatalf("shutdown: %v after %v", err, time.Since(start))
	}
	if err2 := a.Shutdown(context.Background()); err2 != err {
		t.Fatalf("second shutdown: %v", err2)
	}
	if _, err := net.DialTimeout("tcp", a.Addr(), time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
	// The edge recorded the stream's end.
	closed := env.waitEvents(1, events.TypeConnClosed)
	if r := closed[0].Payload.(*events.ConnClosed).Reason; r != events.CloseReason_CLOSE_REASON_CLIENT {
		t.Logf("stream closed with %v", r)
	}
}

func TestAgentStaysBelowTheEdgesFirstRequestTimeout(t *testing.T) {
	env := newEnvNoEdge(t)
	// The edge gives a new connection IdleTimeout for its first request;
	// make it short to see the agent adapt.
	env.edgeMod = func(c *tunnel.Config) { c.IdleTimeout = 1500 * time.Millisecond }
	env.startEdge("127.0.0.1:0")
	pay := newPayServer(t, false)
	a, logs := runAgent(t, env.files, env.addr, nil)
	waitFor(t, "the agent to learn the edge's limit", 20*time.Second, func() bool { return logs.count("the edge closes unused connections") >= 1 })
	// From now on warm connections are renewed before the edge drops them.
	for i := range 8 {
		if _, code, err := curl(t, a.Addr(), pay.URL+"/"); err != nil || code != 200 {
			t.Fatalf("request %d: %v %d", i, err, code)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func TestEdgeRestartLosesNoRequestOnWarmConnections(t *testing.T) {
	env := newEnvNoEdge(t)
	env.edgeMod = func(c *tunnel.Config) { c.ShutdownGrace = 2 * time.Second }
	env.startEdge("127.0.0.1:0")
	addr := env.addr
	pay := newPayServer(t, false)
	a, _ := runAgent(t, env.files, addr, nil)
	waitFor(t, "two settled warm connections", 5*time.Second, func() bool { return a.Metrics().EdgeDials >= 2 })
	time.Sleep(200 * time.Millisecond)

	// The edge restarts: the old one stops listening and closes, at once,
	// every connection that has not started a request — the agent's warm
	// connections — so no request is lost on them.
	old, oldCancel, oldDone := env.edge, env.cancel, env.runDone
	env.cancel = nil
	go old.Shutdown(context.Background())
	waitFor(t, "the old edge to stop listening", 5*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	env.startEdge(addr)
	defer func() { oldCancel(); <-oldDone }()

	out, code, err := curl(t, a.Addr(), pay.URL+"/get")
	if err != nil || code != 200 {
		t.Fatalf("GET across an edge restart: %v %d %s", err, code, out)
	}
	// A POST is not lost either (and never sent twice).
	out, code, _ = curl(t, a.Addr(), "-d", `{"amount":1}`, pay.URL+"/post")
	if code != 200 {
		t.Fatalf("POST across an edge restart: %d %s", code, out)
	}
	if got := pay.n.Load(); got != 2 {
		t.Fatalf("the destination saw %d requests, want 2 (the GET and the POST, once each)", got)
	}
	if m := a.Metrics(); m.EdgeClosed != 0 || m.Retried != 0 {
		t.Fatalf("a request was dropped or resent: %+v", m)
	}
}

// connectVia opens a CONNECT stream through the agent (plain local proxy).
func connectVia(t *testing.T, proxy, target string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("CONNECT %s: %d %s", target, resp.StatusCode, b)
	}
	c.SetDeadline(time.Time{})
	return &bufConn{Conn: c, r: br}
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func echoOnce(t *testing.T, c net.Conn, s string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(s))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != s {
		t.Fatalf("echo %q: %q %v", s, buf, err)
	}
}
