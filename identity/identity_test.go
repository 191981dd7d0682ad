package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

func openStore(t *testing.T, dir string) *natsstore.Store {
	t.Helper()
	s, err := natsstore.Open(context.Background(), natsstore.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "pki", "ca.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key mode %v, %v", fi.Mode().Perm(), err)
	}
	again, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Certificate().Equal(ca.Certificate()) {
		t.Fatal("reloading created a different CA")
	}
	iss, err := ca.IssueDevice("acme", "POS-0001", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("device certificate does not verify: %v", err)
	}
	if k, ok := iss.Cert.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("device key %T, want ECDSA P-256", iss.Cert.PublicKey)
	}
	if d := time.Until(iss.Cert.NotAfter); d > time.Hour || d < 50*time.Minute {
		t.Fatalf("lifetime %v, want about 1h", d)
	}
	ten, dev, err := DeviceIdentity(iss.Cert)
	if err != nil || ten != "acme" || dev != "POS-0001" {
		t.Fatalf("identity %q %q %v", ten, dev, err)
	}
	if _, err := ca.IssueDevice("acme", "bad id", time.Hour); !errors.Is(err, events.ErrInvalidDevice) {
		t.Fatalf("bad device id: %v", err)
	}
	// IPv6 device ids survive the URI.
	iss6, err := ca.IssueDevice("acme", "fe80::1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, dev, err := DeviceIdentity(iss6.Cert); err != nil || dev != "fe80::1" {
		t.Fatalf("ipv6 identity %q %v", dev, err)
	}
	// A foreign certificate carries no identity.
	foreign := selfSigned(t)
	if _, _, err := DeviceIdentity(foreign); !errors.Is(err, ErrBadIdentity) {
		t.Fatalf("foreign cert: %v", err)
	}
}

