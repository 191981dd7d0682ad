package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
)

// enrollRequest is the body of POST /v1/devices.
type enrollRequest struct {
	Device   string `json:"device"`
	CSR      string `json:"csr"`
	Model    string `json:"model"`
	Firmware string `json:"firmware"`
	Lifetime string `json:"lifetime"`
}

// enrollJSON is the answer of POST /v1/devices.
type enrollJSON struct {
	Device      string    `json:"device"`
	Certificate string    `json:"certificate"`
	CA          string    `json:"ca"`
	NotAfter    time.Time `json:"not_after"`
}

// maxCertLifetime bounds the lifetime a request may ask for (the CA's own
// expiry bounds it further).
const maxCertLifetime = 10 * 365 * 24 * time.Hour

func parseEnroll(req enrollRequest) (time.Duration, *Error) {
	if req.Device == "" {
		return 0, badRequest("device is required")
	}
	if err := events.ValidateDevice(req.Device); err != nil {
		return 0, badRequest("device: %v", err)
	}
	if req.CSR == "" {
		return 0, badRequest("csr is required: a PEM certificate request (CERTIFICATE REQUEST) made with the device's key")
	}
	for name, v := range map[string]string{"model": req.Model, "firmware": req.Firmware} {
		if len(v) > 128 {
			return 0, badRequest("%s: longer than 128 bytes", name)
		}
	}
	if req.Lifetime == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(req.Lifetime)
	if err != nil || d < time.Hour || d > maxCertLifetime {
		return 0, badRequest("lifetime: %q is not a duration between 1h and 87600h (e.g. 8760h for a year)", req.Lifetime)
	}
	return d, nil
}

// enrollDevice signs a device's certificate request for the token's tenant
// and records device.enrolled.
func (s *Server) enrollDevice(r *http.Request, p principal) (int, any, *Error) {
	if s.cfg.CA == nil {
		return 0, nil, errorf(http.StatusServiceUnavailable, CodeUnavailable, "enrolment is not available: this server has no certificate authority")
	}
	var req enrollRequest
	if perr := decodeBody(r, &req, false); perr != nil {
		return 0, nil, perr
	}
	lifetime, perr := parseEnroll(req)
	if perr != nil {
		return 0, nil, perr
	}
	taken := func() *Error {
		// Never say which tenant holds it: ids are global.
		return errorf(http.StatusConflict, CodeConflict, "device id %q is already enrolled; choose another id", req.Device)
	}
	s.enrollMu.Lock()
	defer s.enrollMu.Unlock()
	if _, known := s.cfg.Registry.Device(req.Device); known {
		return 0, nil, taken()
	}
	iss, err := identity.Enroll(r.Context(), s.cfg.Store, s.cfg.Registry, s.cfg.CA, identity.EnrollRequest{
		Tenant: p.tenant, Device: req.Device, Model: req.Model, Firmware: req.Firmware,
		Lifetime: lifetime, CSR: []byte(req.CSR), Actor: p.actor(),
	})
	switch {
	case err == nil:
	case errors.Is(err, identity.ErrDeviceExists):
		return 0, nil, taken()
	case errors.Is(err, identity.ErrBadCSR):
		return 0, nil, badRequest("csr: %v", err)
	case errors.Is(err, events.ErrInvalidDevice):
		return 0, nil, badRequest("device: %v", err)
	default:
		return 0, nil, s.unavailable(r, "the enrolment", err)
	}
	return http.StatusCreated, enrollJSON{Device: req.Device, Certificate: string(iss.CertPEM),
		CA: string(s.cfg.CA.CertPEM()), NotAfter: iss.Cert.NotAfter.UTC()}, nil
}
