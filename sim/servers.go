package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Gateway behaviour: shares of answers that are 5xx or too slow for the
// devices' timeout. A terminal waits paymentTimeout for an authorization,
// as payment terminals wait tens of seconds for an online one: with 3 s,
// on a starved machine (a 400-device fleet at load average 5-7 on 2
// cores) a device's timeout fired just as the answer to its success
// arrived, and its retry of the same bytes was a replay to the edge (see
// the replay-attack detector's false-positive risks).
const (
	gatewayErrorShare = 0.03
	gatewaySlowShare  = 0.01
	paymentTimeout    = 15 * time.Second
	gatewaySlowDelay  = 20 * time.Second // > paymentTimeout: the device gives up
)

// destinations are the servers the fleet talks to, on loopback.
type destinations struct {
	domain  string
	caPool  *x509.CertPool
	servers []*http.Server
	lns     []net.Listener
	wg      sync.WaitGroup

	gatewayPort, mgmtPort, updatesPort int
	c2Port, dropPort, victimPort       int

	approved atomic.Int64 // payments the gateway approved
	mu       sync.Mutex
	rng      *mrand.Rand
}

func (d *destinations) host(name string, port int) string {
	return net.JoinHostPort(name+"."+d.domain, strconv.Itoa(port))
}

// startDestinations starts every destination on 127.0.0.1.
func startDestinations(domain string, seed uint64) (*destinations, error) {
	d := &destinations{domain: domain, rng: mrand.New(mrand.NewPCG(seed, 0x5157))}
	tlsCert, pool, err := selfSignedTLS(domain)
	if err != nil {
		return nil, err
	}
	d.caPool = pool
	var errs []error
	serve := func(h http.Handler, tlsOn bool) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			errs = append(errs, err)
			return 0
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute,
			ErrorLog: nil}
		if tlsOn {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{tlsCert}, MinVersion: tls.VersionTLS12}
			ln = tls.NewListener(ln, srv.TLSConfig)
		}
		d.servers = append(d.servers, srv)
		d.wg.Go(func() { srv.Serve(ln) })
		return ln.Addr().(*net.TCPAddr).Port
	}
	raw := func(handle func(net.Conn)) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			errs = append(errs, err)
			return 0
		}
		d.lns = append(d.lns, ln)
		d.wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				d.wg.Go(func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(2 * time.Minute))
					handle(c)
				})
			}
		})
		return ln.Addr().(*net.TCPAddr).Port
	}
	d.gatewayPort = serve(http.HandlerFunc(d.gateway), false)
	d.mgmtPort = serve(http.HandlerFunc(d.mgmt), false)
	d.updatesPort = serve(http.HandlerFunc(d.updates), true)
	// C&C: reads a check-in, answers a small command.
	d.c2Port = raw(func(c net.Conn) {
		buf := make([]byte, 512)
		if _, err := c.Read(buf); err == nil {
			c.Write([]byte(`{"cmd":"sleep","interval":10}` + "\n"))
		}
	})
	// Drop site for exfiltration: swallows everything.
	d.dropPort = raw(func(c net.Conn) { io.Copy(io.Discard, c) })
	// Flood victim: accepts and reads what comes.
	d.victimPort = raw(func(c net.Conn) { io.Copy(io.Discard, io.LimitReader(c, 1<<20)) })
	if err := errors.Join(errs...); err != nil {
		d.close()
		return nil, fmt.Errorf("starting the simulator's destinations: %w", err)
	}
	return d, nil
}

func (d *destinations) close() {
	for _, s := range d.servers {
		s.Close()
	}
	for _, l := range d.lns {
		l.Close()
	}
	d.wg.Wait()
}

func (d *destinations) roll() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.Float64()
}

// gateway is the payment gateway: POST /v1/payments with a JSON payment.
func (d *destinations) gateway(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/payments" {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	var p payment
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&p); err != nil || p.Nonce == "" {
		http.Error(w, `{"error":"bad payment"}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch x := d.roll(); {
	case x < gatewayErrorShare:
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":"error","error":"issuer unavailable"}`)
		return
	case x < gatewayErrorShare+gatewaySlowShare:
		select {
		case <-time.After(gatewaySlowDelay):
		case <-r.Context().Done():
			return // the device gave up: nothing charged
		}
	}
	d.approved.Add(1)
	fmt.Fprintf(w, `{"status":"approved","nonce":%q,"auth_code":"%06d"}`, p.Nonce, int(d.roll()*1e6))
}

// mgmt is the device management server: heartbeats.
func (d *destinations) mgmt(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true,"config_version":7}`)
}

// updates is the update server (TLS): GET /v1/check, GET /v1/packages/NAME?size=N.
func (d *destinations) updates(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1/check":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"app":"4.2.1","os":"11.3"}`)
	case len(r.URL.Path) > len("/v1/packages/") && r.URL.Path[:len("/v1/packages/")] == "/v1/packages/":
		n, err := strconv.Atoi(r.URL.Query().Get("size"))
		if err != nil || n < 0 || n > 64<<20 {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		buf := make([]byte, 32<<10)
		for n > 0 {
			k := min(n, len(buf))
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	default:
		http.NotFound(w, r)
	}
}

// selfSignedTLS makes the destinations' CA and a certificate for
// *.domain, in memory.
func selfSignedTLS(domain string) (tls.Certificate, *x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "halo simulator destinations CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "*." + domain},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		DNSNames: []string{"*." + domain, domain}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool, nil
}

// waitCtx sleeps d or until ctx ends; false when ctx ended.
func waitCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
