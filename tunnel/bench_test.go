package tunnel

// Benchmarks of the edge against its baselines, measured in the same run
// (issue 3, "Performance"); figures and how to read them: bench/edge.md.
//
//	go test ./tunnel -run '^$' -bench . -count 3
//
// Everything runs on loopback in one process (the device clients, the edge,
// the embedded NATS event log and the destinations share the machine's
// cores), except squid and, for the idle-connection memory figure, the
// device clients, which run in a child process (this test binary re-run).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/events/publish"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/internal/cputime"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/policy"
	"github.com/halo-sec/halo/tunnel/fingerprint"
)

// ---------------------------------------------------------------------------
// A running edge for benchmarks. Unlike the harness's env (newEnvTB), it
// publishes events as production does (events/publish, batched and
// asynchronous, instead of one synchronous append per event) and can
// enrol many devices.

type benchEdge struct {
	dir     string
	store   *natsstore.Store
	ca      *identity.CA
	edge    *Edge
	addr    string
	pub     *publish.Publisher
	metrics *Metrics
	devices []benchDevice
}

type benchDevice struct {
	ID      string `json:"id"`
	CertPEM string `json:"cert"`
	KeyPEM  string `json:"key"`
}

// newBenchEdge starts an edge with tenant "acme" and devices enrolled
// devices (POS-0 …), events published through events/publish into an
// embedded NATS log, and a fingerprint keyer loaded once (as production
// wiring must: Config.Keyer is called on every request).
func newBenchEdge(tb testing.TB, devices int, mod func(*Config)) *benchEdge {
	tb.Helper()
	dir := tb.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: dir}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	ca, err := identity.LoadOrCreateCA(dir)
	if err != nil {
		tb.Fatal(err)
	}
	boot := identity.NewRegistry()
	if _, err := identity.CreateTenant(ctx, store, boot, dir, "acme", "Acme", "bench"); err != nil {
		tb.Fatal(err)
	}
	be := &benchEdge{dir: dir, store: store, ca: ca}
	for i := range devices {
		iss, err := identity.Enroll(ctx, store, boot, ca, identity.EnrollRequest{Tenant: "acme", Device: fmt.Sprintf("POS-%d", i), Model: "P2", Firmware: "1.0"})
		if err != nil {
			tb.Fatal(err)
		}
		be.devices = append(be.devices, benchDevice{ID: fmt.Sprintf("POS-%d", i), CertPEM: string(iss.CertPEM), KeyPEM: string(iss.KeyPEM)})
	}

	reg, err := identity.Load(ctx, store)
	if err != nil {
		tb.Fatal(err)
	}
	ivs, err := intervention.Load(ctx, store)
	if err != nil {
		tb.Fatal(err)
	}
	pols, err := policy.Load(ctx, store)
	if err != nil {
		tb.Fatal(err)
	}
	go reg.Follow(ctx, store)
	go ivs.Follow(ctx, store)
	go pols.Follow(ctx, store)

	pub, err := publish.New(publish.Config{SpoolDir: filepath.Join(tb.TempDir(), "spool")}, store, nil)
	if err != nil {
		tb.Fatal(err)
	}
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(ctx) }()
	be.pub = pub

	secret, err := identity.TenantSecret(dir, "acme")
	if err != nil {
		tb.Fatal(err)
	}
	keyer, err := fingerprint.NewKeyer(secret)
	if err != nil {
		tb.Fatal(err)
	}
	be.metrics = NewMetrics(nil)
	cfg := Config{
		Addr: "127.0.0.1:0", CA: ca, Registry: reg, Interventions: ivs, Policies: pols,
		Emitter: pub, Health: pub, Metrics: be.metrics,
		Keyer: func(tenant string) (*fingerprint.Keyer, error) {
			if tenant != "acme" {
				return nil, fmt.Errorf("no key for tenant %s", tenant)
			}
			return keyer, nil
		},
		ShutdownGrace: time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	edge, err := New(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := edge.Listen(); err != nil {
		tb.Fatal(err)
	}
	be.edge, be.addr = edge, edge.Addr()
	runDone := make(chan error, 1)
	go func() { runDone <- edge.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-runDone:
			if err != nil {
				tb.Errorf("edge Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			tb.Error("edge did not stop")
		}
		<-pubDone
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		if err := pub.Close(cctx); err != nil {
			tb.Errorf("publisher close: %v", err)
		}
	})
	return be
}

// deviceConfig is a device's TLS client configuration for the edge: TLS 1.3
// with X25519 alone (the post-quantum default costs ≈30 % of handshake
// rate, see MEASURED.md), verifying the edge against the Halo CA.
func (be *benchEdge) deviceConfig(tb testing.TB, i int) *tls.Config {
	d := be.devices[i%len(be.devices)]
	cert, err := tls.X509KeyPair([]byte(d.CertPEM), []byte(d.KeyPEM))
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(be.ca.CertPEM())
	return &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1",
		MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519},
	}
}

