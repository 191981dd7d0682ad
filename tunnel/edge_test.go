package tunnel

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

func TestCurlPlainHTTPThroughTheEdge(t *testing.T) {
	env := newEnv(t, nil)
	pay := newPayServer(t, false)
	body := `{"merchant":"M-1","terminal":"T-1","amount":"12.50","currency":"EUR","nonce":"n1","card":{"pan":"4111111111111111"}}`
	out, code, err := env.curl(env.files, "-H", "Content-Type: application/json", "-d", body, "http://pay.example:"+pay.port()+"/v1/charge?x=1")
	if err != nil || code != 200 {
		t.Fatalf("curl: %v code %d out %s", err, code, out)
	}
	if m := decodeJSON(t, out); m["status"] != "approved" || m["host"] != "pay.example:"+pay.port() || int(m["bytes"].(float64)) != len(body) {
		t.Fatalf("destination saw %v", m)
	}
	evs := env.waitEvents(3, events.TypeConnOpened, events.TypeTxObserved, events.TypeConnClosed)
	var opened *events.ConnOpened
	var tx *events.TxObserved
	var closed *events.ConnClosed
	for _, ev := range evs {
		if ev.Device != "POS-1" || ev.Tenant != "acme" {
			t.Fatalf("event for %s/%s", ev.Tenant, ev.Device)
		}
		switch p := ev.Payload.(type) {
		case *events.ConnOpened:
			opened = p
		case *events.TxObserved:
			tx = p
		case *events.ConnClosed:
			closed = p
		}
	}
	if opened.Mode != events.ConnMode_CONN_MODE_HTTP || opened.DstHost != "pay.example" || opened.DstIp != "127.0.0.1" || opened.ConnId != tx.ConnId || closed.ConnId != tx.ConnId {
		t.Fatalf("conn.opened %v / tx %v / closed %v", opened, tx, closed)
	}
	if tx.Method != "POST" || tx.Path != "/v1/charge?x=1" || tx.Status != 200 || tx.Outcome != events.TxOutcome_TX_OUTCOME_FORWARDED ||
		len(tx.StrictFp) != 16 || len(tx.LooseFp) != 16 || tx.BodySize != uint64(len(body)) || tx.LatencyNs <= 0 {
		t.Fatalf("tx.observed %v", tx)
	}
	if closed.BytesUp != uint64(len(body)) || closed.BytesDown == 0 || closed.Reason != events.CloseReason_CLOSE_REASON_SERVER {
		t.Fatalf("conn.closed %v", closed)
	}
	// Nothing in any event can give the card number back: not its digits
	// (eight in a row: four alone turned up by chance in a timestamp's
	// nanoseconds), nor its bytes in a binary field's base64 or hex.
	pan := "4111111111111111"
	leaks := [][]byte{[]byte(pan[:8]), []byte(base64.StdEncoding.EncodeToString([]byte(pan))[:12]), []byte(hex.EncodeToString([]byte(pan))[:16])}
	for _, ev := range env.waitEvents(1) {
		for _, leak := range leaks {
			if bytes.Contains(ev.AppendJSON(nil), leak) {
				t.Fatalf("card number (%s) in %s", leak, ev.AppendJSON(nil))
			}
		}
	}
}

func TestCurlHTTPSThroughCONNECT(t *testing.T) {
	env := newEnv(t, nil)
	pay := newPayServer(t, true)
	out, code, err := env.curl(env.files, "-k", "https://pay.example:"+pay.port()+"/health")
	if err != nil || code != 200 || !strings.Contains(out, "approved") {
		t.Fatalf("curl https: %v %d %s", err, code, out)
	}
	evs := env.waitEvents(2, events.TypeConnOpened, events.TypeConnClosed)
	opened := evs[0].Payload.(*events.ConnOpened)
	closed := evs[1].Payload.(*events.ConnClosed)
	if opened.Mode != events.ConnMode_CONN_MODE_CONNECT || opened.Sni != "pay.example" || !strings.HasPrefix(opened.TlsFp, "t1") || opened.Service != "tls" {
		t.Fatalf("conn.opened %v", opened)
	}
	if closed.BytesUp < 200 || closed.BytesDown < 500 || closed.DurationNs <= 0 {
		t.Fatalf("conn.closed %v", closed)
	}
}

