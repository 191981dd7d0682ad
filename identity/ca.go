package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/fsutil"
)

// Files under DATA/pki.
const (
	pkiDir      = "pki"
	caCertFile  = "ca.crt"
	caKeyFile   = "ca.key"
	edgeCert    = "edge.crt"
	edgeKey     = "edge.key"
	caLifetime  = 10 * 365 * 24 * time.Hour
	edgeLife    = 90 * 24 * time.Hour
	idScheme    = "spiffe"
	idTrustHost = "halo"
)

// DefaultDeviceLifetime is how long a device certificate is valid unless
// the enrolment asks otherwise.
const DefaultDeviceLifetime = 365 * 24 * time.Hour

// CA is Halo's certificate authority for one installation.
type CA struct {
	dir  string
	cert *x509.Certificate
	pem  []byte
	key  *ecdsa.PrivateKey
}

// LoadOrCreateCA loads the CA of dataDir, creating it on first use. Creation
// is serialised with a lock file so two commands racing on a fresh directory
// end up with one CA.
func LoadOrCreateCA(dataDir string) (*CA, error) {
	dir := filepath.Join(dataDir, pkiDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	ca := &CA{dir: dir}
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if errors.Is(err, os.ErrNotExist) {
		return ca, ca.create()
	}
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificate: %w", err)
	}
	keyPath := filepath.Join(dir, caKeyFile)
	if err := fsutil.CheckPrivate(keyPath); err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("reading the CA key: %w", err)
	}
	ca.cert, err = parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s: %w", filepath.Join(dir, caCertFile), err)
	}
	ca.pem = certPEM
	k, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key %s: %w", keyPath, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("CA key %s is not ECDSA", keyPath)
	}
	ca.key = ek
	return ca, nil
}

func (ca *CA) create() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Halo CA", Organization: []string{"Halo"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("creating the CA certificate: %w", err)
	}
	ca.cert, _ = x509.ParseCertificate(der)
	ca.key = key
	ca.pem = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM, err := marshalKeyPEM(key)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(ca.dir, caKeyFile), keyPEM, 0o600); err != nil {
		return fmt.Errorf("writing the CA key: %w", err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(ca.dir, caCertFile), ca.pem, 0o644); err != nil {
		return fmt.Errorf("writing the CA certificate: %w", err)
	}
	return nil
}

// CertPEM returns the CA certificate, PEM-encoded (what devices trust).
func (ca *CA) CertPEM() []byte { return slices.Clone(ca.pem) }

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Pool returns a pool holding the CA certificate, for verifying devices.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// DeviceURI returns the identity a device certificate carries.
func DeviceURI(tenant, device string) *url.URL {
	return &url.URL{Scheme: idScheme, Host: idTrustHost, Path: "/tenant/" + tenant + "/device/" + device}
}

// Issued is a certificate Halo issued to a device.
type Issued struct {
	Cert    *x509.Certificate
	CertPEM []byte
	// KeyPEM is the private key when Halo generated it; nil for a CSR.
	KeyPEM []byte
	// SHA256 is the SHA-256 of the certificate's DER encoding: the value
	// device.enrolled records and the edge checks.
	SHA256 [32]byte
}

// IssueDevice generates an ECDSA P-256 key pair for the device and a client
// certificate for it, valid for lifetime (DefaultDeviceLifetime when 0).
func (ca *CA) IssueDevice(tenant, device string, lifetime time.Duration) (*Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	iss, err := ca.sign(tenant, device, &key.PublicKey, lifetime)
	if err != nil {
		return nil, err
	}
	iss.KeyPEM, err = marshalKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return iss, nil
}

// SignCSR signs a device's certificate request (PEM or DER): the key never
// leaves the device. The request's subject and extensions are ignored; the
// certificate names tenant and device. ECDSA P-256/P-384, Ed25519 and RSA
// (2048 bits or more) keys are accepted.
func (ca *CA) SignCSR(csrBytes []byte, tenant, device string, lifetime time.Duration) (*Issued, error) {
	der := csrBytes
	if b, _ := pem.Decode(csrBytes); b != nil {
		if b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("%w: PEM block %q, want CERTIFICATE REQUEST", ErrBadCSR, b.Type)
		}
		der = b.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrBadCSR, err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("%w: ECDSA curve %s (use P-256 or P-384)", ErrBadCSR, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA key of %d bits (use 2048 or more)", ErrBadCSR, k.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("%w: key type %T", ErrBadCSR, csr.PublicKey)
	}
	return ca.sign(tenant, device, csr.PublicKey, lifetime)
}

func (ca *CA) sign(tenant, device string, pub crypto.PublicKey, lifetime time.Duration) (*Issued, error) {
	if err := events.ValidateTenant(tenant); err != nil {
		return nil, err
	}
	if err := events.ValidateDevice(device); err != nil {
		return nil, err
	}
	if lifetime == 0 {
		lifetime = DefaultDeviceLifetime
	}
	if lifetime < time.Minute {
		return nil, fmt.Errorf("certificate lifetime %v is too short", lifetime)
	}
	now := time.Now()
	notAfter := now.Add(lifetime)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: device, Organization: []string{tenant}, OrganizationalUnit: []string{"halo-device"}},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{DeviceURI(tenant, device)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("signing the certificate of %s: %w", device, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Issued{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), SHA256: sha256.Sum256(der)}, nil
}

// DeviceIdentity returns the tenant and device a certificate names.
func DeviceIdentity(cert *x509.Certificate) (tenant, device string, err error) {
	for _, u := range cert.URIs {
		if u.Scheme != idScheme || u.Host != idTrustHost {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if len(parts) != 4 || parts[0] != "tenant" || parts[2] != "device" {
			continue
		}
		if events.ValidateTenant(parts[1]) != nil || events.ValidateDevice(parts[3]) != nil {
			continue
		}
		return parts[1], parts[3], nil
	}
	return "", "", fmt.Errorf("%w (subject %q)", ErrBadIdentity, cert.Subject.String())
}

// EdgeCertificate returns the edge's server certificate for hosts (DNS
// names or IP addresses), signed by the CA. It is kept under DATA/pki and
// re-issued when the hosts change or it has less than a third of its
// lifetime left.
func (ca *CA) EdgeCertificate(hosts []string) (tls.Certificate, error) {
	hosts = normHosts(hosts)
	certPath, keyPath := filepath.Join(ca.dir, edgeCert), filepath.Join(ca.dir, edgeKey)
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && c.Leaf != nil {
		if slices.Equal(normHosts(certHosts(c.Leaf)), hosts) && time.Until(c.Leaf.NotAfter) > edgeLife/3 && c.Leaf.CheckSignatureFrom(ca.cert) == nil {
			return c, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "halo edge", Organization: []string{"Halo"}},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(edgeLife),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("signing the edge certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM, err := marshalKeyPEM(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := fsutil.WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := fsutil.WriteFileAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func certHosts(c *x509.Certificate) []string {
	out := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

func normHosts(h []string) []string {
	out := make([]string, 0, len(h))
	for _, x := range h {
		x = strings.ToLower(strings.TrimSpace(x))
		if ip := net.ParseIP(x); ip != nil {
			x = ip.String()
		}
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

func marshalKeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(blk.Bytes)
}

func parseKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("key type %T", k)
		}
		return s, nil
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("unsupported private key encoding")
}