func benchGauge(g interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	g.Write(&m)
	return m.GetGauge().GetValue()
}

func benchCounter(g interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	g.Write(&m)
	return m.GetCounter().GetValue()
}

// benchWaitFor polls cond every 10ms up to d.
func benchWaitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// benchSelfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it (for the destinations: they are not Halo's business).
func benchSelfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "bench sink"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// ---------------------------------------------------------------------------
// 1. Bulk CONNECT throughput.

// bulkSink is a TLS server that reads an 8-byte length, then that many
// bytes, and answers one byte.
type bulkSink struct{ addr string }

func newBulkSink(tb testing.TB, cert tls.Certificate) *bulkSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go pprof.Do(context.Background(), pprof.Labels("role", "sink"), func(context.Context) {
				defer c.Close()
				tc := tls.Server(c, cfg)
				var hdr [8]byte
				if _, err := io.ReadFull(tc, hdr[:]); err != nil {
					return
				}
				buf := make([]byte, 64<<10)
				if _, err := io.CopyBuffer(io.Discard, io.LimitReader(tc, int64(binary.BigEndian.Uint64(hdr[:]))), buf); err != nil {
					return
				}
				tc.Write([]byte{1})
				io.Copy(io.Discard, tc)
			})
		}
	}()
	return &bulkSink{addr: ln.Addr().String()}
}

// tlsRelay is the least a TLS-terminating proxy can do: accept TLS and
// copy bytes to a fixed destination (no CONNECT, no client certificate, no
// events). Through it the client runs the same TLS-in-TLS as through the
// edge: the floor the edge's throughput can be judged against.
func newTLSRelay(tb testing.TB, cert tls.Certificate, dst string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go pprof.Do(context.Background(), pprof.Labels("role", "relay"), func(context.Context) {
				tc := tls.Server(c, cfg)
				defer tc.Close()
				up, err := net.Dial("tcp", dst)
				if err != nil {
					return
				}
				defer up.Close()
				go func() {
					io.CopyBuffer(tc, up, make([]byte, 32<<10))
					tc.Close()
				}()
				io.CopyBuffer(up, tc, make([]byte, 32<<10))
			})
		}
	}()
	return ln.Addr().String()
}

// streamBulk sends size bytes over c (after the length) and waits for the
// sink's one-byte answer.
func streamBulk(c net.Conn, size int64, buf []byte) error {
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(size))
	if _, err := c.Write(hdr[:]); err != nil {
		return err
	}
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := c.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	var ack [1]byte
	_, err := io.ReadFull(c, ack[:])
	return err
}

// connectThrough opens a CONNECT stream to target through the edge.
func connectThrough(edgeAddr string, devCfg *tls.Config, target string) (net.Conn, error) {
	c, err := tlsDial(edgeAddr, devCfg)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("CONNECT %s: %s", target, resp.Status)
	}
	c.SetDeadline(time.Time{})
	return &bufConn{Conn: c, r: br}, nil
}

