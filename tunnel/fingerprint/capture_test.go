package fingerprint

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// captureHello listens on a loopback port, runs client against it, and
// returns the first bytes the client sent, read until they hold a whole
// ClientHello, the way the edge reads a CONNECT stream.
func captureHello(t *testing.T, client func(addr string)) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		b   []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var b []byte
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			b = append(b, buf[:n]...)
			if _, perr := ParseClientHello(b); !errors.Is(perr, ErrNeedMore) {
				got <- result{b: b, err: perr}
				return
			}
			if err != nil {
				got <- result{b: b, err: err}
				return
			}
		}
	}()
	client(ln.Addr().String())
	r := <-got
	if r.err != nil {
		t.Fatalf("capturing ClientHello: %v", r.err)
	}
	return r.b
}

// goHello captures the ClientHello of Go's crypto/tls client.
func goHello(t *testing.T, serverName string, alpn ...string) []byte {
	t.Helper()
	return captureHello(t, func(addr string) {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		c := tls.Client(conn, &tls.Config{ServerName: serverName, NextProtos: alpn, InsecureSkipVerify: true})
		_ = c.Handshake() // the listener hangs up after the hello
	})
}

func goClientHello(t *testing.T, serverName string, alpn ...string) *ClientHello {
	t.Helper()
	ch, err := ParseClientHello(goHello(t, serverName, alpn...))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// runCurl runs curl against a loopback listener at addr; "PORT" in args is
// replaced by its port. curl fails (nothing answers the hello); that is
// expected.
func runCurl(addr string, args ...string) error {
	curl, err := exec.LookPath("curl")
	if err != nil {
		return err
	}
	if len(args) == 0 {
		args = []string{"--resolve", "pay.example:PORT:127.0.0.1", "https://pay.example:PORT/"}
	}
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	full := []string{"-k", "-s", "-o", "/dev/null", "--max-time", "10"}
	for _, a := range args {
		full = append(full, strings.ReplaceAll(a, "PORT", port))
	}
	return exec.CommandContext(ctx, curl, full...).Run()
}

func curlClientHello(t *testing.T, args ...string) *ClientHello {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	b := captureHello(t, func(addr string) { _ = runCurl(addr, args...) })
	ch, err := ParseClientHello(b)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestCapturedGoClientHello(t *testing.T) {
	a := goClientHello(t, "pay.example", "h2", "http/1.1")
	b := goClientHello(t, "pay.example", "h2", "http/1.1")
	t.Logf("Go crypto/tls: JA4 %s JA3 %s\n  JA4_r %s\n  JA3 text %s", a.JA4(), a.JA3(), a.JA4Raw(), a.JA3String())
	if a.JA4() != b.JA4() || a.JA3() != b.JA3() {
		t.Errorf("Go fingerprints not deterministic: %s/%s vs %s/%s", a.JA4(), a.JA3(), b.JA4(), b.JA3())
	}
	if a.ServerName != "pay.example" {
		t.Errorf("ServerName = %q", a.ServerName)
	}
	if fmt.Sprint(a.ALPN) != "[h2 http/1.1]" {
		t.Errorf("ALPN = %q", a.ALPN)
	}
	if !strings.HasPrefix(a.JA4(), "t13d") || a.JA4()[8:10] != "h2" || !ja4Shape.MatchString(a.JA4()) {
		t.Errorf("JA4 = %s, want t13d....h2_..._...", a.JA4())
	}
	// Without SNI (an IP destination) and ALPN only the a part changes.
	c := goClientHello(t, "", "http/1.1")
	if c.ServerName != "" || c.JA4()[3] != 'i' || c.JA4()[8:10] != "h1" {
		t.Errorf("no-SNI JA4 = %s", c.JA4())
	}
	if c.JA4()[10:23] != a.JA4()[10:23] {
		t.Errorf("cipher hash changed with SNI/ALPN: %s vs %s", c.JA4(), a.JA4())
	}
	// Adding GREASE to a captured hello changes nothing.
	raw := goHello(t, "pay.example", "h2", "http/1.1")
	g, err := ParseClientHello(splitHello(t, handshakeOf(t, raw)).withGREASE().wire())
	if err != nil {
		t.Fatal(err)
	}
	if g.JA4() != a.JA4() || g.JA3() != a.JA3() {
		t.Errorf("GREASE changed Go's fingerprint: %s %s vs %s %s", g.JA4(), g.JA3(), a.JA4(), a.JA3())
	}
}

func TestCapturedCurlClientHello(t *testing.T) {
	byIP := curlClientHello(t, "https://127.0.0.1:PORT/")
	byName := curlClientHello(t, "--resolve", "pay.example:PORT:127.0.0.1", "https://pay.example:PORT/")
	again := curlClientHello(t, "--resolve", "pay.example:PORT:127.0.0.1", "https://pay.example:PORT/")
	t.Logf("curl: JA4 %s JA3 %s\n  JA4_r %s\n  JA3 text %s", byName.JA4(), byName.JA3(), byName.JA4Raw(), byName.JA3String())
	t.Logf("curl by IP: JA4 %s", byIP.JA4())
	if byName.JA4() != again.JA4() || byName.JA3() != again.JA3() {
		t.Errorf("curl fingerprints not deterministic: %s/%s vs %s/%s", byName.JA4(), byName.JA3(), again.JA4(), again.JA3())
	}
	if byName.ServerName != "pay.example" || byName.JA4()[3] != 'd' {
		t.Errorf("by name: SNI %q, JA4 %s", byName.ServerName, byName.JA4())
	}
	if byIP.ServerName != "" || byIP.JA4()[3] != 'i' {
		t.Errorf("by IP: SNI %q, JA4 %s", byIP.ServerName, byIP.JA4())
	}
	if !ja4Shape.MatchString(byName.JA4()) {
		t.Errorf("JA4 %s has the wrong shape", byName.JA4())
	}

	goHello := goClientHello(t, "pay.example", "h2", "http/1.1")
	if goHello.JA4() == byName.JA4() || goHello.JA3() == byName.JA3() {
		t.Errorf("Go and curl share a fingerprint: %s %s", goHello.JA4(), goHello.JA3())
	}
	if goHello.JA4()[10:] == byName.JA4()[10:] {
		t.Errorf("Go and curl share JA4 hashes: %s vs %s", goHello.JA4(), byName.JA4())
	}
}