func selfSigned(t *testing.T) *x509.Certificate {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: randomSerial(), Subject: pkix.Name{CommonName: "x"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func csrPEM(t *testing.T, key any) []byte {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestSignCSR(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss, err := ca.SignCSR(csrPEM(t, k), "acme", "POS-7", 0)
	if err != nil {
		t.Fatal(err)
	}
	if iss.KeyPEM != nil || iss.Cert.Subject.CommonName != "POS-7" || !iss.Cert.PublicKey.(*ecdsa.PublicKey).Equal(&k.PublicKey) {
		t.Fatal("CSR certificate does not carry the device's key and name")
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	bad := map[string][]byte{
		"garbage":   []byte("hello"),
		"wrong pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}}),
		"weak rsa":  csrPEM(t, weak),
	}
	tampered := csrPEM(t, k)
	blk, _ := pem.Decode(tampered)
	blk.Bytes[len(blk.Bytes)-3] ^= 0xff
	bad["bad signature"] = pem.EncodeToMemory(blk)
	for name, b := range bad {
		if _, err := ca.SignCSR(b, "acme", "POS-7", 0); !errors.Is(err, ErrBadCSR) {
			t.Errorf("%s: %v, want ErrBadCSR", name, err)
		}
	}
}

func TestEdgeCertificate(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c1, err := ca.EdgeCertificate([]string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
		t.Fatal(err)
	}
	c2, _ := ca.EdgeCertificate([]string{"localhost", "127.0.0.1"})
	if !c2.Leaf.Equal(c1.Leaf) {
		t.Fatal("same hosts re-issued the edge certificate")
	}
	c3, _ := ca.EdgeCertificate([]string{"edge.example.com"})
	if c3.Leaf.Equal(c1.Leaf) || c3.Leaf.VerifyHostname("edge.example.com") != nil {
		t.Fatal("new hosts did not re-issue the edge certificate")
	}
}

func TestLifecycleThroughTheLog(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	store := openStore(t, dir)
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	token, err := CreateTenant(ctx, store, reg, dir, "acme", "Acme", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateTenant(ctx, store, reg, dir, "acme", "", "test"); !errors.Is(err, ErrTenantExists) {
		t.Fatalf("second create: %v", err)
	}
	tok, err := reg.Authenticate(token)
	if err != nil || tok.Tenant != "acme" || tok.Role != events.Role_ROLE_OPERATOR {
		t.Fatalf("Authenticate: %+v %v", tok, err)
	}
	flipped := "A" // the last character changed: never the token itself
	if strings.HasSuffix(token, "A") {
		flipped = "B"
	}
	for _, bad := range []string{"", "halo_", token + "x", strings.Replace(token, "_", "-", 1), token[:len(token)-1] + flipped} {
		if _, err := reg.Authenticate(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("Authenticate(%q): %v", bad, err)
		} else if strings.Contains(err.Error(), token) {
			t.Error("error leaks the token")
		}
	}
	viewer, err := AddToken(ctx, store, reg, "acme", events.Role_ROLE_VIEWER, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddToken(ctx, store, reg, "globex", events.Role_ROLE_VIEWER, "test"); !errors.Is(err, ErrUnknownTenant) {
		t.Fatalf("token for unknown tenant: %v", err)
	}
	iss, err := Enroll(ctx, store, reg, ca, EnrollRequest{Tenant: "acme", Device: "POS-1", Model: "P2", Firmware: "1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Enroll(ctx, store, reg, ca, EnrollRequest{Tenant: "acme", Device: "POS-1"}); !errors.Is(err, ErrDeviceExists) {
		t.Fatalf("double enrol: %v", err)
	}
	if _, err := Enroll(ctx, store, reg, ca, EnrollRequest{Tenant: "globex", Device: "POS-2"}); !errors.Is(err, ErrUnknownTenant) {
		t.Fatalf("enrol for unknown tenant: %v", err)
	}
	if d, err := reg.CheckCert(iss.Cert); err != nil || d.Model != "P2" || d.Cohort() != "acme/P2/1.0" {
		t.Fatalf("CheckCert: %+v %v", d, err)
	}
	renewed, err := Enroll(ctx, store, reg, ca, EnrollRequest{Device: "POS-1", Renew: true, Firmware: "1.1"})
	if err != nil {
		t.Fatal(err)
	}
	// A certificate for the right name that Halo did not record is refused.
	stray, _ := ca.IssueDevice("acme", "POS-1", time.Hour)
	if _, err := reg.CheckCert(stray.Cert); !errors.Is(err, ErrUnknownCert) {
		t.Fatalf("unrecorded cert: %v", err)
	}

	// Another process folding the log sees the same, and follows live.
	store.Close()
	store2 := openStore(t, dir)
	reg2, err := Load(ctx, store2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg2.Authenticate(viewer); err != nil {
		t.Fatalf("viewer token after reload: %v", err)
	}
	if d, err := reg2.CheckCert(renewed.Cert); err != nil || d.Firmware != "1.1" {
		t.Fatalf("renewed cert after reload: %+v %v", d, err)
	}
	if _, err := reg2.CheckCert(iss.Cert); err != nil {
		t.Fatalf("first cert still valid after renew: %v", err)
	}
	var mu sync.Mutex
	var revokedDev string
	revoked := make(chan struct{})
	reg2.OnRevoke(func(device string, _ [32]byte) {
		mu.Lock()
		revokedDev = device
		mu.Unlock()
		close(revoked)
	})
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go reg2.Follow(fctx, store2)
	reg3, _ := Load(ctx, store2)
	if err := Revoke(ctx, store2, reg3, "POS-1", "stolen", "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-revoked:
	case <-time.After(5 * time.Second):
		t.Fatal("the following registry did not see the revocation")
	}
	mu.Lock()
	if revokedDev != "POS-1" {
		t.Fatalf("revoked %q", revokedDev)
	}
	mu.Unlock()
	for _, c := range []*x509.Certificate{iss.Cert, renewed.Cert} {
		if _, err := reg2.CheckCert(c); !errors.Is(err, ErrRevoked) {
			t.Fatalf("revoked cert: %v", err)
		}
	}
	if err := Revoke(ctx, store2, reg3, "POS-404", "", "test"); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func TestTenantSecret(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	errs := make([]error, 8)
	for i := range keys {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			keys[i], errs[i] = TenantSecret(dir, "acme")
		}(i)
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || len(keys[i]) != 32 || string(keys[i]) != string(keys[0]) {
			t.Fatalf("racing creators got different keys or errors: %v", errs[i])
		}
	}
	p := filepath.Join(dir, "secrets", "tenants", "acme.key")
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode().Perm())
	}
	if other, _ := TenantSecret(dir, "globex"); string(other) == string(keys[0]) {
		t.Fatal("two tenants share a key")
	}
	if _, err := TenantSecret(dir, "../etc"); !errors.Is(err, events.ErrInvalidTenant) {
		t.Fatalf("path traversal tenant: %v", err)
	}
}

// Device answers false before any device is enrolled (without the lock),
// and finds the first device enrolled, and only it, at once after.
func TestDeviceBeforeAndAfterFirstEnrolment(t *testing.T) {
	r := NewRegistry()
	if _, ok := r.Device("pos-1"); ok {
		t.Fatal("a device found in an empty registry")
	}
	en := events.New("acme", "pos-1", &events.DeviceEnrolled{Model: "m7", Firmware: "2.1"})
	r.Apply(&en)
	d, ok := r.Device("pos-1")
	if !ok || d.Cohort() != "acme/m7/2.1" {
		t.Fatalf("enrolled device: %+v, %v", d, ok)
	}
	if _, ok := r.Device("pos-2"); ok {
		t.Fatal("a device never enrolled found")
	}
}