// BenchmarkConnectBulk streams bulkSize bytes per operation from a Go TLS
// client to a TLS sink: direct, through a bare TLS relay (the same two TLS
// layers as the edge, nothing else), and through the edge (device mTLS to
// the edge, CONNECT, the client's own TLS to the sink inside). The edge
// reports its throughput as a multiple of direct and of the relay measured
// just before in the same process.
func BenchmarkConnectBulk(b *testing.B) {
	const bulkSize = 256 << 20
	be := newBenchEdge(b, 1, nil)
	cert, sinkPool := benchSelfSigned(b)
	sink := newBulkSink(b, cert)
	relay := newTLSRelay(b, cert, sink.addr)
	innerCfg := &tls.Config{RootCAs: sinkPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}}
	devCfg := be.deviceConfig(b, 0)
	relayCfg := innerCfg.Clone()

	last := map[string]float64{} // MB/s of the latest run of each path
	outerOK := func(c net.Conn) error {
		if bc, ok := c.(*bufConn); ok {
			c = bc.Conn
		}
		if cs := c.(*tls.Conn).ConnectionState().CipherSuite; cs != tls.TLS_AES_128_GCM_SHA256 {
			c.Close()
			return fmt.Errorf("outer TLS negotiated %s, want TLS_AES_128_GCM_SHA256", tls.CipherSuiteName(cs))
		}
		return nil
	}
	inner := func(c net.Conn) (net.Conn, error) {
		tc := tls.Client(c, innerCfg)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		if cs := tc.ConnectionState().CipherSuite; cs != tls.TLS_AES_128_GCM_SHA256 {
			return nil, fmt.Errorf("inner TLS negotiated %s, want TLS_AES_128_GCM_SHA256", tls.CipherSuiteName(cs))
		}
		return tc, nil
	}
	paths := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"direct", func() (net.Conn, error) {
			c, err := net.Dial("tcp", sink.addr)
			if err != nil {
				return nil, err
			}
			return inner(c)
		}},
		{"tls-relay", func() (net.Conn, error) {
			c, err := tlsDial(relay, relayCfg)
			if err != nil {
				return nil, err
			}
			if err := outerOK(c); err != nil {
				return nil, err
			}
			return inner(c)
		}},
		{"edge", func() (net.Conn, error) {
			c, err := connectThrough(be.addr, devCfg, sink.addr)
			if err != nil {
				return nil, err
			}
			if err := outerOK(c); err != nil {
				return nil, err
			}
			return inner(c)
		}},
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(bulkSize)
			buf := make([]byte, 64<<10)
			rand.Read(buf)
			// Profile labels split a -cpuprofile by role (client, sink,
			// relay; the edge's goroutines carry none).
			defer pprof.SetGoroutineLabels(context.Background())
			pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("role", "client")))
			cpu0 := cputime.Process()
			for b.Loop() {
				c, err := p.dial()
				if err != nil {
					b.Fatal(err)
				}
				if err := streamBulk(c, bulkSize, buf); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			cpu := cputime.Process() - cpu0
			mbs := float64(bulkSize) * float64(b.N) / b.Elapsed().Seconds() / 1e6
			last[p.name] = mbs
			b.ReportMetric(cpu.Seconds()/b.Elapsed().Seconds(), "cores")
			b.ReportMetric(cpu.Seconds()*1e9/(float64(bulkSize)*float64(b.N)/1e3), "cpu-µs/MB")
			if p.name != "direct" && last["direct"] > 0 {
				b.ReportMetric(mbs/last["direct"], "x-direct")
			}
			if p.name == "edge" && last["tls-relay"] > 0 {
				b.ReportMetric(mbs/last["tls-relay"], "x-relay")
			}
		})
	}
	// The same three paths taking turns within each operation (the order
	// rotating), so that a change in the machine's load between
	// sub-benchmarks cannot skew the ratios: on a shared machine these are
	// the ratios to quote.
	b.Run("paired", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 64<<10)
		rand.Read(buf)
		defer pprof.SetGoroutineLabels(context.Background())
		pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("role", "client")))
		took := make([]time.Duration, len(paths))
		cpu := make([]time.Duration, len(paths))
		round := 0
		for b.Loop() {
			for k := range paths {
				i := (k + round) % len(paths)
				t0, c0 := time.Now(), cputime.Process()
				c, err := paths[i].dial()
				if err != nil {
					b.Fatal(err)
				}
				if err := streamBulk(c, bulkSize, buf); err != nil {
					b.Fatal(err)
				}
				c.Close()
				took[i] += time.Since(t0)
				cpu[i] += cputime.Process() - c0
			}
			round++
		}
		mbs := func(i int) float64 { return float64(bulkSize) * float64(b.N) / took[i].Seconds() / 1e6 }
		for i, p := range paths {
			b.ReportMetric(mbs(i), p.name+"-MB/s")
			b.ReportMetric(cpu[i].Seconds()*1e12/(float64(bulkSize)*float64(b.N)), p.name+"-cpu-µs/MB")
		}
		b.ReportMetric(mbs(1)/mbs(0), "relay-x-direct")
		b.ReportMetric(mbs(2)/mbs(0), "edge-x-direct")
		b.ReportMetric(mbs(2)/mbs(1), "edge-x-relay")
	})
}

