package identity

import "errors"

var (
	// ErrUnknownTenant is returned when a tenant does not exist.
	ErrUnknownTenant = errors.New("unknown tenant")
	// ErrTenantExists is returned when creating a tenant that exists.
	ErrTenantExists = errors.New("tenant already exists")
	// ErrUnknownDevice is returned for a device that was never enrolled.
	ErrUnknownDevice = errors.New("unknown device")
	// ErrDeviceExists is returned when enrolling a device id that is taken.
	ErrDeviceExists = errors.New("device already enrolled")
	// ErrRevoked is returned for a revoked device or certificate.
	ErrRevoked = errors.New("certificate revoked")
	// ErrUnknownCert is returned for a certificate Halo did not issue to
	// the device it names (or that was superseded and revoked).
	ErrUnknownCert = errors.New("certificate not issued to this device")
	// ErrBadIdentity is returned for a certificate without a Halo device
	// identity (URI SAN).
	ErrBadIdentity = errors.New("certificate carries no Halo device identity")
	// ErrBadCSR is returned for a certificate request Halo will not sign.
	ErrBadCSR = errors.New("unacceptable certificate request")
	// ErrBadToken is returned for a missing or unknown API token.
	ErrBadToken = errors.New("invalid API token")
)
