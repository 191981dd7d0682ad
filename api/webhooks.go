package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/webhooks"
)

type webhookRequest struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
	Filter struct {
		Severity []string `json:"severity"`
		Detector []string `json:"detector"`
		Device   []string `json:"device"`
	} `json:"filter"`
}

type webhookJSON struct {
	ID      string          `json:"id"`
	URL     string          `json:"url"`
	Filter  webhooks.Filter `json:"filter"`
	Created time.Time       `json:"created"`
}

type deliveryJSON struct {
	ID          string     `json:"id"`
	Webhook     string     `json:"webhook"`
	Seq         uint64     `json:"seq"`
	Type        string     `json:"type"`
	Alert       string     `json:"alert"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error,omitempty"`
	Created     time.Time  `json:"created"`
	LastAttempt *time.Time `json:"last_attempt,omitempty"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
}

func webhookView(w webhooks.Webhook) webhookJSON {
	if w.Filter.Severity == nil {
		w.Filter.Severity = []string{}
	}
	if w.Filter.Detector == nil {
		w.Filter.Detector = []string{}
	}
	if w.Filter.Device == nil {
		w.Filter.Device = []string{}
	}
	return webhookJSON{ID: w.ID, URL: w.URL, Filter: w.Filter, Created: w.Created}
}

func (s *Server) webhooksEngine() (*webhooks.Engine, *Error) {
	if s.cfg.Webhooks == nil {
		why := s.cfg.NoWebhooks
		if why == "" {
			why = "it has no data directory"
		}
		return nil, errorf(http.StatusServiceUnavailable, CodeUnavailable, "webhooks are not served by this server: %s", why)
	}
	return s.cfg.Webhooks, nil
}

func webhookError(err error) *Error {
	switch {
	case errors.Is(err, webhooks.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "%v", err)
	case errors.Is(err, webhooks.ErrInvalid):
		return badRequest("%v", err)
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "webhook store: %v", err)
}

// webhookStartWait bounds how long creating a webhook waits for the alert
// feed to start following the log (the first moments of a server's life).
// A variable for the tests.
var webhookStartWait = 10 * time.Second

func (s *Server) createWebhook(r *http.Request, p principal) (int, any, *Error) {
	eng, aerr := s.webhooksEngine()
	if aerr != nil {
		return 0, nil, aerr
	}
	var req webhookRequest
	if aerr := decodeBody(r, &req, false); aerr != nil {
		return 0, nil, aerr
	}
	for i, sev := range req.Filter.Severity {
		v, err := alerts.ParseSeverity(sev)
		if err != nil {
			return 0, nil, badRequest("filter.severity: %v", err)
		}
		req.Filter.Severity[i] = alerts.SeverityName(v)
	}
	// A detector Halo does not have matches nothing: a filter naming
	// "beconing" was accepted and its webhook never called.
	for _, d := range req.Filter.Detector {
		if err := detect.Check(d); err != nil {
			return 0, nil, badRequest("filter.detector: %v", err)
		}
	}
	for _, d := range req.Filter.Device {
		if err := events.ValidateDevice(d); err != nil {
			return 0, nil, badRequest("filter.device: %v", err)
		}
	}
	// A new webhook gets the changes after the engine's cursor: wait until
	// the feed has one, or changes raised before the feed subscribes would
	// be lost to it (see webhooks.Engine.Begin).
	t := time.NewTimer(webhookStartWait)
	defer t.Stop()
	select {
	case <-eng.Started():
	case <-r.Context().Done():
		return 0, nil, errorf(http.StatusServiceUnavailable, CodeUnavailable, "webhooks: %v", r.Context().Err())
	case <-t.C:
		return 0, nil, errorf(http.StatusServiceUnavailable, CodeUnavailable,
			"webhooks are starting: the alert feed is not followed yet (waited %v); retry", webhookStartWait)
	}
	w, err := eng.Create(r.Context(), p.tenant, req.URL, req.Secret, webhooks.Filter{
		Severity: req.Filter.Severity, Detector: req.Filter.Detector, Device: req.Filter.Device})
	if err != nil {
		return 0, nil, webhookError(err)
	}
	s.log.Info("webhook registered", "tenant", p.tenant, "webhook_id", w.ID, "token_id", p.tokenID)
	return http.StatusCreated, webhookView(w), nil
}

func (s *Server) listWebhooks(r *http.Request, p principal) (int, any, *Error) {
	eng, aerr := s.webhooksEngine()
	if aerr != nil {
		return 0, nil, aerr
	}
	list := eng.List(p.tenant)
	out := make([]webhookJSON, len(list))
	for i, w := range list {
		out[i] = webhookView(w)
	}
	return http.StatusOK, map[string]any{"webhooks": out}, nil
}

func (s *Server) deleteWebhook(r *http.Request, p principal) (int, any, *Error) {
	eng, aerr := s.webhooksEngine()
	if aerr != nil {
		return 0, nil, aerr
	}
	id, aerr := pathID(r, "webhook")
	if aerr != nil {
		return 0, nil, aerr
	}
	if err := eng.Delete(p.tenant, id); err != nil {
		return 0, nil, webhookError(err)
	}
	return http.StatusOK, map[string]any{"id": id, "deleted": true}, nil
}

func (s *Server) listDeliveries(r *http.Request, p principal) (int, any, *Error) {
	eng, aerr := s.webhooksEngine()
	if aerr != nil {
		return 0, nil, aerr
	}
	id, aerr := pathID(r, "webhook")
	if aerr != nil {
		return 0, nil, aerr
	}
	limit := s.cfg.DefaultLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, nil, badRequest("limit: %q is not a positive integer", truncate(v, 20))
		}
		limit = min(n, s.cfg.MaxLimit)
	}
	list, err := eng.Deliveries(p.tenant, id, limit)
	if err != nil {
		return 0, nil, webhookError(err)
	}
	out := make([]deliveryJSON, len(list))
	for i, d := range list {
		out[i] = deliveryJSON{ID: d.ID, Webhook: d.Webhook, Seq: d.Seq, Type: d.Type, Alert: d.AlertID, Status: string(d.Status),
			Attempts: d.Attempts, LastError: d.LastError, Created: d.Created, LastAttempt: timePtr(d.LastAttempt), NextAttempt: timePtr(d.NextAttempt)}
	}
	return http.StatusOK, map[string]any{"deliveries": out}, nil
}

// followWebhooks hands every alert change after the engine's cursor to it,
// in log order, until ctx ends. It subscribes to the hub like a stream (all
// tenants, a large buffer); if it falls behind it resubscribes from its
// cursor, so nothing is skipped.
func (s *Server) followWebhooks(ctx context.Context) {
	eng := s.cfg.Webhooks
	select {
	case <-s.hub.ready:
	case <-s.hub.stopped:
		return
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil {
		select {
		case <-s.hub.stopped:
			return
		default:
		}
		if err := s.feedWebhooks(ctx, eng); err != nil && ctx.Err() == nil {
			s.log.Warn("webhooks: following alert changes failed; retrying", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *Server) feedWebhooks(ctx context.Context, eng *webhooks.Engine) error {
	after, resume := eng.Cursor()
	sub, err := s.hub.subscribe(ctx, "", after, resume, 1<<16)
	if err != nil {
		return err
	}
	defer s.hub.unsubscribe(sub.subscriber)
	if !resume { // a new journal: it follows from where this subscription starts
		if err := eng.Begin(sub.after); err != nil {
			return err
		}
	}
	backlog, err := s.hub.replay(ctx, sub)
	if err != nil {
		return err
	}
	handle := func(c *change) error {
		return eng.Handle(ctx, webhooks.Change{Seq: c.seq, Tenant: c.tenant, Type: string(c.typ), AlertID: c.alert.ID,
			Device: c.alert.Device, Detector: c.alert.Detector, Severity: alerts.SeverityName(c.alert.Severity), Alert: c.data})
	}
	for _, c := range backlog {
		if err := handle(c); err != nil {
			return err
		}
	}
	for {
		select {
		case c := <-sub.ch:
			if err := handle(c); err != nil {
				return err
			}
		case <-sub.done:
			return nil // slow (resubscribe from the cursor) or shutting down
		case <-ctx.Done():
			return nil
		}
	}
}