// ---------------------------------------------------------------------------
// 2 and 3. Small JSON POSTs.

// smallDest is a JSON API on loopback (plain HTTP) answering a small body;
// it counts the connections it accepted.
type smallDest struct {
	*httptest.Server
	conns atomic.Int64
}

func newSmallDest(tb testing.TB) *smallDest {
	d := &smallDest{}
	d.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		body := `{"status":"approved","bytes":` + strconv.FormatInt(n, 10) + `}`
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	}))
	d.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			d.conns.Add(1)
		}
	}
	d.Start()
	tb.Cleanup(d.Close)
	return d
}

// nonces keep every POST body distinct: the replay shield (on by default
// for POST) refuses a body that already got a 2xx.
var (
	nonceRun = strconv.FormatInt(time.Now().UnixNano(), 36)
	nonceSeq atomic.Uint64
)

func chargeBody() []byte {
	return []byte(`{"merchant":"M-1","terminal":"T-1","amount":"12.50","currency":"EUR","nonce":"` +
		nonceRun + "-" + strconv.FormatUint(nonceSeq.Add(1), 10) + `","card":{"token":"tok_4f3a9c"}}`)
}

// benchPost sends one small charge and checks the answer.
func benchPost(c *http.Client, target string) error {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(chargeBody()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// benchBlock sends n small POSTs from workers concurrent goroutines and
// returns how long they took.
func benchBlock(c *http.Client, target string, n, workers int) (time.Duration, error) {
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	t0 := time.Now()
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := benchPost(c, target); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return 0, *p
	}
	return time.Since(t0), nil
}

func benchClient(proxy *url.URL, tlsCfg *tls.Config, conns int) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:     tlsCfg,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// procCPU is the CPU time (user and system) process pid has used, from
// /proc/pid/stat (clock ticks of 10ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 on
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// procSyscalls counts the read and write system calls (sockets included)
// process pid has made, from /proc/pid/io; pid 0 is this process.
func procSyscalls(pid int) uint64 {
	name := "/proc/self/io"
	if pid != 0 {
		name = fmt.Sprintf("/proc/%d/io", pid)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return 0
	}
	var n uint64
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		if k == "syscr" || k == "syscw" {
			x, _ := strconv.ParseUint(v, 10, 64)
			n += x
		}
	}
	return n
}

// squid runs Debian's squid as a plain forward proxy on a loopback port:
// its own squid.conf in a temp dir, no cache, no access log.
type squid struct {
	url *url.URL
	cmd *exec.Cmd
	dir string
}

// startSquid returns nil when squid is not installed.
func startSquid(tb testing.TB, extraConf string) *squid {
	tb.Helper()
	bin, err := exec.LookPath("squid")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/squid"); serr == nil {
			bin = "/usr/sbin/squid"
		} else {
			return nil
		}
	}
	// squid drops root privileges to user proxy: the directory must be
	// reachable by it, hence not under the test's 0700 temp dir.
	dir, err := os.MkdirTemp("", "halo-bench-squid-")
	if err != nil {
		tb.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	tb.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := fmt.Sprintf(`http_port 127.0.0.1:%d
http_access allow all
cache deny all
cache_mem 0 MB
access_log none
cache_store_log none
cache_log %[2]s/cache.log
pid_filename %[2]s/squid.pid
coredump_dir %[2]s
netdb_filename none
pinger_enable off
via off
forwarded_for delete
client_persistent_connections on
server_persistent_connections on
shutdown_lifetime 0 seconds
`, port, dir) + extraConf
	confPath := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command(bin, "-k", "parse", "-f", confPath).CombinedOutput(); err != nil {
		tb.Fatalf("squid -k parse: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-N", "-f", confPath)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting squid: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s := &squid{url: &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}, cmd: cmd, dir: dir}
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	ok := benchWaitFor(10*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		c, err := net.Dial("tcp", s.url.Host)
		if err == nil {
			c.Close()
			return true
		}
		return false
	})
	select {
	case <-exited:
		log, _ := os.ReadFile(filepath.Join(dir, "cache.log"))
		tb.Fatalf("squid exited: %s\n%s", stderr.String(), log)
	default:
	}
	if !ok {
		tb.Fatal("squid did not start listening within 10s")
	}
	return s
}

