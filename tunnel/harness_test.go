package tunnel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/policy"
	"github.com/halo-sec/halo/tunnel/fingerprint"
)

// syncEmitter appends each event to the store at once. It is the simplest
// real path into the log; events/publish adds batching and spooling.
type syncEmitter struct {
	store events.Store
	n     atomic.Int64
}

func (s *syncEmitter) Emit(ev events.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.n.Add(1)
	return s.store.Append(ctx, ev)
}

// env is a running edge with its event log, CA, a tenant and an enrolled
// device whose files are on disk for curl.
type env struct {
	t       testing.TB
	dir     string
	store   *natsstore.Store
	ca      *identity.CA
	reg     *identity.Registry
	ivs     *intervention.Set
	pols    *policy.Set
	edge    *Edge
	addr    string
	files   deviceFiles
	emitter *syncEmitter
	cancel  context.CancelFunc
	runDone chan error
	metrics *Metrics
	cfgMod  func(*Config)
}

type deviceFiles struct{ cert, key, ca string }

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newEnv(t *testing.T, mod func(*Config)) *env { return newEnvTB(t, mod) }

// newEnvTB is newEnv for benchmarks and fuzz targets.
func newEnvTB(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ca, err := identity.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg := identity.NewRegistry()
	if _, err := identity.CreateTenant(ctx, store, reg, dir, "acme", "Acme", "test"); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, store: store, ca: ca, reg: reg, cfgMod: mod}
	e.files = e.enroll("POS-1")
	e.start()
	return e
}

func (e *env) enroll(device string) deviceFiles {
	e.t.Helper()
	iss, err := identity.Enroll(context.Background(), e.store, e.reg, e.ca, identity.EnrollRequest{Tenant: "acme", Device: device, Model: "P2", Firmware: "1.0"})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.writeFiles(device, iss.CertPEM, iss.KeyPEM)
}

func (e *env) writeFiles(name string, certPEM, keyPEM []byte) deviceFiles {
	out := filepath.Join(e.dir, "devices")
	os.MkdirAll(out, 0o700)
	f := deviceFiles{cert: filepath.Join(out, name+".crt"), key: filepath.Join(out, name+".key"), ca: filepath.Join(out, "ca.crt")}
	os.WriteFile(f.cert, certPEM, 0o644)
	os.WriteFile(f.key, keyPEM, 0o600)
	os.WriteFile(f.ca, e.ca.CertPEM(), 0o644)
	return f
}

// start (re)starts the edge on a fresh port with folds loaded from the log.
func (e *env) start() {
	t := e.t
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := identity.Load(ctx, e.store)
	if err != nil {
		t.Fatal(err)
	}
	ivs, err := intervention.Load(ctx, e.store)
	if err != nil {
		t.Fatal(err)
	}
	pols, err := policy.Load(ctx, e.store)
	if err != nil {
		t.Fatal(err)
	}
	go reg.Follow(ctx, e.store)
	go ivs.Follow(ctx, e.store)
	go pols.Follow(ctx, e.store)
	e.reg, e.ivs, e.pols = reg, ivs, pols
	e.emitter = &syncEmitter{store: e.store}
	e.metrics = NewMetrics(nil)
	cfg := Config{
		Addr: "127.0.0.1:0", CA: e.ca, Registry: reg, Interventions: ivs, Policies: pols, Emitter: e.emitter, Metrics: e.metrics,
		Keyer: func(tenant string) (*fingerprint.Keyer, error) {
			k, err := identity.TenantSecret(e.dir, tenant)
			if err != nil {
				return nil, err
			}
			return fingerprint.NewKeyer(k)
		},
		StaticHosts:      map[string]netip.Addr{"pay.example": netip.MustParseAddr("127.0.0.1"), "updates.example": netip.MustParseAddr("127.0.0.1")},
		HandshakeTimeout: 2 * time.Second,
		ShutdownGrace:    2 * time.Second,
	}
	if e.cfgMod != nil {
		e.cfgMod(&cfg)
	}
	logger := testLogger(t)
	if _, fuzz := t.(*testing.F); fuzz {
		logger = slog.New(slog.DiscardHandler) // f.Log is not allowed inside a fuzz target
	}
	edge, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edge.RebuildShield(ctx, e.store, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := edge.Listen(); err != nil {
		t.Fatal(err)
	}
	e.edge, e.addr, e.cancel = edge, edge.Addr(), cancel
	e.runDone = make(chan error, 1)
	go func() { e.runDone <- edge.Run(ctx) }()
	t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case err := <-e.runDone:
		if err != nil {
			e.t.Errorf("edge Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		e.t.Error("edge did not stop")
	}
	e.cancel = nil
}

// curl runs the real curl through the edge as device files f.
func (e *env) curl(f deviceFiles, args ...string) (string, int, error) {
	e.t.Helper()
	base := []string{"-sS", "--max-time", "10", "--proxy", "https://" + e.addr, "--proxy-cacert", f.ca, "-o", "-", "-w", "\n%{http_code}"}
	if f.cert != "" {
		base = append(base, "--proxy-cert", f.cert, "--proxy-key", f.key)
	}
	cmd := exec.Command("curl", append(base, args...)...)
	cmd.Env = append(os.Environ(), "NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	s := string(out)
	i := strings.LastIndex(s, "\n")
	code := 0
	if i >= 0 {
		fmt.Sscanf(s[i+1:], "%d", &code)
		s = s[:i]
	}
	return s, code, err
}

// events of types, read from the log, waiting until at least n are there.
func (e *env) waitEvents(n int, types ...events.Type) []events.Event {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var out []events.Event
		for ev, err := range e.store.Read(context.Background(), events.Query{Types: types}) {
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, ev)
		}
		if len(out) >= n || time.Now().After(deadline) {
			if len(out) < n {
				e.t.Fatalf("waited for %d %v events, have %d", n, types, len(out))
			}
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// payServer is a payment API on loopback that counts what it charges.
type payServer struct {
	*httptest.Server
	mu      sync.Mutex
	charges int
	bodies  []string
}

func newPayServer(t testing.TB, tlsOn bool) *payServer {
	p := &payServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.charges++
		p.bodies = append(p.bodies, string(b))
		p.mu.Unlock()
		if r.Header.Get("Proxy-Authorization") != "" {
			http.Error(w, "proxy header leaked", 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"approved","host":%q,"bytes":%d}`, r.Host, len(b))
	})
	if tlsOn {
		p.Server = httptest.NewTLSServer(h)
	} else {
		p.Server = httptest.NewServer(h)
	}
	t.Cleanup(p.Close)
	return p
}

func (p *payServer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.charges
}

func (p *payServer) port() string {
	_, port, _ := net.SplitHostPort(p.Listener.Addr().String())
	return port
}

// deviceTLS is a Go client TLS config for the edge as device f.
func deviceTLS(t testing.TB, f deviceFiles) *tls.Config {
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(f.ca)
	pool.AppendCertsFromPEM(b)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1"}
}

func decodeJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not JSON: %q: %v", s, err)
	}
	return m
}
