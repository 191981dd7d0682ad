package agent_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/tunnel/agent"
)

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := agent.New(agent.Config{Listen: "0.0.0.0:3128", MaxConns: -1, BackoffMin: time.Minute, BackoffMax: time.Second}, nil)
	if !errors.Is(err, agent.ErrConfig) {
		t.Fatalf("want ErrConfig, got %v", err)
	}
	for _, want := range []string{"edge address is required", "certificate file is required", "key file is required", "CA file is required",
		`"0.0.0.0:3128" (0.0.0.0) is not loopback`, "AllowRemote", "max connections -1", "backoff min 1m0s is above backoff max 1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, listen := range []string{"127.0.0.1:3128", "[::1]:3128", "localhost:3128"} {
		cfg := agent.Config{Edge: "edge.example:8443", CertFile: "c", KeyFile: "k", CAFile: "a", Listen: listen}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", listen, err)
		}
	}
	cfg := agent.Config{Edge: "edge.example:8443", CertFile: "c", KeyFile: "k", CAFile: "a", Listen: ":3128"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "every interface") {
		t.Fatalf("an all-interfaces listen address: %v", err)
	}
	cfg.AllowRemote = true
	if err := cfg.Validate(); err != nil {
		t.Fatalf("AllowRemote: %v", err)
	}
}

func TestNewExplainsBadFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := identity.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	one, _ := ca.IssueDevice("acme", "POS-1", 0)
	two, _ := ca.IssueDevice("acme", "POS-2", 0)
	cert, key, caFile := write("one.crt", one.CertPEM), write("one.key", one.KeyPEM), write("ca.crt", ca.CertPEM())
	expiredCert, expiredKey := selfSigned(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))

	cases := []struct {
		name          string
		cert, key, ca string
		is            error
		want          string
	}{
		{"missing cert", filepath.Join(dir, "nope.crt"), key, caFile, agent.ErrCertificate, "nope.crt: no such file"},
		{"missing CA", cert, key, filepath.Join(dir, "nope-ca.crt"), agent.ErrCA, "nope-ca.crt: no such file"},
		{"key of another device", cert, write("two.key", two.KeyPEM), caFile, agent.ErrCertificate, "two.key does not match the certificate in"},
		{"expired", write("old.crt", expiredCert), write("old.key", expiredKey), caFile, agent.ErrCertificate, "expired at " + time.Now().Add(-24*time.Hour).UTC().Format("2006-01-02")},
		{"device certificate as CA", cert, key, cert, agent.ErrCA, "is not a CA certificate"},
		{"no PEM in CA", cert, key, key, agent.ErrCA, "no PEM certificate"},
	}
	for _, c := range cases {
		_, err := agent.New(agent.Config{Edge: "127.0.0.1:8443", CertFile: c.cert, KeyFile: c.key, CAFile: c.ca}, nil)
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %v containing %q", c.name, err, c.is, c.want)
		}
	}
	if _, err := agent.New(agent.Config{Edge: "127.0.0.1:8443", CertFile: cert, KeyFile: key, CAFile: caFile}, nil); err != nil {
		t.Fatalf("good files: %v", err)
	}
}

func selfSigned(t *testing.T, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "old"}, NotBefore: notBefore, NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}
