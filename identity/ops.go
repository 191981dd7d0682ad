package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/fsutil"
)

const tokenPrefix = "halo_"

// NewToken returns a fresh API token for tenant and the event that records
// it (which holds only its hash). Tokens look like halo_<id>_<secret>: the id
// is public (it names the token in logs and lists), the secret is 256 random
// bits.
func NewToken(tenant string, role events.Role, actor string) (string, events.Event) {
	var id [6]byte
	var secret [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		panic(err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		panic(err)
	}
	tokID := hex.EncodeToString(id[:])
	token := tokenPrefix + tokID + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	sum := sha256.Sum256([]byte(token))
	return token, events.New(tenant, "", &events.TokenAdded{TokenId: tokID, Role: role, TokenHash: sum[:], Actor: actor})
}

func tokenID(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 12 || len(secret) < 40 {
		return "", false
	}
	return id, true
}

// CreateTenant records a new tenant with an operator token, creates its
// fingerprint secret, and returns the token (the only time it is shown).
func CreateTenant(ctx context.Context, store events.Store, reg *Registry, dataDir, name, displayName, actor string) (string, error) {
	if err := events.ValidateTenant(name); err != nil {
		return "", err
	}
	if _, ok := reg.Tenant(name); ok {
		return "", fmt.Errorf("%w: %s", ErrTenantExists, name)
	}
	if dataDir != "" {
		if _, err := TenantSecret(dataDir, name); err != nil {
			return "", err
		}
	}
	created := events.New(name, "", &events.TenantCreated{DisplayName: displayName, Actor: actor})
	// Derived id: two racing creations of one name record one tenant.
	created.ID = events.DerivedID("tenant.created", name)
	token, added := NewToken(name, events.Role_ROLE_OPERATOR, actor)
	if err := store.Append(ctx, created, added); err != nil {
		return "", fmt.Errorf("recording tenant %s: %w", name, err)
	}
	reg.Apply(&created)
	reg.Apply(&added)
	return token, nil
}

// EnsureTenant records tenant name, without any API token, unless it
// exists (an import names the tenant its history belongs to; tokens are
// added with AddToken). It reports whether it created the tenant.
func EnsureTenant(ctx context.Context, store events.Store, reg *Registry, dataDir, name, actor string) (bool, error) {
	if err := events.ValidateTenant(name); err != nil {
		return false, err
	}
	if _, ok := reg.Tenant(name); ok {
		return false, nil
	}
	if dataDir != "" {
		if _, err := TenantSecret(dataDir, name); err != nil {
			return false, err
		}
	}
	created := events.New(name, "", &events.TenantCreated{DisplayName: name, Actor: actor})
	created.ID = events.DerivedID("tenant.created", name)
	if err := store.Append(ctx, created); err != nil {
		return false, fmt.Errorf("recording tenant %s: %w", name, err)
	}
	reg.Apply(&created)
	return true, nil
}

// AddToken records a new token of role for an existing tenant.
func AddToken(ctx context.Context, store events.Store, reg *Registry, tenant string, role events.Role, actor string) (string, error) {
	if _, ok := reg.Tenant(tenant); !ok {
		return "", fmt.Errorf("%w: %s", ErrUnknownTenant, tenant)
	}
	if role != events.Role_ROLE_OPERATOR && role != events.Role_ROLE_VIEWER {
		return "", fmt.Errorf("role %v: use operator or viewer", role)
	}
	token, ev := NewToken(tenant, role, actor)
	if err := store.Append(ctx, ev); err != nil {
		return "", fmt.Errorf("recording a token for %s: %w", tenant, err)
	}
	reg.Apply(&ev)
	return token, nil
}

// EnrollRequest asks for a device certificate.
type EnrollRequest struct {
	Tenant   string
	Device   string
	Model    string
	Firmware string
	// Lifetime of the certificate; DefaultDeviceLifetime when 0.
	Lifetime time.Duration
	// CSR, when set, is signed instead of generating a key (PEM or DER).
	CSR []byte
	// Renew re-issues for an enrolled device (its older certificates stay
	// valid until they expire or are revoked); without it, enrolling a
	// known device is an error.
	Renew bool
	Actor string
}

// Enroll issues a device certificate and records device.enrolled.
func Enroll(ctx context.Context, store events.Store, reg *Registry, ca *CA, req EnrollRequest) (*Issued, error) {
	if err := events.ValidateDevice(req.Device); err != nil {
		return nil, err
	}
	d, known := reg.Device(req.Device)
	if req.Renew {
		if !known {
			return nil, fmt.Errorf("%w: %s (enroll it first)", ErrUnknownDevice, req.Device)
		}
		if req.Tenant != "" && req.Tenant != d.Tenant {
			return nil, fmt.Errorf("%w: %s belongs to tenant %s", ErrDeviceExists, req.Device, d.Tenant)
		}
		req.Tenant = d.Tenant
		if req.Model == "" {
			req.Model = d.Model
		}
		if req.Firmware == "" {
			req.Firmware = d.Firmware
		}
	} else if known {
		return nil, fmt.Errorf("%w: %s (tenant %s); use renew to re-issue its certificate", ErrDeviceExists, req.Device, d.Tenant)
	}
	if _, ok := reg.Tenant(req.Tenant); !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTenant, req.Tenant)
	}
	var (
		iss    *Issued
		err    error
		method = events.EnrollMethod_ENROLL_METHOD_KEY
	)
	if len(req.CSR) > 0 {
		iss, err = ca.SignCSR(req.CSR, req.Tenant, req.Device, req.Lifetime)
		method = events.EnrollMethod_ENROLL_METHOD_CSR
	} else {
		iss, err = ca.IssueDevice(req.Tenant, req.Device, req.Lifetime)
	}
	if err != nil {
		return nil, err
	}
	if req.Renew {
		method = events.EnrollMethod_ENROLL_METHOD_RENEW
	}
	ev := events.New(req.Tenant, req.Device, &events.DeviceEnrolled{
		Model: req.Model, Firmware: req.Firmware, CertSha256: iss.SHA256[:], CertSerial: iss.Cert.SerialNumber.Text(16),
		NotAfter: iss.Cert.NotAfter.UnixNano(), Method: method, Actor: req.Actor,
	})
	if err := store.Append(ctx, ev); err != nil {
		return nil, fmt.Errorf("recording the enrolment of %s: %w", req.Device, err)
	}
	reg.Apply(&ev)
	return iss, nil
}

