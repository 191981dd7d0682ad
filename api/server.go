package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/policy"
	"github.com/halo-sec/halo/webhooks"
)

// Config configures a Server.
type Config struct {
	// Store is the event log writes are appended to. Required.
	Store events.Store
	// Registry authenticates tokens and lists devices. Required; it must
	// follow the log (identity.Registry.Follow) for new tokens and
	// devices to be seen.
	Registry *identity.Registry
	// Alerts is the alert fold reads come from. Required; it must follow
	// the log (alerts.Set.Follow).
	Alerts *alerts.Set
	// Interventions is the intervention fold. Required; it must follow the
	// log (intervention.Set.Follow), or writes wait WriteWait in vain.
	Interventions *intervention.Set
	// Policies is the tenants' policies. Optional; not consulted yet (kept
	// for the console's quarantine allow-list view).
	Policies *policy.Set
	// CA signs certificate requests for POST /v1/devices (CSR
	// enrolment). Optional: without it that route answers 503.
	CA *identity.CA
	// LastSeen, when set, gives a device's last event time (the devices'
	// last_seen). Optional.
	LastSeen func(device string) (time.Time, bool)
	// Logger receives one debug line per request (never a token) and
	// warnings for failures. Default: discard.
	Logger *slog.Logger
	// Metrics is where halo_api_requests_total and
	// halo_api_request_duration_seconds are registered. Default: not
	// registered.
	Metrics prometheus.Registerer
	// MaxLimit is the largest page GET /v1/alerts returns; larger limits
	// are clamped to it. Default 500.
	MaxLimit int
	// DefaultLimit is the page size when a request names none. Default 100
	// (at most MaxLimit).
	DefaultLimit int
	// MaxBody is the largest request body accepted (413 above). Default
	// 64 KiB.
	MaxBody int64
	// WriteWait is how long a write handler waits for the fold to apply
	// its event before answering 202 Accepted instead of 201/200. Default
	// 1 s.
	WriteWait time.Duration
	// StreamHeartbeat is how often GET /v1/alerts/stream sends a ": ping"
	// comment. Default 15 s.
	StreamHeartbeat time.Duration
	// StreamBuffer is how many changes a stream subscriber may fall behind
	// before it is disconnected as a slow consumer (it resumes with
	// Last-Event-ID). Default 1024.
	StreamBuffer int
	// StreamHistory is how many recent alert changes are kept to resume
	// streams exactly; an older Last-Event-ID is served from the log, one
	// event per changed alert (its latest state). Default 10000.
	StreamHistory int
	// StreamWriteTimeout bounds one write to a stream; a client that
	// accepts nothing for that long is disconnected. Default 10 s.
	StreamWriteTimeout time.Duration
	// RateLimit is how many requests a second one token may make on
	// average (a token bucket per token id, checked after authentication;
	// a stream counts once, when it connects). Default 50; negative: no
	// limit.
	RateLimit float64
	// RateBurst is how many requests one token may make at once above
	// RateLimit. Default 100.
	RateBurst int
	// Pipeline is the pipeline configuration GET /v1/devices/{id}/timeline
	// recomputes a device's feature windows and scores with (see
	// TimelineRequest.Pipeline). Default: the pipeline's defaults, as halo
	// pipeline runs without flags.
	Pipeline pipeline.Config
	// Webhooks is the webhook registry and delivery engine behind
	// /v1/webhooks. Optional: without it those routes answer 503.
	Webhooks *webhooks.Engine
	// NoWebhooks says why Webhooks is nil, in those 503 answers. Default:
	// the server has no data directory.
	NoWebhooks string
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxLimit <= 0 {
		c.MaxLimit = 500
	}
	if c.DefaultLimit <= 0 {
		c.DefaultLimit = 100
	}
	c.DefaultLimit = min(c.DefaultLimit, c.MaxLimit)
	if c.MaxBody <= 0 {
		c.MaxBody = 64 << 10
	}
	if c.WriteWait <= 0 {
		c.WriteWait = time.Second
	}
	if c.StreamHeartbeat <= 0 {
		c.StreamHeartbeat = 15 * time.Second
	}
	if c.StreamBuffer <= 0 {
		c.StreamBuffer = 1024
	}
	if c.StreamHistory <= 0 {
		c.StreamHistory = 10000
	}
	if c.StreamWriteTimeout <= 0 {
		c.StreamWriteTimeout = 10 * time.Second
	}
	if c.RateLimit == 0 {
		c.RateLimit = 50
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 100
	}
}

