package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// receiver is a real HTTP endpoint that verifies signatures and can be
// taken down and brought back on the same address.
type receiver struct {
	t      *testing.T
	secret []byte
	down   atomic.Bool
	mu     sync.Mutex
	got    map[string]int // delivery id -> times received
	bodies map[string]map[string]any
	bad    atomic.Int32
	srv    *httptest.Server
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, secret: []byte(secret), got: map[string]int{}, bodies: map[string]map[string]any{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if r.down.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(req.Body)
	if err := Verify(r.secret, req.Header.Get("X-Halo-Timestamp"), req.Header.Get("X-Halo-Signature"), body, time.Now(), 5*time.Minute); err != nil {
		r.bad.Add(1)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var m map[string]any
	json.Unmarshal(body, &m)
	id := req.Header.Get("X-Halo-Delivery")
	if id == "" || m["id"] != id {
		r.bad.Add(1)
	}
	r.mu.Lock()
	r.got[id]++
	r.bodies[id] = m
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func change(seq uint64, tenant, sev string) Change {
	return Change{Seq: seq, Tenant: tenant, Type: "alert.raised", AlertID: fmt.Sprintf("al-%d", seq), Device: "pos-1",
		Detector: "replay-attack", Severity: sev, Alert: json.RawMessage(fmt.Sprintf(`{"id":"al-%d"}`, seq))}
}

func start(t *testing.T, cfg Config) (*Engine, context.CancelFunc) {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done; e.Close() }
	t.Cleanup(stop)
	return e, stop
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const secret = "0123456789abcdef-secret"

func TestDeliverSignedFilteredAndIsolated(t *testing.T) {
	rcv := newReceiver(t, secret)
	other := newReceiver(t, secret)
	dir := t.TempDir()
	e, _ := start(t, Config{Dir: dir, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond})
	ctx := context.Background()
	w, err := e.Create(ctx, "acme", rcv.srv.URL+"/hook", secret, Filter{Severity: []string{"high", "critical"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create(ctx, "globex", other.srv.URL, secret, Filter{}); err != nil {
		t.Fatal(err)
	}
	for i, sev := range []string{"high", "low", "critical"} {
		if err := e.Handle(ctx, change(uint64(i+1), "acme", sev)); err != nil {
			t.Fatal(err)
		}
	}
	e.Handle(ctx, change(2, "acme", "high")) // a repeat of a handled position: skipped
	waitFor(t, "2 deliveries", 5*time.Second, func() bool { return rcv.count() == 2 })
	if rcv.bad.Load() != 0 || other.count() != 0 {
		t.Fatalf("bad signatures %d, other tenant's receiver got %d", rcv.bad.Load(), other.count())
	}
	ds, err := e.Deliveries("acme", w.ID, 0)
	if err != nil || len(ds) != 2 || ds[0].Status != StatusDelivered || ds[0].Seq != 3 || ds[1].Seq != 1 {
		t.Fatalf("deliveries %+v %v", ds, err)
	}
	if _, err := e.Deliveries("globex", w.ID, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant's deliveries: %v", err)
	}
	if err := e.Delete("globex", w.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant's delete: %v", err)
	}
	// The secret is not in the journal in clear, and the key file is 0600.
	j, _ := os.ReadFile(filepath.Join(dir, "webhooks.jsonl"))
	if strings.Contains(string(j), secret) {
		t.Fatal("the journal holds the secret in clear")
	}
	if st, _ := os.Stat(filepath.Join(dir, "secret.key")); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
}

// TestReceiverDownThenBack: a receiver down for a while (with a restart
// of the engine in between) gets every delivery once it is back.
func TestReceiverDownThenBack(t *testing.T) {
	rcv := newReceiver(t, secret)
	rcv.down.Store(true)
	dir := t.TempDir()
	cfg := Config{Dir: dir, BaseDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond, MaxAttempts: 1000}
	e, stop := start(t, cfg)
	ctx := context.Background()
	w, err := e.Create(ctx, "acme", rcv.srv.URL, secret, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if err := e.Handle(ctx, change(uint64(i), "acme", "high")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "failed attempts", 5*time.Second, func() bool {
		ds, _ := e.Deliveries("acme", w.ID, 0)
		return ds[0].Attempts >= 2 && ds[0].Status == StatusFailed && ds[0].LastError != "" && !ds[0].NextAttempt.IsZero()
	})
	stop() // the engine restarts while the receiver is down

	e2, _ := start(t, cfg)
	if c, ok := e2.Cursor(); !ok || c != 20 {
		t.Fatalf("cursor after restart %d %v", c, ok)
	}
	time.Sleep(100 * time.Millisecond)
	rcv.down.Store(false)
	// The receiver counts a delivery when it arrives; the engine records
	// it delivered when the answer is back: wait for both.
	waitFor(t, "every delivery after the receiver came back", 10*time.Second, func() bool {
		if rcv.count() != 20 {
			return false
		}
		ds, _ := e2.Deliveries("acme", w.ID, 0)
		for _, d := range ds {
			if d.Status != StatusDelivered {
				return false
			}
		}
		return len(ds) == 20
	})
	if rcv.count() != 20 {
		t.Fatalf("the receiver got %d deliveries, want 20 (no duplicates)", rcv.count())
	}
	if rcv.bad.Load() != 0 {
		t.Fatalf("%d bad signatures", rcv.bad.Load())
	}
}

func TestDeadLetter(t *testing.T) {
	rcv := newReceiver(t, secret)
	rcv.down.Store(true)
	e, _ := start(t, Config{Dir: t.TempDir(), BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxAttempts: 3})
	ctx := context.Background()
	w, _ := e.Create(ctx, "acme", rcv.srv.URL, secret, Filter{})
	e.Handle(ctx, change(1, "acme", "high"))
	waitFor(t, "dead letter", 5*time.Second, func() bool {
		ds, _ := e.Deliveries("acme", w.ID, 0)
		return ds[0].Status == StatusDead
	})
	ds, _ := e.Deliveries("acme", w.ID, 0)
	if ds[0].Attempts != 3 || !strings.Contains(ds[0].LastError, "503") || !ds[0].NextAttempt.IsZero() {
		t.Fatalf("dead delivery %+v", ds[0])
	}
	rcv.down.Store(false)
	time.Sleep(50 * time.Millisecond)
	if rcv.count() != 0 {
		t.Fatal("a dead delivery was attempted again")
	}
}

func TestDenyPrivate(t *testing.T) {
	rcv := newReceiver(t, secret)
	ctx := context.Background()
	e, _ := start(t, Config{Dir: t.TempDir(), DenyPrivate: true})
	for _, u := range []string{rcv.srv.URL, "http://10.1.2.3/x", "http://[::1]:8080/", "http://169.254.169.254/latest", "http://localhost:9/"} {
		if _, err := e.Create(ctx, "acme", u, secret, Filter{}); !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrPrivateURL) {
			t.Errorf("%s: %v, want ErrPrivateURL", u, err)
		}
	}
	// Also at connection time (DNS may change after registration).
	if err := denyPrivateControl("tcp", "127.0.0.1:80", nil); !errors.Is(err, ErrPrivateURL) {
		t.Fatal(err)
	}
	if err := denyPrivateControl("tcp", "93.184.216.34:443", nil); err != nil {
		t.Fatal(err)
	}
	// Allowed by default.
	e2, _ := start(t, Config{Dir: t.TempDir()})
	if _, err := e2.Create(ctx, "acme", rcv.srv.URL, secret, Filter{}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ url, secret string }{{"ftp://x/", secret}, {"http://u:p@x/", secret}, {"not a url", secret}, {rcv.srv.URL, "short"}} {
		if _, err := e2.Create(ctx, "acme", bad.url, bad.secret, Filter{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad.url, err)
		}
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	rcv := newReceiver(t, secret)
	redir := httptest.NewServer(http.RedirectHandler(rcv.srv.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redir.Close)
	e, _ := start(t, Config{Dir: t.TempDir(), BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxAttempts: 2})
	w, _ := e.Create(context.Background(), "acme", redir.URL, secret, Filter{})
	e.Handle(context.Background(), change(1, "acme", "high"))
	waitFor(t, "dead", 5*time.Second, func() bool { ds, _ := e.Deliveries("acme", w.ID, 0); return ds[0].Status == StatusDead })
	if rcv.count() != 0 {
		t.Fatal("redirect followed")
	}
}

func TestKeyFilePermissions(t *testing.T) {
	dir := t.TempDir()
	e, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	os.Chmod(filepath.Join(dir, "secret.key"), 0o644)
	if _, err := New(Config{Dir: dir}); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("world-readable key: %v", err)
	}
}

func TestSignMatchesDocumentedFormula(t *testing.T) {
	got := Sign([]byte("s3cr3t"), 1700000000, []byte(`{"a":1}`))
	// printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cr3t
	if got != "sha256=8dbbbbf4523b10bbb793e74d854144c45acccc2d233667b1c06b805b6ded8a84" {
		t.Fatalf("signature %q", got)
	}
	if err := Verify([]byte("s3cr3t"), "1700000000", got, []byte(`{"a":1}`), time.Unix(1700000100, 0), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := Verify([]byte("s3cr3t"), "1700000000", got, []byte(`{"a":1}`), time.Unix(1700001000, 0), 5*time.Minute); err == nil {
		t.Fatal("stale timestamp accepted")
	}
}

// TestBeginSetsTheStartOfANewJournal: a new journal has no cursor and is not
// started; Begin records its feed's starting position durably (a reopened
// journal is started at it), a webhook created then promises the changes
// after it only, and Begin on a journal with a cursor changes nothing.
func TestBeginSetsTheStartOfANewJournal(t *testing.T) {
	dir := t.TempDir()
	e, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Cursor(); ok {
		t.Fatal("a new journal has a cursor")
	}
	select {
	case <-e.Started():
		t.Fatal("a new journal is started before Begin")
	default:
	}
	if err := e.Begin(41); err != nil {
		t.Fatal(err)
	}
	<-e.Started()
	if err := e.Begin(7); err != nil { // already started: no change
		t.Fatal(err)
	}
	e.Close()
	if e, err = New(Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if c, ok := e.Cursor(); c != 41 || !ok {
		t.Fatalf("reopened after Begin: cursor %d %v, want 41 true", c, ok)
	}
	rcv := newReceiver(t, secret)
	w, err := e.Create(context.Background(), "acme", rcv.srv.URL, secret, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if w.CreatedSeq != 41 {
		t.Fatalf("CreatedSeq %d, want 41", w.CreatedSeq)
	}
	for _, c := range []Change{change(41, "acme", "high"), change(42, "acme", "high")} {
		if err := e.Handle(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if ds, _ := e.Deliveries("acme", w.ID, 0); len(ds) != 1 || ds[0].Seq != 42 {
		t.Fatalf("deliveries %+v, want the change at 42 only", ds)
	}
	e.Close()

	e2, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	select {
	case <-e2.Started():
	default:
		t.Fatal("a reopened journal with a cursor is not started")
	}
	if c, ok := e2.Cursor(); c != 42 || !ok {
		t.Fatalf("reopened cursor %d %v, want 42 true", c, ok)
	}
}

// TestJournalSurvivesAFailedWrite: a journal append cut short (a full disk;
// here a real short write past RLIMIT_FSIZE) fails its caller and leaves
// nothing behind: a webhook created once writes succeed again is still
// there when the journal is reopened. The part line was left, the next
// append continued it, and the loader dropped both records as one
// malformed line: that webhook, acknowledged, was lost.
func TestJournalSurvivesAFailedWrite(t *testing.T) {
	dir := t.TempDir()
	e, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rcv := newReceiver(t, secret)
	ctx := context.Background()
	if err := e.Begin(1); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "webhooks.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limit := syscall.Rlimit{Cur: uint64(fi.Size()) + 40, Max: old.Max} // room for part of a record
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	_, cerr := e.Create(ctx, "acme", rcv.srv.URL+"/lost", secret, Filter{})
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if cerr == nil {
		t.Fatal("a webhook whose journal record did not fit was created")
	}
	w, err := e.Create(ctx, "acme", rcv.srv.URL+"/kept", secret, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	e2, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	got := e2.List("acme")
	if len(got) != 1 || got[0].ID != w.ID {
		t.Fatalf("webhooks after reopening: %+v, want only %s, created after the failed write", got, w.ID)
	}
}

// TestOneEngineADirectory: a second engine on a directory another holds
// (a halo api started on halo up's data directory) fails with ErrInUse
// naming the holder's pid: two would each deliver every alert, and
// neither would see the webhooks the other registers. Closed, the
// directory is free.
func TestOneEngineADirectory(t *testing.T) {
	dir := t.TempDir()
	e, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Dir: dir})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), fmt.Sprintf("(pid %d)", os.Getpid())) {
		t.Fatalf("a second engine: %v", err)
	}
	e.Close()
	e2, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	e2.Close()
}