// Revoke records device.revoked for every certificate of a device.
func Revoke(ctx context.Context, store events.Store, reg *Registry, device, reason, actor string) error {
	d, ok := reg.Device(device)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownDevice, device)
	}
	ev := events.New(d.Tenant, device, &events.DeviceRevoked{Reason: reason, Actor: actor})
	if err := store.Append(ctx, ev); err != nil {
		return fmt.Errorf("recording the revocation of %s: %w", device, err)
	}
	reg.Apply(&ev)
	return nil
}

// TenantSecret returns the tenant's 32-byte fingerprint key, kept in
// DATA/secrets/tenants/<tenant>.key (mode 0600) and created on first use.
func TenantSecret(dataDir, tenant string) ([]byte, error) {
	if err := events.ValidateTenant(tenant); err != nil {
		return nil, err
	}
	dir := filepath.Join(dataDir, "secrets", "tenants")
	path := filepath.Join(dir, tenant+".key")
	b, err := os.ReadFile(path)
	if err == nil {
		if err := fsutil.CheckPrivate(path); err != nil {
			return nil, err
		}
		key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) != 32 {
			return nil, fmt.Errorf("fingerprint key %s is not 64 hex digits", path)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	// Written in full to a temporary file, then linked into place: link
	// fails if the key exists, so of two racing creators one wins and the
	// other reads the winner's key; nobody reads half a key.
	tmp := filepath.Join(dir, "."+tenant+".key.tmp"+hex.EncodeToString(key[:4]))
	if err := fsutil.WriteFileAtomic(tmp, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return TenantSecret(dataDir, tenant)
		}
		return nil, err
	}
	return key, nil
}