// Validate reports every missing dependency.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("api: Store is required"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("api: Registry is required"))
	}
	if c.Alerts == nil {
		errs = append(errs, errors.New("api: Alerts is required"))
	}
	if c.Interventions == nil {
		errs = append(errs, errors.New("api: Interventions is required"))
	}
	return errors.Join(errs...)
}

// Server serves the /v1/ routes. It is an http.Handler, safe for concurrent
// use; mount it on "/v1/" next to /healthz and /metrics.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	routes   []*route
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	changed  notifier
	hub      *hub
	limiter  *tokenLimiter // nil: no rate limit
	enrollMu sync.Mutex    // serializes POST /v1/devices (check, then append)
}

// principal is the authenticated caller.
type principal struct {
	tenant  string
	role    events.Role
	tokenID string
}

func (p principal) actor() string { return "token:" + p.tokenID }

// handlerFunc answers one request: a status and a body to encode as JSON,
// or an error.
type handlerFunc func(r *http.Request, p principal) (int, any, *Error)

// route is one served method and path.
type route struct {
	method, path string
	write        bool // needs an operator token
	public       bool // needs no token
	h            handlerFunc
	// stream, instead of h, writes the response itself (Server-Sent
	// Events); it returns an error only before writing anything.
	stream func(w http.ResponseWriter, r *http.Request, p principal) *Error
	// query lists the query parameters the route reads; any other is a
	// 400 (a mistyped or unsupported one was ignored: GET /v1/devices?limit=1
	// listed every device).
	query []string
}

// checkQuery refuses a query parameter the route does not read.
func (rt *route) checkQuery(r *http.Request) *Error {
	if r.URL.RawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("malformed query string: %v", err)
	}
	for k := range q {
		if slices.Contains(rt.query, k) {
			continue
		}
		if len(rt.query) == 0 {
			return badRequest("unknown query parameter %q: %s takes none", k, rt.pattern())
		}
		return badRequest("unknown query parameter %q (use %s)", k, strings.Join(rt.query, ", "))
	}
	return nil
}

func (rt *route) pattern() string { return rt.method + " " + rt.path }

// New returns a Server over the folds in cfg.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), limiter: newTokenLimiter(cfg.RateLimit, cfg.RateBurst)}
	s.changed.ch = make(chan struct{})
	s.hub = newHub(cfg.Store, cfg.StreamHistory, cfg.StreamBuffer)
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "halo_api_requests_total", Help: "API requests by route and HTTP status.",
	}, []string{"route", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "halo_api_request_duration_seconds", Help: "API request latency by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{s.requests, s.duration, s.hub.subscribers, s.hub.dropped} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, err
			}
		}
	}
	cfg.Alerts.OnChange(func(alerts.Alert) { s.changed.signal() })
	cfg.Interventions.OnChange(func(intervention.Intervention, bool) { s.changed.signal() })

	s.routes = []*route{
		{method: "GET", path: "/v1/openapi.json", public: true, h: s.openAPI},
		{method: "GET", path: "/v1/alerts", h: s.listAlerts, query: alertQuery},
		{method: "GET", path: "/v1/alerts/stream", stream: s.streamAlerts, query: []string{"last_event_id"}},
		{method: "GET", path: "/v1/alerts/{id}", h: s.getAlert},
		{method: "POST", path: "/v1/alerts/{id}/ack", write: true, h: s.ackAlert},
		{method: "POST", path: "/v1/alerts/{id}/resolve", write: true, h: s.resolveAlert},
		{method: "GET", path: "/v1/devices", h: s.listDevices},
		{method: "POST", path: "/v1/devices", write: true, h: s.enrollDevice},
		{method: "GET", path: "/v1/devices/{id}", h: s.getDevice},
		{method: "GET", path: "/v1/devices/{id}/timeline", h: s.deviceTimeline, query: timelineParams},
		{method: "POST", path: "/v1/devices/{id}/quarantine", write: true, h: s.quarantine},
		{method: "DELETE", path: "/v1/devices/{id}/quarantine", write: true, h: s.release},
		{method: "GET", path: "/v1/interventions", h: s.listInterventions},
		{method: "POST", path: "/v1/interventions", write: true, h: s.createBlock},
		{method: "DELETE", path: "/v1/interventions/{id}", write: true, h: s.liftIntervention},
		{method: "GET", path: "/v1/webhooks", h: s.listWebhooks},
		{method: "POST", path: "/v1/webhooks", write: true, h: s.createWebhook},
		{method: "DELETE", path: "/v1/webhooks/{id}", write: true, h: s.deleteWebhook},
		{method: "GET", path: "/v1/webhooks/{id}/deliveries", h: s.listDeliveries, query: []string{"limit"}},
	}
	for _, rt := range s.routes {
		s.mux.Handle(rt.pattern(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, rt) }))
	}
	s.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, nil) }))
	return s, nil
}

