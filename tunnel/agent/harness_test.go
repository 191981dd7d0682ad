package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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
	"github.com/halo-sec/halo/tunnel"
	"github.com/halo-sec/halo/tunnel/agent"
	"github.com/halo-sec/halo/tunnel/fingerprint"
)

// A small harness after tunnel/harness_test.go: a real edge with a real
// embedded NATS event log, a CA, a tenant and an enrolled device whose files
// are on disk; then a real agent in front of it, driven by the real curl.

// syncEmitter appends each event to the store at once.
type syncEmitter struct{ store events.Store }

func (s *syncEmitter) Emit(ev events.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.store.Append(ctx, ev)
}

// asyncEmitter appends events from a background goroutine, off the request
// path, as the production publisher (events/publish) does; for benchmarks.
type asyncEmitter struct {
	ch   chan events.Event
	done chan struct{}
}

func newAsyncEmitter(store events.Store) *asyncEmitter {
	e := &asyncEmitter{ch: make(chan events.Event, 4096), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		for ev := range e.ch {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			store.Append(ctx, ev)
			cancel()
		}
	}()
	return e
}

func (e *asyncEmitter) Emit(ev events.Event) error {
	e.ch <- ev
	return nil
}

func (e *asyncEmitter) close() { close(e.ch); <-e.done }

type deviceFiles struct{ cert, key, ca string }

type env struct {
	t       testing.TB
	dir     string
	store   *natsstore.Store
	ca      *identity.CA
	reg     *identity.Registry // the operator's view, for enrol and revoke
	files   deviceFiles
	edge    *tunnel.Edge
	addr    string
	metrics *tunnel.Metrics
	cancel  context.CancelFunc
	runDone chan error
	edgeMod func(*tunnel.Config)
	async   bool // events off the request path (benchmarks)
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := newEnvNoEdge(t)
	e.startEdge("127.0.0.1:0")
	return e
}

// newEnvNoEdge prepares the log, CA, tenant and device, without an edge.
func newEnvNoEdge(t testing.TB) *env {
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
	e := &env{t: t, dir: dir, store: store, ca: ca, reg: reg}
	e.files = e.enroll("POS-1", false)
	return e
}

// enroll issues (or renews) a device certificate and writes its files.
func (e *env) enroll(device string, renew bool) deviceFiles {
	e.t.Helper()
	iss, err := identity.Enroll(context.Background(), e.store, e.reg, e.ca, identity.EnrollRequest{Tenant: "acme", Device: device, Model: "P2", Firmware: "1.0", Renew: renew})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.writeFiles(device, iss.CertPEM, iss.KeyPEM)
}

func (e *env) writeFiles(name string, certPEM, keyPEM []byte) deviceFiles {
	e.t.Helper()
	out := filepath.Join(e.dir, "devices")
	if err := os.MkdirAll(out, 0o700); err != nil {
		e.t.Fatal(err)
	}
	f := deviceFiles{cert: filepath.Join(out, name+".crt"), key: filepath.Join(out, name+".key"), ca: filepath.Join(out, "ca.crt")}
	// Like an enrolment tool should: write aside, then rename into place.
	for _, w := range []struct {
		path string
		b    []byte
		mode os.FileMode
	}{{f.key, keyPEM, 0o600}, {f.cert, certPEM, 0o644}, {f.ca, e.ca.CertPEM(), 0o644}} {
		if err := os.WriteFile(w.path+".tmp", w.b, w.mode); err != nil {
			e.t.Fatal(err)
		}
		if err := os.Rename(w.path+".tmp", w.path); err != nil {
			e.t.Fatal(err)
		}
	}
	return f
}

