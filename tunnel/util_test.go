package tunnel

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func testutilValue(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// echoServer echoes every byte back, for long-lived CONNECT streams.
type echoServer struct {
	ln   net.Listener
	addr string
}

func newEchoServer(t *testing.T) *echoServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return &echoServer{ln: ln, addr: ln.Addr().String()}
}

// connect opens a CONNECT stream through the edge to target (host:port or
// an echo server) and returns it after the 200.
func (e *env) connect(t *testing.T, f deviceFiles, target any) net.Conn {
	t.Helper()
	addr := ""
	switch v := target.(type) {
	case *echoServer:
		addr = v.addr
	case string:
		addr = v
	}
	c, err := tlsDial(e.addr, deviceTLS(t, f))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "CONNECT "+addr+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("CONNECT %s: %d %s", addr, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	c.SetDeadline(time.Time{})
	return &bufConn{Conn: c, r: br}
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func tlsDial(addr string, cfg *tls.Config) (*tls.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
}

type (
	responseWriter  = http.ResponseWriter
	request         = http.Request
	httpHandlerFunc = http.HandlerFunc
	url0            = url.URL
)

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}