// BenchmarkSmallPOST sends small JSON POSTs (≈140 B up, ≈40 B down) from
// smallPOSTWorkers concurrent keep-alive clients: direct to the
// destination, through squid (plain HTTP to the proxy), and through the
// edge (device mTLS to the edge; fingerprints, replay shield and events
// on, events published by events/publish into the embedded NATS log).
func BenchmarkSmallPOST(b *testing.B) {
	const workers = 16
	be := newBenchEdge(b, 1, nil)
	dest := newSmallDest(b)
	// squid as Debian ships it (cache off) opens a new connection to the
	// destination for every POST: by default it reuses server connections
	// only for requests it can retry (server_pconn_for_nonretriable). The
	// second instance reuses them, as the edge does.
	const noSquid = "squid is not installed (Debian: apt-get install squid): no squid baseline"
	squids := map[string]*squid{}
	if sq := startSquid(b, ""); sq != nil {
		squids["squid"] = sq
		squids["squid-pconn"] = startSquid(b, "server_pconn_for_nonretriable allow all\n")
	}
	target := dest.URL + "/v1/charge"
	edgeURL := &url.URL{Scheme: "https", Host: be.addr}
	clients := map[string]*http.Client{
		"direct": benchClient(nil, nil, workers),
		"edge":   benchClient(edgeURL, be.deviceConfig(b, 0), workers),
	}
	for name, sq := range squids {
		clients[name] = benchClient(sq.url, nil, workers)
	}
	for _, c := range clients {
		b.Cleanup(c.CloseIdleConnections)
		// Warm the keep-alive pools.
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range 20 {
					if err := benchPost(c, target); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
	}
	last, lastCPU, lastSys := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, name := range []string{"direct", "squid", "squid-pconn", "edge"} {
		c := clients[name]
		if c == nil {
			b.Run(name, func(b *testing.B) { b.Skip(noSquid) })
			continue
		}
		pid := 0 // the squid process, if any
		if sq := squids[name]; sq != nil {
			pid = sq.cmd.Process.Pid
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(workers / runtime.GOMAXPROCS(0))
			emitted0 := be.pub.Stats().Emitted
			cpu0, sys0 := cputime.Process(), procSyscalls(0)
			var sqCPU0 time.Duration
			var sqSys0 uint64
			if pid != 0 {
				sqCPU0, sqSys0 = procCPU(pid), procSyscalls(pid)
			}
			conns0 := dest.conns.Load()
			var failed atomic.Int64
			var firstErr atomic.Pointer[error]
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := benchPost(c, target); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, &err)
					}
				}
			})
			b.StopTimer()
			cpu, sys := cputime.Process()-cpu0, procSyscalls(0)-sys0
			if pid != 0 {
				cpu += procCPU(pid) - sqCPU0
				sys += procSyscalls(pid) - sqSys0
			}
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d requests failed; first: %v", n, b.N, *firstErr.Load())
			}
			rps := float64(b.N) / b.Elapsed().Seconds()
			last[name] = rps
			b.ReportMetric(rps, "req/s")
			b.ReportMetric(float64(dest.conns.Load()-conns0)/float64(b.N), "dest-conns/req")
			// CPU per request of every process involved (this one: clients,
			// destination, edge and its log; squid's own), and the proxy's
			// share: the same minus the direct path's.
			cpuPer, sysPer := float64(cpu.Microseconds())/float64(b.N), float64(sys)/float64(b.N)
			lastCPU[name], lastSys[name] = cpuPer, sysPer
			b.ReportMetric(cpuPer, "cpu-µs/req")
			b.ReportMetric(cpu.Seconds()/b.Elapsed().Seconds(), "cores")
			b.ReportMetric(sysPer, "rw-syscalls/req")
			if name != "direct" && lastCPU["direct"] > 0 {
				b.ReportMetric(cpuPer-lastCPU["direct"], "proxy-cpu-µs/req")
				b.ReportMetric(sysPer-lastSys["direct"], "proxy-rw-syscalls/req")
			}
			if name == "edge" {
				if last["squid"] > 0 {
					b.ReportMetric(rps/last["squid"], "x-squid")
				}
				if last["squid-pconn"] > 0 {
					b.ReportMetric(rps/last["squid-pconn"], "x-squid-pconn")
				}
				// Every request must have given its three events
				// (conn.opened, tx.observed, conn.closed), none refused.
				benchWaitFor(2*time.Second, func() bool { return benchGauge(be.metrics.ActiveStreams) == 0 })
				benchWaitFor(2*time.Second, func() bool { return be.pub.Stats().Emitted-emitted0 >= 3*uint64(b.N) })
				b.ReportMetric(float64(be.pub.Stats().Emitted-emitted0)/float64(b.N), "events/req")
				if e := benchCounter(be.metrics.EmitErrors); e > 0 {
					b.Fatalf("%v events could not be emitted", e)
				}
			}
		})
	}
	// The same load taking turns: each operation is a round in which every
	// path carries pairedBlock requests from the same workers (the order
	// rotating), so that the machine's load changing between sub-benchmarks
	// cannot skew the ratios: on a shared machine these are the ratios to
	// quote.
	b.Run("paired", func(b *testing.B) {
		if len(squids) == 0 {
			b.Skip(noSquid)
		}
		const pairedBlock = 1000
		names := []string{"direct", "squid", "squid-pconn", "edge"}
		b.ReportAllocs()
		took := make([]time.Duration, len(names))
		round := 0
		for b.Loop() {
			for k := range names {
				i := (k + round) % len(names)
				d, err := benchBlock(clients[names[i]], target, pairedBlock, workers)
				if err != nil {
					b.Fatalf("%s: %v", names[i], err)
				}
				took[i] += d
			}
			round++
		}
		rps := func(i int) float64 { return float64(pairedBlock*b.N) / took[i].Seconds() }
		for i, n := range names {
			b.ReportMetric(rps(i), n+"-req/s")
		}
		b.ReportMetric(rps(3)/rps(1), "edge-x-squid")
		b.ReportMetric(rps(3)/rps(2), "edge-x-squid-pconn")
	})
	// Every event reached the log.
	if !benchWaitFor(5*time.Second, func() bool { st := be.pub.Stats(); return st.Buffered == 0 && st.Appended == st.Emitted }) {
		b.Errorf("publisher did not catch up: %+v", be.pub.Stats())
	}
}

