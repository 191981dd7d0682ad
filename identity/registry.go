package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halo-sec/halo/events"
)

// Token is an API token as the registry knows it: never the token itself.
type Token struct {
	ID     string
	Tenant string
	Role   events.Role
	hash   [32]byte
}

// Tenant is one tenant of the installation.
type Tenant struct {
	Name        string
	DisplayName string
	Created     time.Time
}

// Cert is a certificate issued to a device.
type Cert struct {
	SHA256   [32]byte
	Serial   string
	NotAfter time.Time
	Issued   time.Time
	Revoked  bool
}

// Device is one enrolled device.
type Device struct {
	ID        string
	Tenant    string
	Model     string
	Firmware  string
	Enrolled  time.Time // first enrolment
	Revoked   bool      // every certificate revoked; a new enrolment clears it
	RevokedAt time.Time
	Certs     []Cert // in issue order
}

// Cohort is the device's cohort key: tenant, model and firmware.
func (d *Device) Cohort() string { return d.Tenant + "/" + d.Model + "/" + d.Firmware }

// Registry is the fold of the identity events: tenants, tokens, devices and
// certificates. It is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	tenants map[string]*Tenant
	tokens  map[string]*Token // by token id
	devices map[string]*Device
	// anyDevice turns true with the first device.enrolled applied: until
	// then (imported history) Device answers without taking the lock, which
	// the pipeline's stages ask for every device of every window at once.
	anyDevice atomic.Bool
	seq       uint64
	onRevoke  []func(device string, cert [32]byte)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{tenants: map[string]*Tenant{}, tokens: map[string]*Token{}, devices: map[string]*Device{}}
}

// IdentityTypes are the event types the registry folds.
var IdentityTypes = []events.Type{events.TypeTenantCreated, events.TypeTokenAdded, events.TypeDeviceEnrolled, events.TypeDeviceRevoked}

// Load folds every identity event of the log into a new registry.
func Load(ctx context.Context, store events.Store) (*Registry, error) {
	r := NewRegistry()
	if err := events.FoldAll(ctx, store, IdentityTypes, "identities", r.Apply); err != nil {
		return nil, err
	}
	return r, nil
}

// Follow applies identity events appended after the registry's last
// position until ctx ends. Revocations call the OnRevoke hooks.
func (r *Registry) Follow(ctx context.Context, store events.Store) error {
	r.mu.RLock()
	start := r.seq + 1
	r.mu.RUnlock()
	return events.FollowFrom(ctx, store, IdentityTypes, start, "identities", r.Apply)
}

// OnRevoke registers a function called (outside the registry's lock) for
// every revocation applied from now on; cert is zero when every certificate
// of the device is revoked.
func (r *Registry) OnRevoke(fn func(device string, cert [32]byte)) {
	r.mu.Lock()
	r.onRevoke = append(r.onRevoke, fn)
	r.mu.Unlock()
}