// Run feeds GET /v1/alerts/stream (and the webhooks, when configured)
// from the log until ctx ends, then disconnects every stream with a final
// comment. Run it once, next to the folds' Follow; streams answer 503
// until it has loaded the log.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.Webhooks == nil {
		return s.hub.run(ctx)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.followWebhooks(ctx)
	}()
	err := s.hub.run(ctx)
	wg.Wait()
	return err
}

// Routes lists the served routes as "METHOD /path" patterns.
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.pattern()
	}
	return out
}

// ServeHTTP serves a /v1/ request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// serve runs the common part of every request: authentication, the role
// check, the body limit, the handler, the JSON answer, metrics and the log
// line. rt is nil when no route matched.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt *route) {
	start := time.Now()
	label := "unmatched"
	public := r.URL.Path == "/v1/openapi.json"
	if rt != nil {
		label, public = rt.pattern(), rt.public
	}
	var (
		p      principal
		status int
		body   any
		apiErr *Error
	)
	if !public {
		p, apiErr = s.authenticate(r)
		if apiErr == nil {
			apiErr = s.rateLimit(w, p)
		}
	}
	switch {
	case apiErr != nil:
	case rt == nil:
		apiErr = s.unmatched(r)
	case rt.write && p.role != events.Role_ROLE_OPERATOR:
		apiErr = errorf(http.StatusForbidden, CodeForbidden, "this token is read-only (role %s): %s needs an operator token", roleName(p.role), rt.pattern())
	default:
		apiErr = rt.checkQuery(r)
	}
	switch {
	case apiErr != nil || rt == nil:
	case rt.stream != nil:
		status = http.StatusOK
		apiErr = rt.stream(w, r, p)
	default:
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		status, body, apiErr = rt.h(r, p)
	}
	if apiErr != nil {
		status = apiErr.Status
		if allow := apiErr.allow; allow != "" {
			w.Header().Set("Allow", allow)
		}
		writeError(w, apiErr)
	} else if rt == nil || rt.stream == nil {
		writeJSON(w, status, body)
	}
	s.requests.WithLabelValues(label, strconv.Itoa(status)).Inc()
	s.duration.WithLabelValues(label).Observe(time.Since(start).Seconds())
	lvl := slog.LevelDebug
	if status >= 500 {
		lvl = slog.LevelWarn
	}
	if s.log.Enabled(r.Context(), lvl) {
		attrs := []slog.Attr{slog.String("method", r.Method), slog.String("route", label), slog.Int("status", status),
			slog.Duration("duration", time.Since(start))}
		if p.tenant != "" {
			attrs = append(attrs, slog.String("tenant", p.tenant), slog.String("token_id", p.tokenID))
		}
		if apiErr != nil && status >= 500 {
			attrs = append(attrs, slog.String("error", apiErr.Message))
		}
		s.log.LogAttrs(r.Context(), lvl, "api request", attrs...)
	}
}

// maxTokenLen bounds the Authorization value looked at.
const maxTokenLen = 512

func (s *Server) authenticate(r *http.Request) (principal, *Error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "missing bearer token: send Authorization: Bearer TOKEN")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxTokenLen {
		return principal{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "malformed Authorization header: send Authorization: Bearer TOKEN")
	}
	tok, err := s.cfg.Registry.Authenticate(strings.TrimSpace(token))
	if err != nil {
		return principal{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "unknown or malformed token")
	}
	return principal{tenant: tok.Tenant, role: tok.Role, tokenID: tok.ID}, nil
}

func roleName(r events.Role) string {
	switch r {
	case events.Role_ROLE_OPERATOR:
		return "operator"
	case events.Role_ROLE_VIEWER:
		return "viewer"
	}
	return "unspecified"
}

// unmatched tells 405 (the path is served, with other methods) from 404.
func (s *Server) unmatched(r *http.Request) *Error {
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pat := s.mux.Handler(r2); pat != "" && pat != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		e := errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))
		e.allow = strings.Join(allow, ", ")
		return e
	}
	return errorf(http.StatusNotFound, CodeNotFound, "no route %s %s (see /v1/openapi.json)", r.Method, r.URL.Path)
}

// notifier wakes writers waiting for a fold to apply their event.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) signal() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

// await returns once cond holds (true), or after WriteWait or when ctx
// ends (cond's last answer). cond is checked after every fold change.
func (s *Server) await(ctx context.Context, cond func() bool) bool {
	t := time.NewTimer(s.cfg.WriteWait)
	defer t.Stop()
	for {
		ch := s.changed.wait()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			return cond()
		case <-ctx.Done():
			return cond()
		}
	}
}