// BenchmarkAddedLatency sends small JSON POSTs one at a time over
// keep-alive connections, alternating between the destination directly and
// the same destination through the edge; one operation is one request each
// way. It reports the percentiles of both and their differences, the
// latency the edge adds.
func BenchmarkAddedLatency(b *testing.B) {
	be := newBenchEdge(b, 1, nil)
	dest := newSmallDest(b)
	target := dest.URL + "/v1/charge"
	direct := benchClient(nil, nil, 1)
	edge := benchClient(&url.URL{Scheme: "https", Host: be.addr}, be.deviceConfig(b, 0), 1)
	b.Cleanup(direct.CloseIdleConnections)
	b.Cleanup(edge.CloseIdleConnections)
	for range 500 {
		if err := benchPost(direct, target); err != nil {
			b.Fatal(err)
		}
		if err := benchPost(edge, target); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	var dd, de []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := benchPost(direct, target); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := benchPost(edge, target); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		dd, de = append(dd, t1.Sub(t0)), append(de, t2.Sub(t1))
	}
	slices.Sort(dd)
	slices.Sort(de)
	pct := func(s []time.Duration, p float64) float64 {
		return float64(s[min(len(s)-1, int(p*float64(len(s))))]) / 1e3
	}
	b.ReportMetric(pct(dd, 0.50), "direct-p50-µs")
	b.ReportMetric(pct(dd, 0.99), "direct-p99-µs")
	b.ReportMetric(pct(de, 0.50), "edge-p50-µs")
	b.ReportMetric(pct(de, 0.99), "edge-p99-µs")
	b.ReportMetric(pct(de, 0.50)-pct(dd, 0.50), "added-p50-µs")
	b.ReportMetric(pct(de, 0.99)-pct(dd, 0.99), "added-p99-µs")
}