// Apply folds one event; events of other types are ignored.
func (r *Registry) Apply(ev *events.Event) {
	var revoked *[32]byte
	r.mu.Lock()
	if ev.Seq > r.seq {
		r.seq = ev.Seq
	}
	switch p := ev.Payload.(type) {
	case *events.TenantCreated:
		if _, ok := r.tenants[ev.Tenant]; !ok {
			r.tenants[ev.Tenant] = &Tenant{Name: ev.Tenant, DisplayName: p.DisplayName, Created: ev.Time}
		}
	case *events.TokenAdded:
		var h [32]byte
		copy(h[:], p.TokenHash)
		r.tokens[p.TokenId] = &Token{ID: p.TokenId, Tenant: ev.Tenant, Role: p.Role, hash: h}
	case *events.DeviceEnrolled:
		d, ok := r.devices[ev.Device]
		if !ok {
			d = &Device{ID: ev.Device, Tenant: ev.Tenant, Enrolled: ev.Time}
			r.devices[ev.Device] = d
			r.anyDevice.Store(true)
		}
		if d.Tenant != ev.Tenant {
			break // a device id belongs to the tenant that enrolled it first
		}
		d.Model, d.Firmware = p.Model, p.Firmware
		d.Revoked = false
		var h [32]byte
		copy(h[:], p.CertSha256)
		if !slices.ContainsFunc(d.Certs, func(c Cert) bool { return c.SHA256 == h }) {
			d.Certs = append(d.Certs, Cert{SHA256: h, Serial: p.CertSerial, NotAfter: time.Unix(0, p.NotAfter).UTC(), Issued: ev.Time})
		}
	case *events.DeviceRevoked:
		d, ok := r.devices[ev.Device]
		if !ok || d.Tenant != ev.Tenant {
			break
		}
		var h [32]byte
		if len(p.CertSha256) == 0 {
			d.Revoked, d.RevokedAt = true, ev.Time
			for i := range d.Certs {
				d.Certs[i].Revoked = true
			}
		} else {
			copy(h[:], p.CertSha256)
			for i := range d.Certs {
				if d.Certs[i].SHA256 == h {
					d.Certs[i].Revoked = true
				}
			}
		}
		revoked = &h
	}
	hooks := r.onRevoke
	r.mu.Unlock()
	if revoked != nil {
		for _, fn := range hooks {
			fn(ev.Device, *revoked)
		}
	}
}

// Seq is the log position of the last event applied.
func (r *Registry) Seq() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.seq
}

// Tenant returns a tenant by name.
func (r *Registry) Tenant(name string) (Tenant, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tenants[name]
	if !ok {
		return Tenant{}, false
	}
	return *t, true
}

// Tenants returns every tenant, sorted by name.
func (r *Registry) Tenants() []Tenant {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Tenant, 0, len(r.tenants))
	for _, t := range r.tenants {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Tenant) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Device returns a copy of a device by id.
func (r *Registry) Device(id string) (Device, bool) {
	if !r.anyDevice.Load() {
		return Device{}, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.devices[id]
	if !ok {
		return Device{}, false
	}
	c := *d
	c.Certs = slices.Clone(d.Certs)
	return c, true
}

// Devices returns the devices of a tenant (every tenant when empty), sorted
// by id.
func (r *Registry) Devices(tenant string) []Device {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Device
	for _, d := range r.devices {
		if tenant == "" || d.Tenant == tenant {
			c := *d
			c.Certs = slices.Clone(d.Certs)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// CheckCert decides whether a verified client certificate may use the edge:
// it must name a device enrolled for that tenant, be one Halo issued to it,
// and not be revoked. It returns the device.
func (r *Registry) CheckCert(cert *x509.Certificate) (Device, error) {
	tenant, id, err := DeviceIdentity(cert)
	if err != nil {
		return Device{}, err
	}
	sum := sha256.Sum256(cert.Raw)
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.devices[id]
	if !ok || d.Tenant != tenant {
		return Device{}, fmt.Errorf("%w: %s of tenant %s", ErrUnknownDevice, id, tenant)
	}
	for _, c := range d.Certs {
		if c.SHA256 == sum {
			if c.Revoked {
				return Device{}, fmt.Errorf("%w: %s", ErrRevoked, id)
			}
			out := *d
			out.Certs = nil
			return out, nil
		}
	}
	return Device{}, fmt.Errorf("%w: %s", ErrUnknownCert, id)
}

// Authenticate returns the token a bearer token string names, comparing its
// hash in constant time. Errors wrap ErrBadToken and never include the token.
func (r *Registry) Authenticate(token string) (Token, error) {
	id, ok := tokenID(token)
	if !ok {
		return Token{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	sum := sha256.Sum256([]byte(token))
	r.mu.RLock()
	t, found := r.tokens[id]
	r.mu.RUnlock()
	if !found {
		// Compare anyway so an unknown id costs the same time.
		var zero [32]byte
		subtle.ConstantTimeCompare(sum[:], zero[:])
		return Token{}, fmt.Errorf("%w: unknown", ErrBadToken)
	}
	if subtle.ConstantTimeCompare(sum[:], t.hash[:]) != 1 {
		return Token{}, fmt.Errorf("%w: unknown", ErrBadToken)
	}
	return *t, nil
}
