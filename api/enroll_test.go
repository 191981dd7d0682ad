package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
)

// withCA points e at a second server over e's folds that has a CA.
func (e *env) withCA() *identity.CA {
	e.t.Helper()
	ca, err := identity.LoadOrCreateCA(e.t.TempDir())
	if err != nil {
		e.t.Fatal(err)
	}
	srv, err := New(Config{Store: e.store, Registry: e.reg, Alerts: e.alerts, Interventions: e.ivs, CA: ca, MaxBody: 16 << 10})
	if err != nil {
		e.t.Fatal(err)
	}
	e.http = httptest.NewServer(srv)
	e.t.Cleanup(e.http.Close)
	return ca
}

func makeCSR(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func enrollBody(t *testing.T, fields map[string]any) string {
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEnrollDevice(t *testing.T) {
	e := newEnv(t)
	// Without a CA: 503.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr := makeCSR(t, key)
	body := enrollBody(t, map[string]any{"device": "pos-9", "csr": csr, "model": "A920", "firmware": "2.0", "lifetime": "8760h"})
	if r := e.expect(503, "POST", "/v1/devices", e.acme, body); r.code != CodeUnavailable {
		t.Fatalf("no CA: %s", r.raw)
	}
	ca := e.withCA()

	r := e.expect(201, "POST", "/v1/devices", e.acme, body)
	if r.body["device"] != "pos-9" {
		t.Fatalf("enrolment: %s", r.raw)
	}
	blk, _ := pem.Decode([]byte(r.body["certificate"].(string)))
	if blk == nil {
		t.Fatalf("certificate is not PEM: %s", r.raw)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if r.body["ca"] != string(ca.CertPEM()) {
		t.Fatalf("ca: %v", r.body["ca"])
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the certificate does not chain to the CA: %v", err)
	}
	if !cert.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Fatal("the certificate is not for the CSR's key")
	}
	tenant, device, err := identity.DeviceIdentity(cert)
	if err != nil || tenant != "acme" || device != "pos-9" {
		t.Fatalf("identity %s/%s %v", tenant, device, err)
	}
	notAfter, _ := time.Parse(time.RFC3339, r.body["not_after"].(string))
	if d := time.Until(notAfter); d < 8759*time.Hour || d > 8761*time.Hour || !notAfter.Equal(cert.NotAfter) {
		t.Fatalf("not_after %v (certificate %v)", notAfter, cert.NotAfter)
	}
	// The device is the tenant's now, and only the tenant's.
	dev := e.expect(200, "GET", "/v1/devices/pos-9", e.acme, "").body
	if dev["model"] != "A920" || dev["firmware"] != "2.0" || dev["status"] != DeviceActive {
		t.Fatalf("device %v", dev)
	}
	e.expect(404, "GET", "/v1/devices/pos-9", e.globex, "")

	// An id already enrolled, in this tenant or another: 409 naming no tenant.
	for _, tok := range []string{e.acme, e.globex} {
		r := e.expect(409, "POST", "/v1/devices", tok, body)
		if r.code != CodeConflict || strings.Contains(r.msg, "acme") {
			t.Fatalf("taken id: %s", r.raw)
		}
	}
	r = e.expect(409, "POST", "/v1/devices", e.acme, enrollBody(t, map[string]any{"device": "gx-1", "csr": csr}))
	if strings.Contains(r.msg, "globex") {
		t.Fatalf("409 names the tenant: %s", r.raw)
	}

	// Viewers cannot enroll.
	e.expect(403, "POST", "/v1/devices", e.viewer, enrollBody(t, map[string]any{"device": "pos-10", "csr": csr}))

	// Bad requests name the problem.
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	certPEM := string(ca.CertPEM())
	tampered := strings.Replace(csr, csr[60:64], "AAAA", 1)
	for _, c := range []struct {
		body, want string
	}{
		{enrollBody(t, map[string]any{"device": "pos-10", "csr": makeCSR(t, small)}), "RSA key of 1024 bits"},
		{enrollBody(t, map[string]any{"device": "pos-10", "csr": makeCSR(t, p224)}), "P-224"},
		{enrollBody(t, map[string]any{"device": "pos-10", "csr": certPEM}), `PEM block "CERTIFICATE"`},
		{enrollBody(t, map[string]any{"device": "pos-10", "csr": "not a csr"}), "certificate request"},
		{enrollBody(t, map[string]any{"device": "pos-10", "csr": tampered}), "csr"},
		{enrollBody(t, map[string]any{"device": "pos-10"}), "csr is required"},
		{enrollBody(t, map[string]any{"csr": csr}), "device is required"},
		{enrollBody(t, map[string]any{"device": "bad/id", "csr": csr}), "device"},
		{enrollBody(t, map[string]any{"device": "pos-10", "csr": csr, "lifetime": "forever"}), "lifetime"},
		{enrollBody(t, map[string]any{"device": "pos-10", "csr": csr, "lifetime": "1m"}), "lifetime"},
		{enrollBody(t, map[string]any{"device": "pos-10", "csr": csr, "tenant": "globex"}), `unknown field "tenant"`},
		{`{"device":`, "malformed JSON"},
		{"", "body is required"},
	} {
		r := e.expect(400, "POST", "/v1/devices", e.acme, c.body)
		if !strings.Contains(r.msg, c.want) {
			t.Errorf("%.80s: message %q, want it to mention %q", c.body, r.msg, c.want)
		}
	}
	if _, ok := e.reg.Device("pos-10"); ok {
		t.Fatal("a refused enrolment enrolled the device")
	}
	// The body limit applies.
	e.expect(413, "POST", "/v1/devices", e.acme, enrollBody(t, map[string]any{"device": "pos-10", "csr": strings.Repeat("A", 20<<10)}))
	// Default lifetime: a year.
	r = e.expect(201, "POST", "/v1/devices", e.acme, enrollBody(t, map[string]any{"device": "pos-10", "csr": csr}))
	notAfter, _ = time.Parse(time.RFC3339, r.body["not_after"].(string))
	if d := time.Until(notAfter); d < identity.DefaultDeviceLifetime-time.Hour {
		t.Fatalf("default lifetime: not_after %v", notAfter)
	}
}

// TestOpenAPIDocumentsNewResponses checks the enrolment, timeline and
// rate-limit answers against the documented schemas.
func TestOpenAPIDocumentsNewResponses(t *testing.T) {
	e := newEnv(t)
	doc := loadOpenAPI(t, OpenAPI())
	check := func(schema string, obj map[string]any) {
		t.Helper()
		s, ok := doc.Components.Schemas[schema]
		if !ok {
			t.Fatalf("no schema %s", schema)
		}
		for k := range obj {
			if _, ok := s.Properties[k]; !ok {
				t.Errorf("%s field %q is not documented", schema, k)
			}
		}
		for _, k := range s.Required {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s lacks required field %q", schema, k)
			}
		}
	}
	e.raise(alertEvent("acme", "pos-1", "al-1", "replay-attack", events.Severity_SEVERITY_HIGH, time.Now().Add(-time.Minute)))
	tl := e.expect(200, "GET", "/v1/devices/pos-1/timeline", e.acme, "").body
	check("Timeline", tl)
	for _, ev := range tl["events"].([]any) {
		check("TimelineEvent", ev.(map[string]any))
	}
	for _, a := range tl["alerts"].([]any) {
		check("Alert", a.(map[string]any))
	}
	e.withCA()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check("Enrollment", e.expect(201, "POST", "/v1/devices", e.acme, enrollBody(t, map[string]any{"device": "pos-9", "csr": makeCSR(t, key)})).body)
	if len(doc.Paths["/v1/devices"]["post"]) == 0 || len(doc.Paths["/v1/devices/{id}/timeline"]["get"]) == 0 {
		t.Fatal("new routes undocumented")
	}
}