// ---------------------------------------------------------------------------
// 4. Memory per idle device connection.

const (
	idleChildEnv = "HALO_BENCH_IDLE_CHILD"
	idleConns    = 5000
	idleDevices  = 5000 // idleConns/idleDevices connections per device
)

// benchRaiseNoFile lifts the soft open-files limit to the hard one when it is
// below need.
func benchRaiseNoFile(tb testing.TB, need uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Fatal(err)
	}
	if rl.Cur >= need {
		return
	}
	rl.Cur = max(rl.Max, need)
	if rl.Max < need {
		rl.Max = need // needs CAP_SYS_RESOURCE
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Skipf("open-files limit too low for %d connections and cannot be raised: %v", need, err)
	}
}

// benchRSS is this process's resident set size in bytes.
func benchRSS(tb testing.TB) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

type memSnap struct {
	heap, stack, rss uint64
	goroutines       int
}

// benchSettle collects garbage, returns freed memory to the OS and reads the
// process's memory.
func benchSettle(tb testing.TB) memSnap {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnap{heap: ms.HeapInuse, stack: ms.StackInuse, rss: benchRSS(tb), goroutines: runtime.NumGoroutine()}
}

// BenchmarkIdleConns opens idleConns device connections to the edge, one
// per enrolled device, from a child process (this test binary, re-run as
// TestIdleClientsChild), each mTLS-handshaken and carrying one small POST
// to a destination in this process, then left idle; it reports this
// process's memory growth per connection: Go heap in use plus goroutine
// stacks, and resident set size.
// Between the two snapshots the process holds the same edge, event log and
// destination; the difference is the idle connections (and the upstream
// keep-alive pool of at most 64 connections, shared by all devices). With
// HALO_BENCH_IDLE_HEAPPROFILE=FILE it also writes a heap profile taken
// while the connections are idle.
func BenchmarkIdleConns(b *testing.B) {
	benchRaiseNoFile(b, idleConns+1024)
	if os.Getenv("HALO_BENCH_IDLE_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 512 // a finer heap profile than the default 512 KiB
	}
	be := newBenchEdge(b, idleDevices, func(c *Config) { c.IdleTimeout = 10 * time.Minute })
	dest := newSmallDest(b)
	devFile := filepath.Join(b.TempDir(), "devices.json")
	js, _ := json.Marshal(be.devices)
	if err := os.WriteFile(devFile, js, 0o600); err != nil {
		b.Fatal(err)
	}
	caFile := filepath.Join(b.TempDir(), "ca.crt")
	os.WriteFile(caFile, be.ca.CertPEM(), 0o644)
	runChild := func(n int, measure func()) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsChild$", "-test.bench=^$", "-test.count=1")
		cmd.Env = append(os.Environ(), idleChildEnv+"=1",
			"HALO_IDLE_EDGE="+be.addr, "HALO_IDLE_TARGET="+dest.URL+"/v1/idle",
			"HALO_IDLE_DEVICES="+devFile, "HALO_IDLE_CA="+caFile, "HALO_IDLE_N="+strconv.Itoa(n))
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		ready := false
		var childOut []string
		for sc.Scan() {
			line := sc.Text()
			childOut = append(childOut, line)
			if strings.HasPrefix(line, "READY ") {
				ready = true
				break
			}
		}
		if !ready {
			cmd.Wait()
			b.Fatalf("idle clients child failed:\n%s\n%s", strings.Join(childOut, "\n"), stderr.String())
		}
		go io.Copy(io.Discard, stdout)
		// The edge has answered; wait for it to finish the requests and
		// the publisher to flush their events.
		if !benchWaitFor(10*time.Second, func() bool {
			return benchGauge(be.metrics.ActiveConns) == float64(n) && benchGauge(be.metrics.ActiveStreams) == 0
		}) {
			b.Fatalf("edge holds %v connections, %v streams; want %d, 0", benchGauge(be.metrics.ActiveConns), benchGauge(be.metrics.ActiveStreams), n)
		}
		benchWaitFor(5*time.Second, func() bool { st := be.pub.Stats(); return st.Buffered == 0 && st.Appended == st.Emitted })
		if measure != nil {
			measure()
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatalf("idle clients child: %v\n%s", err, stderr.String())
		}
		if !benchWaitFor(10*time.Second, func() bool { return benchGauge(be.metrics.ActiveConns) == 0 }) {
			b.Fatalf("edge still holds %v connections after the clients left", benchGauge(be.metrics.ActiveConns))
		}
	}
	// Warm the edge: a first round of connections grows its pools, maps and
	// the log's caches, so the measured growth is what connections hold.
	runChild(idleConns/5, nil)
	time.Sleep(200 * time.Millisecond)

	b.ReportAllocs()
	b.ResetTimer()
	var heapPer, stackPer, rssPer, gPer float64
	for i := 0; i < b.N; i++ {
		before := benchSettle(b)
		var after memSnap
		runChild(idleConns, func() {
			time.Sleep(100 * time.Millisecond)
			after = benchSettle(b)
			if path := os.Getenv("HALO_BENCH_IDLE_HEAPPROFILE"); path != "" {
				// What the idle connections hold: go tool pprof -sample_index=inuse_space.
				f, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		})
		heapPer += (float64(after.heap) - float64(before.heap)) / idleConns
		stackPer += (float64(after.stack) - float64(before.stack)) / idleConns
		rssPer += (float64(after.rss) - float64(before.rss)) / idleConns
		gPer += float64(after.goroutines-before.goroutines) / idleConns
	}
	n := float64(b.N)
	b.ReportMetric((heapPer+stackPer)/n/1024, "heap+stack-KiB/conn")
	b.ReportMetric(heapPer/n/1024, "heap-KiB/conn")
	b.ReportMetric(stackPer/n/1024, "stack-KiB/conn")
	b.ReportMetric(rssPer/n/1024, "rss-KiB/conn")
	b.ReportMetric(gPer/n, "goroutines/conn")
}

