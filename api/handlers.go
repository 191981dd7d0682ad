package api

import (
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/intervention"
)

// unavailable answers a failed write to the log: the client may retry.
func (s *Server) unavailable(r *http.Request, what string, err error) *Error {
	s.log.WarnContext(r.Context(), "api write failed", "what", what, "error", err.Error())
	return errorf(http.StatusServiceUnavailable, CodeUnavailable, "%s could not be recorded in the event log; retry", what)
}

// ---- alerts

func (s *Server) listAlerts(r *http.Request, p principal) (int, any, *Error) {
	f, perr := parseAlertQuery(r.URL.RawQuery, s.cfg.DefaultLimit, s.cfg.MaxLimit)
	if perr != nil {
		return 0, nil, perr
	}
	list, next, err := s.cfg.Alerts.List(p.tenant, f)
	if err != nil {
		return 0, nil, badRequest("cursor: %v", err)
	}
	out := make([]AlertView, len(list))
	for i, a := range list {
		out[i] = alertView(a)
	}
	return http.StatusOK, struct {
		Alerts []AlertView `json:"alerts"`
		Next   string      `json:"next"`
	}{out, next}, nil
}

func (s *Server) getAlert(r *http.Request, p principal) (int, any, *Error) {
	id, perr := pathID(r, "alert")
	if perr != nil {
		return 0, nil, perr
	}
	a, ok := s.cfg.Alerts.Get(p.tenant, id)
	if !ok {
		return 0, nil, notFound("alert", id)
	}
	return http.StatusOK, alertView(a), nil
}

type ackRequest struct {
	Note string `json:"note"`
}

func (s *Server) ackAlert(r *http.Request, p principal) (int, any, *Error) {
	id, perr := pathID(r, "alert")
	if perr != nil {
		return 0, nil, perr
	}
	var req ackRequest
	if perr := decodeBody(r, &req, true); perr != nil {
		return 0, nil, perr
	}
	if perr := checkText("note", req.Note); perr != nil {
		return 0, nil, perr
	}
	a, err := alerts.Ack(r.Context(), s.cfg.Store, s.cfg.Alerts, p.tenant, id, p.actor(), req.Note)
	if perr := alertOpError(err, id); perr != nil {
		if perr.Status >= 500 {
			return 0, nil, s.unavailable(r, "the acknowledgement", err)
		}
		return 0, nil, perr
	}
	return http.StatusOK, alertView(a), nil
}

type resolveRequest struct {
	Verdict string `json:"verdict"`
	Note    string `json:"note"`
}

func (s *Server) resolveAlert(r *http.Request, p principal) (int, any, *Error) {
	id, perr := pathID(r, "alert")
	if perr != nil {
		return 0, nil, perr
	}
	var req resolveRequest
	if perr := decodeBody(r, &req, false); perr != nil {
		return 0, nil, perr
	}
	v, perr := parseResolve(req)
	if perr != nil {
		return 0, nil, perr
	}
	a, err := alerts.Resolve(r.Context(), s.cfg.Store, s.cfg.Alerts, p.tenant, id, v, p.actor(), req.Note)
	if perr := alertOpError(err, id); perr != nil {
		if perr.Status >= 500 {
			return 0, nil, s.unavailable(r, "the resolution", err)
		}
		return 0, nil, perr
	}
	return http.StatusOK, alertView(a), nil
}

func parseResolve(req resolveRequest) (alerts.Verdict, *Error) {
	if req.Verdict == "" {
		return "", badRequest("verdict is required: true-positive, false-positive or benign")
	}
	v, err := alerts.ParseVerdict(req.Verdict)
	if err != nil {
		return "", badRequest("verdict: %v", err)
	}
	return v, checkText("note", req.Note)
}

func alertOpError(err error, id string) *Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, alerts.ErrNotFound):
		return notFound("alert", id)
	case errors.Is(err, alerts.ErrResolved):
		return errorf(http.StatusConflict, CodeConflict, "alert %q is already resolved", id)
	}
	return errorf(http.StatusServiceUnavailable, CodeUnavailable, "%v", err)
}

// ---- devices

