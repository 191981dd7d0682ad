package tunnel

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/policy"
)

// signWithCA issues a certificate for device from the data dir's CA key
// with any validity, to make expired certificates.
func signWithCA(t *testing.T, env *env, device string, notBefore, notAfter time.Time) deviceFiles {
	keyPEM, err := os.ReadFile(filepath.Join(env.dir, "pki", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(keyPEM)
	caKey, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: device},
		NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs: []*url0{identity.DeviceURI("acme", device)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, env.ca.Certificate(), &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	return env.writeFiles(device+"-custom", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

func TestWrongCertificatesAreRefusedWithAReason(t *testing.T) {
	env := newEnv(t, nil)
	pay := newPayServer(t, false)
	target := "http://pay.example:" + pay.port() + "/"

	// Unknown CA: a device certificate from another installation.
	other := newEnv(t, nil)
	foreign := other.files
	foreign.ca = env.files.ca
	// Expired, signed by the right CA.
	expired := signWithCA(t, env, "POS-1", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	// Right CA, never enrolled.
	stray := signWithCA(t, env, "POS-404", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	// No certificate at all.
	none := deviceFiles{ca: env.files.ca}
	cases := []struct {
		name   string
		files  deviceFiles
		reason events.AuthFailReason
	}{
		{"unknown ca", foreign, events.AuthFailReason_AUTH_FAIL_REASON_UNKNOWN_CA},
		{"expired", expired, events.AuthFailReason_AUTH_FAIL_REASON_EXPIRED},
		{"not enrolled", stray, events.AuthFailReason_AUTH_FAIL_REASON_UNKNOWN_DEVICE},
		{"no certificate", none, events.AuthFailReason_AUTH_FAIL_REASON_NO_CERT},
	}
	for i, c := range cases {
		out, code, _ := env.curl(c.files, target)
		if code == 200 {
			t.Fatalf("%s: let through: %s", c.name, out)
		}
		evs := env.waitEvents(i+1, events.TypeAuthFailed)
		got := evs[i].Payload.(*events.AuthFailed)
		if got.Reason != c.reason || got.RemoteAddr == "" {
			t.Fatalf("%s: auth.failed %v, want reason %v", c.name, got, c.reason)
		}
		if c.reason == events.AuthFailReason_AUTH_FAIL_REASON_UNKNOWN_CA && (evs[i].Tenant != "" || evs[i].Device != "") {
			t.Fatalf("%s: trusted the names of a foreign certificate: %s/%s", c.name, evs[i].Tenant, evs[i].Device)
		}
	}
	if pay.count() != 0 {
		t.Fatal("a refused device reached the destination")
	}
	// The good device still works.
	if _, code, err := env.curl(env.files, target); err != nil || code != 200 {
		t.Fatalf("good device: %v %d", err, code)
	}
}

func TestRevocationRefusesAndCutsOpenConnections(t *testing.T) {
	env := newEnv(t, nil)
	echo := newEchoServer(t)
	c := env.connect(t, env.files, echo)
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	reg := identity.NewRegistry()
	for ev, err := range env.store.Read(context.Background(), events.Query{Types: identity.IdentityTypes}) {
		if err != nil {
			t.Fatal(err)
		}
		reg.Apply(&ev)
	}
	start := time.Now()
	if err := identity.Revoke(context.Background(), env.store, reg, "POS-1", "stolen", "test"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("the revoked device's stream is still open")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("revocation took %v to cut the stream, want under 1s", d)
	}
	closed := env.waitEvents(1, events.TypeConnClosed)
	if r := closed[0].Payload.(*events.ConnClosed).Reason; r != events.CloseReason_CLOSE_REASON_REVOKED {
		t.Fatalf("cut stream closed with %v", r)
	}
	out, code, _ := env.curl(env.files, "http://pay.example:1/")
	if code == 200 {
		t.Fatalf("revoked device let through: %s", out)
	}
	af := env.waitEvents(1, events.TypeAuthFailed)
	if p := af[len(af)-1].Payload.(*events.AuthFailed); p.Reason != events.AuthFailReason_AUTH_FAIL_REASON_REVOKED || af[len(af)-1].Device != "POS-1" {
		t.Fatalf("auth.failed %v for %s", p, af[len(af)-1].Device)
	}
}

func TestReplayShield(t *testing.T) {
	env := newEnv(t, nil)
	pay := newPayServer(t, false)
	second := env.enroll("POS-2")
	target := "http://pay.example:" + pay.port() + "/v1/charge"
	charge := func(f deviceFiles, body string) (string, int) {
		out, code, err := env.curl(f, "-H", "Content-Type: application/json", "-d", body, target)
		if err != nil && code == 0 {
			t.Fatalf("curl: %v %s", err, out)
		}
		return out, code
	}
	body := `{"merchant":"M-1","terminal":"T-1","amount":"10.00","nonce":"abc","ts":"2026-11-27T10:00:00Z"}`
	if out, code := charge(env.files, body); code != 200 {
		t.Fatalf("first charge: %d %s", code, out)
	}
	// The same bytes again, and the same JSON with keys reordered and
	// spaces, from the same and from another device: refused in-line.
	reordered := `{ "ts":"2026-11-27T10:00:00Z", "nonce":"abc", "amount":"10.00", "terminal":"T-1", "merchant":"M-1" }`
	for _, tc := range []struct {
		f    deviceFiles
		body string
	}{{env.files, body}, {env.files, reordered}, {second, body}} {
		out, code := charge(tc.f, tc.body)
		if code != 403 || decodeJSON(t, out)["error"] != "replay_refused" || decodeJSON(t, out)["first_seen"] == nil {
			t.Fatalf("replay: %d %s", code, out)
		}
	}
	if pay.count() != 1 {
		t.Fatalf("the payment server was charged %d times", pay.count())
	}
	// A legitimate new payment (fresh nonce) passes.
	if out, code := charge(env.files, strings.Replace(body, "abc", "abd", 1)); code != 200 {
		t.Fatalf("new charge: %d %s", code, out)
	}
	txs := env.waitEvents(5, events.TypeTxObserved)
	refused := 0
	for _, ev := range txs {
		if p := ev.Payload.(*events.TxObserved); p.Outcome == events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY {
			refused++
			if p.Status != 403 || string(p.StrictFp) != string(txs[0].Payload.(*events.TxObserved).StrictFp) {
				t.Fatalf("refused tx %v", p)
			}
		}
	}
	if refused != 3 {
		t.Fatalf("%d refused-replay events, want 3", refused)
	}
	// After a restart the edge still remembers, from the log.
	env.stop()
	env.start()
	if out, code := charge(second, body); code != 403 {
		t.Fatalf("replay after restart: %d %s", code, out)
	}
	if pay.count() != 2 {
		t.Fatalf("charged %d times, want 2", pay.count())
	}
	// A failed payment may be retried.
	fail := newFailServer(t)
	ft := "http://pay.example:" + fail.port() + "/v1/charge"
	for i := 0; i < 2; i++ {
		out, code, _ := env.curl(env.files, "-d", `{"amount":"5","nonce":"retry"}`, ft)
		if code != 503 {
			t.Fatalf("retry %d after a 503: %d %s", i, code, out)
		}
	}
	// A tenant that turns the shield off is not shielded.
	pols := policy.NewSet()
	if _, err := policy.Record(context.Background(), env.store, pols, "acme", []byte("replay_shield: {enabled: false}\n"), "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !env.pols.For("acme").ShieldApplies("POST") })
	if out, code := charge(second, body); code != 200 {
		t.Fatalf("shield off: %d %s", code, out)
	}
}

// newFailServer is a payment server that answers every request 503. Its
// handler is set before it starts (changing a running server's handler is a
// data race).
func newFailServer(t *testing.T) *payServer {
	p := &payServer{Server: httptest.NewServer(httpHandlerFunc(func(w responseWriter, r *request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(503)
	}))}
	t.Cleanup(p.Close)
	return p
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestQuarantineCutsStreamsAndKeepsTheAllowList(t *testing.T) {
	env := newEnv(t, nil)
	echo := newEchoServer(t)
	updates := newPayServer(t, false)
	pols := policy.NewSet()
	if _, err := policy.Record(context.Background(), env.store, pols, "acme", []byte("quarantine: {allow: [updates.example]}\n"), "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(env.pols.For("acme").Quarantine.Allow) == 1 })
	// A long-lived stream, exchanging data every 50 ms.
	c := env.connect(t, env.files, echo)
	stop := make(chan struct{})
	cut := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 4)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Write([]byte("beat")); err != nil {
				cut <- time.Now()
				return
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				cut <- time.Now()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	defer close(stop)
	time.Sleep(200 * time.Millisecond)
	applied := time.Now()
	if _, err := intervention.Apply(context.Background(), env.store, intervention.Request{
		Kind: events.InterventionKind_INTERVENTION_KIND_QUARANTINE, Tenant: "acme", Device: "POS-1", Reason: "scan", Actor: "test", TTL: time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-cut:
		if d := at.Sub(applied); d > time.Second {
			t.Fatalf("stream cut %v after the quarantine, want under 1s", d)
		}
		t.Logf("stream cut %v after the quarantine was recorded", at.Sub(applied))
	case <-time.After(3 * time.Second):
		t.Fatal("the quarantined device's stream was not cut")
	}
	// The allow-list stays reachable; everything else is refused with the
	// intervention's id.
	if out, code, err := env.curl(env.files, "http://updates.example:"+updates.port()+"/app.apk"); err != nil || code != 200 {
		t.Fatalf("allow-listed update server: %v %d %s", err, code, out)
	}
	out, code, _ := env.curl(env.files, "http://pay.example:"+updates.port()+"/")
	if m := decodeJSON(t, out); code != 403 || m["error"] != "blocked" || !strings.HasPrefix(m["intervention_id"].(string), "iv-") {
		t.Fatalf("quarantined device reached a non-allowed host: %d %s", code, out)
	}
	// Another device of the tenant is unaffected.
	other := env.enroll("POS-2")
	if _, code, err := env.curl(other, "http://pay.example:"+updates.port()+"/"); err != nil || code != 200 {
		t.Fatalf("other device: %v %d", err, code)
	}
	if b := env.waitEvents(1, events.TypeConnBlocked); b[0].Device != "POS-1" {
		t.Fatalf("conn.blocked for %s", b[0].Device)
	}
	// Released: reachable again.
	set, _ := intervention.Load(context.Background(), env.store)
	if n, err := intervention.Release(context.Background(), env.store, set, "acme", "POS-1", "ok", "test"); err != nil || n != 1 {
		t.Fatalf("release: %d %v", n, err)
	}
	waitFor(t, func() bool { _, q := env.ivs.Quarantine("acme", "POS-1", time.Now()); return !q })
	if _, code, err := env.curl(env.files, "http://pay.example:"+updates.port()+"/"); err != nil || code != 200 {
		t.Fatalf("after release: %v %d", err, code)
	}
}

func TestBlockRules(t *testing.T) {
	env := newEnv(t, nil)
	pay := newPayServer(t, false)
	tls := newPayServer(t, true)
	ctx := context.Background()
	block := func(m *events.Match, device string) string {
		id, err := intervention.Apply(ctx, env.store, intervention.Request{Kind: events.InterventionKind_INTERVENTION_KIND_BLOCK, Tenant: "acme", Device: device, Match: m, Reason: "test rule", Actor: "test"})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { _, ok := env.ivs.Get(id, time.Now()); return ok })
		return id
	}
	hostBlock := block(&events.Match{HostGlob: "*.evil.example"}, "")
	env.edge.cfg.StaticHosts["c2.evil.example"] = env.edge.cfg.StaticHosts["pay.example"]
	out, code, _ := env.curl(env.files, "-k", "https://c2.evil.example:"+tls.port()+"/")
	if code == 200 {
		t.Fatalf("CONNECT to a blocked host: %s", out)
	}
	out, code, _ = env.curl(env.files, "http://c2.evil.example:"+pay.port()+"/")
	if m := decodeJSON(t, out); code != 403 || m["intervention_id"] != hostBlock || !strings.Contains(m["message"].(string), "test rule") {
		t.Fatalf("HTTP to a blocked host: %d %s", code, out)
	}
	portBlock := block(&events.Match{Cidr: "127.0.0.0/8", Port: uint32(mustAtoi(pay.port()))}, "POS-1")
	out, code, _ = env.curl(env.files, "http://pay.example:"+pay.port()+"/")
	if m := decodeJSON(t, out); code != 403 || m["intervention_id"] != portBlock {
		t.Fatalf("CIDR+port block: %d %s", code, out)
	}
	if _, code, _ := env.curl(env.files, "-k", "https://pay.example:"+tls.port()+"/"); code != 200 {
		t.Fatalf("other port blocked: %d", code)
	}
	blocked := env.waitEvents(3, events.TypeConnBlocked)
	if p := blocked[0].Payload.(*events.ConnBlocked); p.InterventionId != hostBlock || p.DstHost != "c2.evil.example" {
		t.Fatalf("conn.blocked %v", p)
	}
	if pay.count() != 0 {
		t.Fatal("a blocked request reached its destination")
	}
}
