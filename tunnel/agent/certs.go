package agent

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/halo-sec/halo/identity"
)

// keyPair is a loaded device certificate.
type keyPair struct {
	cert   tls.Certificate
	leaf   *x509.Certificate
	sum    [32]byte // of the certificate and key files' content, to notice changes
	tenant string   // from the certificate, for logs; empty if it names none
	device string
}

// loadKeyPair reads and checks the device's certificate and key.
func loadKeyPair(certFile, keyFile string, now time.Time) (*keyPair, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: reading certificate: %w", ErrCertificate, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: reading key: %w", ErrCertificate, err)
	}
	return parseKeyPair(certFile, keyFile, certPEM, keyPEM, now)
}

func parseKeyPair(certFile, keyFile string, certPEM, keyPEM []byte, now time.Time) (*keyPair, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, fmt.Errorf("%w: the key in %s does not match the certificate in %s (were they written by different enrolments?)",
				ErrCertificate, keyFile, certFile)
		}
		return nil, fmt.Errorf("%w: %s / %s: %w", ErrCertificate, certFile, keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCertificate, certFile, err)
		}
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: the certificate in %s expired at %s (%s ago); renew it with `halo devices renew`",
			ErrCertificate, certFile, leaf.NotAfter.UTC().Format(time.RFC3339), now.Sub(leaf.NotAfter).Round(time.Second))
	}
	if now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("%w: the certificate in %s is not valid until %s (is the device clock right? it says %s)",
			ErrCertificate, certFile, leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	kp := &keyPair{cert: cert, leaf: leaf}
	h.Sum(kp.sum[:0])
	kp.tenant, kp.device, _ = identity.DeviceIdentity(leaf)
	return kp, nil
}

// fileSum hashes the content of the certificate and key files, the same way
// parseKeyPair does, to notice a change cheaply.
func fileSum(certFile, keyFile string) ([32]byte, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return [32]byte{}, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var s [32]byte
	h.Sum(s[:0])
	return s, nil
}

// loadCA reads the CA certificates the edge must chain to; each must be a
// CA.
func loadCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: reading CA: %w", ErrCA, err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d in %s: %w", ErrCA, n+1, path, err)
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("%w: the certificate %q in %s is not a CA certificate (a device or edge certificate? use the ca.crt written at enrolment)",
				ErrCA, c.Subject.String(), path)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no PEM certificate in %s", ErrCA, path)
	}
	return pool, nil
}

// checkChain reports whether the device certificate chains to the CA. In a
// Halo installation one CA signs both the edge and the devices, so a
// mismatch usually means files from two installations.
func checkChain(kp *keyPair, pool *x509.CertPool) error {
	_, err := kp.leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	var cie x509.CertificateInvalidError
	if errors.As(err, &cie) && cie.Reason == x509.Expired {
		return nil // reported by parseKeyPair
	}
	return err
}