func TestGoHTTPClientThroughTheEdge(t *testing.T) {
	env := newEnv(t, nil)
	pay := newPayServer(t, true)
	plain := newPayServer(t, false)
	cfg := deviceTLS(t, env.files)
	cfg.RootCAs.AddCert(pay.Certificate())
	proxy, _ := url.Parse("https://" + env.addr)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: cfg}}
	for _, target := range []string{pay.URL + "/a", plain.URL + "/b"} {
		resp, err := client.Post(target, "application/json", strings.NewReader(`{"amount":1,"nonce":"`+target+`"}`))
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "approved") {
			t.Fatalf("%s: %d %s", target, resp.StatusCode, b)
		}
	}
	// Keep-alive: several requests over one device connection.
	for i := 0; i < 5; i++ {
		resp, err := client.Get(plain.URL + "/keepalive")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if got := env.metrics.Handshakes.WithLabelValues("ok"); testutilValue(got) > 3 {
		t.Fatalf("%v handshakes for 7 requests: keep-alive not working", testutilValue(got))
	}
}

func TestNotAProxyRequestAndBadTargets(t *testing.T) {
	env := newEnv(t, nil)
	c, err := tls.Dial("tcp", env.addr, deviceTLS(t, env.files))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT nohost HTTP/1.1\r\nHost: nohost\r\n\r\n",
		"CONNECT a.example:0 HTTP/1.1\r\nHost: a.example:0\r\n\r\n",
		"GET ftp://x.example/ HTTP/1.1\r\nHost: x.example\r\n\r\n",
	} {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufioReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), `"error"`) {
			t.Fatalf("%q: %d %s", req, resp.StatusCode, b)
		}
	}
}

func TestGarbageAndSlowClientsDoNotHurtTheEdge(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	pay := newPayServer(t, false)
	// Garbage instead of TLS, a half-open connection, a slowloris.
	g, _ := net.Dial("tcp", env.addr)
	g.Write([]byte("GET / HTTP/1.1\r\n\r\n\x00\xff garbage"))
	idle, _ := net.Dial("tcp", env.addr)
	slow, _ := net.Dial("tcp", env.addr)
	slow.Write([]byte{0x16, 0x03, 0x01})
	defer g.Close()
	defer idle.Close()
	defer slow.Close()
	for _, c := range []net.Conn{g, idle, slow} {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the edge kept a bad connection open past the handshake timeout")
			}
		}
	}
	// The TLS stack closes a timed-out handshake itself, so the client can
	// see the close before the edge has counted it: wait for the count.
	waitFor(t, func() bool { return testutilValue(env.metrics.Handshakes.WithLabelValues("bad-handshake")) >= 3 })
	// A device's oversize header is refused, and the edge still works.
	c, err := tls.Dial("tcp", env.addr, deviceTLS(t, env.files))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET http://pay.example/ HTTP/1.1\r\nHost: pay.example\r\nX-Big: "+strings.Repeat("a", 40<<10)+"\r\n\r\n")
	resp, err := http.ReadResponse(bufioReader(c), nil)
	if err != nil || resp.StatusCode != 431 {
		t.Fatalf("oversize header: %v %v", resp, err)
	}
	c.Close()
	if _, code, err := env.curl(env.files, "http://pay.example:"+pay.port()+"/ok"); err != nil || code != 200 {
		t.Fatalf("edge broken after bad input: %v %d", err, code)
	}
}

func TestShutdownIsCleanAndRecordsOpenStreams(t *testing.T) {
	env := newEnv(t, nil)
	echo := newEchoServer(t)
	c := env.connect(t, env.files, echo)
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	io.ReadFull(c, buf)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	env.edge.Shutdown(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v with a grace of 2s", d)
	}
	env.stop()
	closed := env.waitEvents(1, events.TypeConnClosed)
	if r := closed[0].Payload.(*events.ConnClosed).Reason; r != events.CloseReason_CLOSE_REASON_SHUTDOWN {
		t.Fatalf("open stream closed with %v, want shutdown", r)
	}
}