// device returns the tenant's device id, or 404.
func (s *Server) device(p principal, id string) (identity.Device, *Error) {
	d, ok := s.cfg.Registry.Device(id)
	if !ok || d.Tenant != p.tenant {
		return identity.Device{}, notFound("device", id)
	}
	return d, nil
}

func (s *Server) deviceView(d identity.Device, open int, now time.Time) deviceJSON {
	var q *intervention.Intervention
	if iv, ok := s.cfg.Interventions.Quarantine(d.Tenant, d.ID, now); ok {
		q = &iv
	}
	v := deviceView(d, open, q)
	if s.cfg.LastSeen != nil {
		if t, ok := s.cfg.LastSeen(d.ID); ok {
			v.LastSeen = timePtr(t)
		}
	}
	return v
}

func (s *Server) listDevices(r *http.Request, p principal) (int, any, *Error) {
	now := time.Now()
	open := s.cfg.Alerts.OpenCounts(p.tenant)
	devs := s.cfg.Registry.Devices(p.tenant)
	out := make([]deviceJSON, len(devs))
	for i, d := range devs {
		out[i] = s.deviceView(d, open[d.ID], now)
	}
	return http.StatusOK, struct {
		Devices []deviceJSON `json:"devices"`
	}{out}, nil
}

func (s *Server) getDevice(r *http.Request, p principal) (int, any, *Error) {
	id, perr := pathDevice(r)
	if perr != nil {
		return 0, nil, perr
	}
	d, perr := s.device(p, id)
	if perr != nil {
		return 0, nil, perr
	}
	return http.StatusOK, s.deviceView(d, s.cfg.Alerts.OpenCounts(p.tenant)[id], time.Now()), nil
}

type quarantineRequest struct {
	Reason string `json:"reason"`
	Expiry string `json:"expiry"`
}

func (s *Server) quarantine(r *http.Request, p principal) (int, any, *Error) {
	id, perr := pathDevice(r)
	if perr != nil {
		return 0, nil, perr
	}
	var req quarantineRequest
	if perr := decodeBody(r, &req, true); perr != nil {
		return 0, nil, perr
	}
	ttl, perr := parseExpiry(req.Expiry)
	if perr != nil {
		return 0, nil, perr
	}
	if perr := checkText("reason", req.Reason); perr != nil {
		return 0, nil, perr
	}
	if _, perr := s.device(p, id); perr != nil {
		return 0, nil, perr
	}
	if iv, ok := s.cfg.Interventions.Quarantine(p.tenant, id, time.Now()); ok {
		return http.StatusOK, interventionView(iv), nil // already quarantined
	}
	if req.Reason == "" {
		req.Reason = "quarantined through the API"
	}
	ivID, err := intervention.Apply(r.Context(), s.cfg.Store, intervention.Request{
		Kind: events.InterventionKind_INTERVENTION_KIND_QUARANTINE, Tenant: p.tenant, Device: id,
		Reason: req.Reason, Actor: p.actor(), TTL: ttl,
	})
	if err != nil {
		return 0, nil, s.unavailable(r, "the quarantine", err)
	}
	return s.applied(r, ivID)
}

// applied waits for the intervention fold to show ivID and answers 201
// with it, or 202 with its id when the fold has not caught up in time.
func (s *Server) applied(r *http.Request, ivID string) (int, any, *Error) {
	var iv intervention.Intervention
	if s.await(r.Context(), func() bool {
		var ok bool
		iv, ok = s.cfg.Interventions.Get(ivID, time.Now())
		return ok
	}) {
		return http.StatusCreated, interventionView(iv), nil
	}
	return http.StatusAccepted, struct {
		ID string `json:"id"`
	}{ivID}, nil
}

func (s *Server) release(r *http.Request, p principal) (int, any, *Error) {
	id, perr := pathDevice(r)
	if perr != nil {
		return 0, nil, perr
	}
	d, perr := s.device(p, id)
	if perr != nil {
		return 0, nil, perr
	}
	n, err := intervention.Release(r.Context(), s.cfg.Store, s.cfg.Interventions, p.tenant, id, "released through the API", p.actor())
	if err != nil && !errors.Is(err, intervention.ErrNotFound) {
		return 0, nil, s.unavailable(r, "the release", err)
	}
	return http.StatusOK, struct {
		Released int        `json:"released"`
		Device   deviceJSON `json:"device"`
	}{n, s.deviceView(d, s.cfg.Alerts.OpenCounts(p.tenant)[id], time.Now())}, nil
}