// startEdge starts an edge on addr with folds loaded from the log.
func (e *env) startEdge(addr string) {
	t := e.t
	t.Helper()
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
	e.metrics = tunnel.NewMetrics(nil)
	var emitter tunnel.Emitter = &syncEmitter{store: e.store}
	if e.async {
		ae := newAsyncEmitter(e.store)
		t.Cleanup(ae.close) // after the edge has stopped
		emitter = ae
	}
	cfg := tunnel.Config{
		Addr: addr, CA: e.ca, Registry: reg, Interventions: ivs, Policies: pols, Emitter: emitter, Metrics: e.metrics,
		Keyer: func(tenant string) (*fingerprint.Keyer, error) {
			k, err := identity.TenantSecret(e.dir, tenant)
			if err != nil {
				return nil, err
			}
			return fingerprint.NewKeyer(k)
		},
		HandshakeTimeout: 2 * time.Second,
		ShutdownGrace:    time.Second,
	}
	if e.edgeMod != nil {
		e.edgeMod(&cfg)
	}
	edge, err := tunnel.New(cfg, slog.New(slog.NewTextHandler(testWriter{t, "edge: "}, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := edge.Listen(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	e.edge, e.addr, e.cancel, e.runDone = edge, edge.Addr(), cancel, done
	go func() { done <- edge.Run(ctx) }()
	t.Cleanup(e.stopEdge)
}

func (e *env) stopEdge() {
	if e.cancel == nil {
		return
	}
	start := time.Now()
	e.cancel()
	select {
	case err := <-e.runDone:
		if err != nil {
			e.t.Errorf("edge Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		e.t.Error("edge did not stop")
	}
	// Run returns once the listener is closed; the shutdown it started
	// goes on. A second Shutdown waits for the first to finish.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	e.edge.Shutdown(ctx)
	if d := time.Since(start); d > 2*time.Second {
		e.t.Logf("the edge took %v to stop", d)
	}
	e.cancel = nil
}

// waitEvents reads events of types from the log, waiting until at least n
// are there.
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

// logBuf collects an agent's log lines (and shows them in the test log).
type logBuf struct {
	t  testing.TB
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	if _, bench := l.t.(*testing.B); !bench { // a benchmark's log is always printed
		l.t.Log("agent: " + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

type testWriter struct {
	t      testing.TB
	prefix string
}

func (w testWriter) Write(p []byte) (int, error) {
	if _, bench := w.t.(*testing.B); !bench {
		w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// runAgent starts an agent for the device files, talking to edgeAddr.
func runAgent(t testing.TB, f deviceFiles, edgeAddr string, mod func(*agent.Config)) (*agent.Agent, *logBuf) {
	t.Helper()
	cfg := agent.Config{
		Edge: edgeAddr, CertFile: f.cert, KeyFile: f.key, CAFile: f.ca, Listen: "127.0.0.1:0",
		DialTimeout: 2 * time.Second, ReloadInterval: 100 * time.Millisecond, BackoffMax: time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	logs := &logBuf{t: t}
	a, err := agent.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		a.Shutdown(ctx)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("agent did not stop")
		}
	})
	return a, logs
}

// curl runs the real curl with the agent as a plain local proxy.
func curl(t *testing.T, proxy string, args ...string) (string, int, error) {
	t.Helper()
	base := []string{"-sS", "--max-time", "10", "--proxy", "http://" + proxy, "-o", "-", "-w", "\n%{http_code}"}
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

// payServer is a payment API on loopback.
type payServer struct {
	*httptest.Server
	n atomic.Int64
}

func newPayServer(t testing.TB, tlsOn bool) *payServer {
	p := &payServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"approved","path":%q,"bytes":%d}`, r.URL.Path, len(b))
	})
	if tlsOn {
		p.Server = httptest.NewTLSServer(h)
	} else {
		p.Server = httptest.NewServer(h)
	}
	t.Cleanup(p.Close)
	return p
}

// echoServer echoes every byte back, for long-lived CONNECT streams.
func newEchoServer(t *testing.T) string {
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
	return ln.Addr().String()
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not JSON: %q: %v", s, err)
	}
	return m
}

// freeAddr returns a loopback address nothing listens on (for now).
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func waitFor(t testing.TB, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
