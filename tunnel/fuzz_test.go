package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/halo-sec/halo/identity"
)

func FuzzSplitTarget(f *testing.F) {
	for _, s := range []string{"pay.example:443", "[::1]:8080", "a:0", "a:65536", ":80", "x", "EXAMPLE.com.:1", "a b:1", "a@b:1", "[fe80::1%eth0]:22"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := splitTarget(s, 0)
		if err != nil {
			return
		}
		if port == 0 || port > 65535 || host == "" {
			t.Fatalf("splitTarget(%q) = %q, %d", s, host, port)
		}
		h2, p2, err := splitTarget(host+":1", 0)
		if err == nil && (p2 != 1 || h2 != host) {
			t.Fatalf("host %q does not round-trip", host)
		}
	})
}

// FuzzServeRequest feeds arbitrary bytes as a device's request to the edge's
// handler (after the TLS layer): it must answer every one without panicking
// or touching the network.
func FuzzServeRequest(f *testing.F) {
	seeds := []string{
		"POST http://pay.example/v1/charge HTTP/1.1\r\nHost: pay.example\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"amount\":\"1.0\"}",
		"GET http://x.example:81/a?b=c HTTP/1.1\r\nHost: x.example\r\n\r\n",
		"CONNECT pay.example:443 HTTP/1.1\r\nHost: pay.example:443\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"PUT http://[::1]:99999/ HTTP/1.1\r\nHost: a\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	env := newFuzzEdge(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		ctx := context.WithValue(req.Context(), connKey{}, env)
		env.e.ServeHTTP(rec, req.WithContext(ctx))
		if rec.Code < 200 || rec.Code > 599 {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

func newFuzzEdge(f *testing.F) *deviceConn {
	env := newEnvTB(f, func(c *Config) {
		c.Resolve = func(context.Context, string) (netip.Addr, error) {
			return netip.Addr{}, errors.New("no DNS in the fuzzer")
		}
		c.StaticHosts = nil
	})
	return &deviceConn{e: env.edge, dev: identity.Device{ID: "POS-1", Tenant: "acme"}, remote: "127.0.0.1:1"}
}