// ---- interventions

func (s *Server) listInterventions(r *http.Request, p principal) (int, any, *Error) {
	ivs := s.cfg.Interventions.Active(p.tenant, time.Now())
	out := make([]interventionJSON, len(ivs))
	for i, iv := range ivs {
		out[i] = interventionView(iv)
	}
	return http.StatusOK, struct {
		Interventions []interventionJSON `json:"interventions"`
	}{out}, nil
}

type blockRequest struct {
	Device      string `json:"device"`
	Host        string `json:"host"`
	CIDR        string `json:"cidr"`
	Port        uint32 `json:"port"`
	Fingerprint string `json:"fingerprint"`
	Reason      string `json:"reason"`
	Expiry      string `json:"expiry"`
	DryRun      bool   `json:"dry_run"`
}

// parseBlock checks a block request and returns its intervention request.
func parseBlock(req blockRequest, tenant, actor string) (intervention.Request, *Error) {
	ir := intervention.Request{Kind: events.InterventionKind_INTERVENTION_KIND_BLOCK, Tenant: tenant, Device: req.Device,
		Reason: req.Reason, Actor: actor, DryRun: req.DryRun,
		Match: &events.Match{HostGlob: req.Host, Cidr: req.CIDR, Port: req.Port}}
	if req.Device != "" {
		if err := events.ValidateDevice(req.Device); err != nil {
			return ir, badRequest("device: %v", err)
		}
	}
	if len(req.Host) > 253 {
		return ir, badRequest("host: longer than 253 characters")
	}
	if req.Port > 65535 {
		return ir, badRequest("port: %d is not between 1 and 65535", req.Port)
	}
	if req.Fingerprint != "" {
		fp, err := hex.DecodeString(req.Fingerprint)
		if err != nil || len(fp) > 64 {
			return ir, badRequest("fingerprint: not a hex strict fingerprint (at most 64 bytes)")
		}
		ir.Match.StrictFp = fp
	}
	var perr *Error
	if ir.TTL, perr = parseExpiry(req.Expiry); perr != nil {
		return ir, perr
	}
	if perr := checkText("reason", req.Reason); perr != nil {
		return ir, perr
	}
	if ir.Reason == "" {
		ir.Reason = "blocked through the API"
	}
	if _, err := intervention.NewEvent(ir); err != nil {
		return ir, badRequest("block: %v", err)
	}
	return ir, nil
}

func (s *Server) createBlock(r *http.Request, p principal) (int, any, *Error) {
	var req blockRequest
	if perr := decodeBody(r, &req, false); perr != nil {
		return 0, nil, perr
	}
	ir, perr := parseBlock(req, p.tenant, p.actor())
	if perr != nil {
		return 0, nil, perr
	}
	if ir.Device != "" {
		if _, perr := s.device(p, ir.Device); perr != nil {
			return 0, nil, perr
		}
	}
	ivID, err := intervention.Apply(r.Context(), s.cfg.Store, ir)
	if err != nil {
		return 0, nil, s.unavailable(r, "the block", err)
	}
	return s.applied(r, ivID)
}

func (s *Server) liftIntervention(r *http.Request, p principal) (int, any, *Error) {
	id, perr := pathID(r, "intervention")
	if perr != nil {
		return 0, nil, perr
	}
	iv, ok := s.cfg.Interventions.Get(id, time.Now())
	if !ok || iv.Tenant != p.tenant {
		return 0, nil, notFound("intervention in force", id)
	}
	if err := intervention.Lift(r.Context(), s.cfg.Store, s.cfg.Interventions, id, "lifted through the API", p.actor()); err != nil {
		if errors.Is(err, intervention.ErrNotFound) {
			return 0, nil, notFound("intervention in force", id)
		}
		return 0, nil, s.unavailable(r, "the lift", err)
	}
	return http.StatusOK, struct {
		ID     string `json:"id"`
		Lifted bool   `json:"lifted"`
	}{id, true}, nil
}