// TestIdleClientsChild is the device side of BenchmarkIdleConns, run in a
// child process; it is skipped in a normal test run.
func TestIdleClientsChild(t *testing.T) {
	if os.Getenv(idleChildEnv) != "1" {
		t.Skip("run by BenchmarkIdleConns in a child process")
	}
	n, _ := strconv.Atoi(os.Getenv("HALO_IDLE_N"))
	edgeAddr, target := os.Getenv("HALO_IDLE_EDGE"), os.Getenv("HALO_IDLE_TARGET")
	benchRaiseNoFile(t, uint64(n)+256)
	var devs []benchDevice
	js, err := os.ReadFile(os.Getenv("HALO_IDLE_DEVICES"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &devs); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(os.Getenv("HALO_IDLE_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfgs := make([]*tls.Config, len(devs))
	for i, d := range devs {
		cert, err := tls.X509KeyPair([]byte(d.CertPEM), []byte(d.KeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		cfgs[i] = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1",
			MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}}
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || firstErr.Load() != nil {
					return
				}
				c, err := idleOpen(cfgs[i%len(cfgs)], edgeAddr, u)
				if err != nil {
					err = fmt.Errorf("connection %d: %w", i, err)
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		t.Fatal(*p)
	}
	fmt.Printf("READY %d\n", n)
	io.Copy(io.Discard, os.Stdin) // until the parent has measured
	for _, c := range conns {
		c.Close()
	}
}

// idleOpen handshakes with the edge as a device, sends one small POST in
// absolute form and reads the answer, leaving the connection open.
func idleOpen(cfg *tls.Config, edgeAddr string, target *url.URL) (net.Conn, error) {
	c, err := tlsDial(edgeAddr, cfg)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	body := chargeBody()
	req := "POST " + target.String() + " HTTP/1.1\r\nHost: " + target.Host + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
