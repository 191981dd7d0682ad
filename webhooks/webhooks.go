package webhooks

import (
	"bufio"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/halo-sec/halo/internal/fsutil"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures an Engine.
type Config struct {
	// Dir holds the journal (webhooks.jsonl) and the secrets' key
	// (secret.key, 0600). Required; created if missing.
	Dir string
	// DenyPrivate refuses URLs that resolve to loopback, private,
	// link-local or reserved addresses, at registration and on every
	// connection (redirects are never followed). Default false: SPs often
	// receive on internal hosts.
	DenyPrivate bool
	// MaxAttempts is the number of failed attempts after which a delivery
	// is dead (dead letter). Default 10.
	MaxAttempts int
	// BaseDelay is the delay before the second attempt; it doubles with
	// every failure, with jitter (between half and all of it). Default 1 s.
	BaseDelay time.Duration
	// MaxDelay caps the delay between attempts. Default 5 min (ten
	// attempts then span about 7 to 14 minutes).
	MaxDelay time.Duration
	// Timeout bounds one attempt. Default 10 s.
	Timeout time.Duration
	// Concurrency is the most attempts in flight. Default 8.
	Concurrency int
	// History is how many finished (delivered or dead) deliveries are kept
	// per webhook for the deliveries list. Default 1000.
	History int
	// Logger receives warnings (never a secret). Default: discard.
	Logger *slog.Logger
	// Metrics registers halo_webhook_deliveries_total{result}. Optional.
	Metrics prometheus.Registerer
	// Transport replaces the HTTP transport (tests). Default: a clone of
	// http.DefaultTransport (no proxy, and a dialer refusing non-public
	// addresses when DenyPrivate).
	Transport http.RoundTripper
}

func (c *Config) setDefaults() {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = time.Second
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 5 * time.Minute
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.History <= 0 {
		c.History = 1000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with c.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("webhooks: Dir is required"))
	}
	if c.MaxDelay < c.BaseDelay {
		errs = append(errs, errors.New("webhooks: MaxDelay is below BaseDelay"))
	}
	return errors.Join(errs...)
}

// Filter selects the alert changes a webhook receives. Empty lists match
// everything.
type Filter struct {
	Severity []string `json:"severity,omitempty"`
	Detector []string `json:"detector,omitempty"`
	Device   []string `json:"device,omitempty"`
}

func (f *Filter) match(c *Change) bool {
	return (len(f.Severity) == 0 || slices.Contains(f.Severity, c.Severity)) &&
		(len(f.Detector) == 0 || slices.Contains(f.Detector, c.Detector)) &&
		(len(f.Device) == 0 || slices.Contains(f.Device, c.Device))
}

// Webhook is a registered endpoint. Its secret is never part of it.
type Webhook struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant"`
	URL        string    `json:"url"`
	Filter     Filter    `json:"filter"`
	Created    time.Time `json:"created"`
	CreatedSeq uint64    `json:"created_seq"` // changes after this position are delivered
}

// Status is where a delivery stands.
type Status string

// Delivery statuses.
const (
	StatusPending   Status = "pending"   // not attempted yet
	StatusFailed    Status = "failed"    // an attempt failed; NextAttempt retries
	StatusDelivered Status = "delivered" // the receiver answered 2xx
	StatusDead      Status = "dead"      // MaxAttempts failures: given up
)

// Delivery is one alert change to deliver to one webhook.
type Delivery struct {
	ID          string          `json:"id"`
	Webhook     string          `json:"webhook"`
	Tenant      string          `json:"tenant"`
	Seq         uint64          `json:"seq"`
	Type        string          `json:"type"`
	AlertID     string          `json:"alert_id"`
	Status      Status          `json:"status"`
	Attempts    int             `json:"attempts"`
	LastError   string          `json:"last_error,omitempty"`
	Created     time.Time       `json:"created"`
	NextAttempt time.Time       `json:"next_attempt,omitzero"`
	LastAttempt time.Time       `json:"last_attempt,omitzero"`
	Body        json.RawMessage `json:"body"`
}

// Change is an alert change to deliver: its log position (the SSE id),
// the event type that changed it, what filters match on, and the alert's
// JSON as GET /v1/alerts/{id} returns it.
type Change struct {
	Seq      uint64
	Tenant   string
	Type     string
	AlertID  string
	Device   string
	Detector string
	Severity string
	Alert    json.RawMessage
}

type hook struct {
	Webhook
	sealed string
	secret []byte
}

// record is one journal line; the last record about an id wins.
type record struct {
	Op       string    `json:"op"` // hook, delete, delivery, cursor
	Hook     *Webhook  `json:"hook,omitempty"`
	Secret   string    `json:"secret_enc,omitempty"` // AES-256-GCM, base64
	ID       string    `json:"id,omitempty"`
	Delivery *Delivery `json:"delivery,omitempty"`
	Seq      uint64    `json:"seq,omitempty"`
}

// Engine is the webhook registry and delivery engine. It is safe for
// concurrent use. Handle enqueues (durably) the deliveries of an alert
// change; Run attempts them until ctx ends. State lives in a journal under
// Config.Dir, so a restart resumes every pending delivery.
type Engine struct {
	cfg    Config
	lock   *os.File // lockDir's, released by Close
	log    *slog.Logger
	client *http.Client
	seal   *sealer
	result *prometheus.CounterVec

	mu         sync.Mutex
	f          *os.File
	lines      int
	size       int64 // bytes of whole records in the journal
	torn       bool  // a failed append could not be cut off: compact first
	hooks      map[string]*hook
	deliveries map[string]*Delivery
	byHook     map[string][]string // delivery ids, oldest first
	inflight   map[string]bool
	cursor     uint64
	hasCursor  bool
	started    chan struct{} // closed once there is a cursor (see Begin)
	dirty      int           // changes handled since the cursor was last written
	closed     bool
	wake       chan struct{}
	now        func() time.Time
}

// New opens (or creates) the journal in cfg.Dir.
func New(cfg Config) (*Engine, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			fsutil.Unlock(lock)
		}
	}()
	seal, err := loadOrCreateKey(filepath.Join(cfg.Dir, "secret.key"))
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	e := &Engine{
		cfg: cfg, log: cfg.Logger, seal: seal,
		hooks: map[string]*hook{}, deliveries: map[string]*Delivery{}, byHook: map[string][]string{},
		inflight: map[string]bool{}, wake: make(chan struct{}, 1), started: make(chan struct{}), now: time.Now,
		result: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "halo_webhook_deliveries_total", Help: "Webhook delivery attempts by result (delivered, failed, dead).",
		}, []string{"result"}),
	}
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(e.result); err != nil {
			return nil, err
		}
	}
	tr := cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		d := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
		if cfg.DenyPrivate {
			d.Control = denyPrivateControl
		}
		t.DialContext = d.DialContext
		tr = t
	}
	e.client = &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := e.load(); err != nil {
		return nil, err
	}
	if e.hasCursor {
		close(e.started)
	}
	e.lock, ok = lock, true
	return e, nil
}

// ErrInUse is returned by New for a directory another process's engine
// holds: two engines on one journal would each deliver every alert, and
// neither would see the webhooks the other registers.
var ErrInUse = errors.New("webhooks: the directory is in use by another process")

// lockDir takes the engine's lock of dir (fsutil.Lock of dir/lock), or
// fails with ErrInUse naming the holder.
func lockDir(dir string) (*os.File, error) {
	f, holder, err := fsutil.Lock(filepath.Join(dir, "lock"))
	if errors.Is(err, fsutil.ErrLocked) {
		return nil, fmt.Errorf("%w: %s (%s)", ErrInUse, dir, cmp.Or(holder, "another process"))
	}
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return f, nil
}

func (e *Engine) journalPath() string { return filepath.Join(e.cfg.Dir, "webhooks.jsonl") }

// load replays the journal, then compacts it.
func (e *Engine) load() error {
	f, err := os.Open(e.journalPath())
	if err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		n := 0
		for sc.Scan() {
			n++
			var r record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				// A torn last line (crash mid-write) is expected; skip it.
				e.log.Warn("webhooks: skipping a malformed journal line", "line", n, "error", err)
				continue
			}
			if err := e.replay(&r); err != nil {
				f.Close()
				return err
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return fmt.Errorf("webhooks: reading the journal: %w", err)
		}
	} else if !os.IsNotExist(err) {
		return fmt.Errorf("webhooks: %w", err)
	}
	return e.compact()
}

func (e *Engine) replay(r *record) error {
	switch r.Op {
	case "hook":
		if r.Hook == nil {
			return nil
		}
		secret, err := e.seal.open(r.Hook.ID, r.Secret)
		if err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
		e.hooks[r.Hook.ID] = &hook{Webhook: *r.Hook, sealed: r.Secret, secret: secret}
	case "delete":
		e.dropHook(r.ID)
	case "delivery":
		if d := r.Delivery; d != nil {
			if _, ok := e.hooks[d.Webhook]; ok {
				e.put(d)
			}
		}
	case "cursor":
		e.cursor, e.hasCursor = max(e.cursor, r.Seq), true
	}
	return nil
}

func (e *Engine) dropHook(id string) {
	delete(e.hooks, id)
	for _, did := range e.byHook[id] {
		delete(e.deliveries, did)
	}
	delete(e.byHook, id)
}

// put stores d (replacing the delivery of the same id) and trims the
// webhook's finished deliveries to History.
func (e *Engine) put(d *Delivery) {
	if _, ok := e.deliveries[d.ID]; !ok {
		e.byHook[d.Webhook] = append(e.byHook[d.Webhook], d.ID)
	}
	e.deliveries[d.ID] = d
	ids := e.byHook[d.Webhook]
	if len(ids) <= e.cfg.History {
		return
	}
	finished := 0
	for _, id := range ids {
		if x := e.deliveries[id]; x.Status == StatusDelivered || x.Status == StatusDead {
			finished++
		}
	}
	keep := ids[:0]
	for _, id := range ids {
		x := e.deliveries[id]
		if finished > e.cfg.History && (x.Status == StatusDelivered || x.Status == StatusDead) {
			finished--
			delete(e.deliveries, id)
			continue
		}
		keep = append(keep, id)
	}
	e.byHook[d.Webhook] = keep
}

// records is the live state as journal records.
func (e *Engine) records() []record {
	var out []record
	for _, h := range e.hooks {
		w := h.Webhook
		out = append(out, record{Op: "hook", Hook: &w, Secret: h.sealed})
	}
	slices.SortFunc(out, func(a, b record) int { return strings.Compare(a.Hook.ID, b.Hook.ID) })
	for _, r := range slices.Clone(out) {
		for _, id := range e.byHook[r.Hook.ID] {
			out = append(out, record{Op: "delivery", Delivery: e.deliveries[id]})
		}
	}
	if e.hasCursor {
		out = append(out, record{Op: "cursor", Seq: e.cursor})
	}
	return out
}

// compact rewrites the journal with the live state only (write, fsync,
// rename) and reopens it for appending.
func (e *Engine) compact() error {
	tmp := e.journalPath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("webhooks: compacting the journal: %w", err)
	}
	w := bufio.NewWriter(f)
	recs := e.records()
	for i := range recs {
		b, _ := json.Marshal(&recs[i])
		w.Write(append(b, '\n'))
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("webhooks: compacting the journal: %w", err)
	}
	if err := os.Rename(tmp, e.journalPath()); err != nil {
		return fmt.Errorf("webhooks: compacting the journal: %w", err)
	}
	if e.f != nil {
		e.f.Close()
	}
	if e.f, err = os.OpenFile(e.journalPath(), os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	fi, err := e.f.Stat()
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	e.lines, e.size, e.torn = len(recs), fi.Size(), false
	return nil
}

// write appends records and syncs; e.mu is held.
func (e *Engine) write(recs ...record) error {
	if e.closed {
		return ErrClosed
	}
	var buf []byte
	for i := range recs {
		b, err := json.Marshal(&recs[i])
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	if e.torn {
		if err := e.compact(); err != nil {
			return fmt.Errorf("webhooks: writing the journal: %w", err)
		}
	}
	_, err := e.f.Write(buf)
	if err == nil {
		err = e.f.Sync()
	}
	if err != nil {
		// A short write (a full disk) left part of a line: cut it off, or
		// the next append would continue that line and the journal would
		// drop both records as one malformed line when loaded (a webhook
		// created and acknowledged after the failure was lost at the next
		// start). If it cannot be cut, the next write rewrites the journal.
		if terr := e.f.Truncate(e.size); terr != nil {
			e.torn = true
		}
		return fmt.Errorf("webhooks: writing the journal: %w", err)
	}
	e.size += int64(len(buf))
	e.lines += len(recs)
	if live := len(e.hooks) + len(e.deliveries) + 1; e.lines > 4*live+10000 {
		if err := e.compact(); err != nil {
			e.log.Warn("webhooks: journal compaction failed", "error", err)
		}
	}
	return nil
}

func (e *Engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// MinSecret is the shortest signing secret accepted.
const MinSecret = 16

// Create registers a webhook of tenant. The secret is sealed before it is
// written and never returned.
func (e *Engine) Create(ctx context.Context, tenant, rawURL, secret string, f Filter) (Webhook, error) {
	u, err := url.Parse(rawURL)
	var errs []error
	switch {
	case err != nil || len(rawURL) > 2048:
		errs = append(errs, fmt.Errorf("url %q is not a URL", truncate(rawURL, 80)))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("url must be http:// or https://"))
	case u.Host == "" || u.Hostname() == "":
		errs = append(errs, fmt.Errorf("url has no host"))
	case u.User != nil:
		errs = append(errs, fmt.Errorf("url must not carry credentials; authenticate with the signature"))
	}
	if len(secret) < MinSecret || len(secret) > 512 {
		errs = append(errs, fmt.Errorf("secret must be %d to 512 bytes", MinSecret))
	}
	for _, s := range f.Severity {
		if !slices.Contains([]string{"info", "low", "medium", "high", "critical"}, s) {
			errs = append(errs, fmt.Errorf("filter severity %q: use info, low, medium, high or critical", truncate(s, 40)))
		}
	}
	if len(f.Severity)+len(f.Detector)+len(f.Device) > 1000 {
		errs = append(errs, errors.New("filters name more than 1000 values"))
	}
	if len(errs) > 0 {
		return Webhook{}, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	if e.cfg.DenyPrivate {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := checkPublic(cctx, u)
		cancel()
		if err != nil {
			return Webhook{}, fmt.Errorf("%w: %w (this server refuses non-public webhook URLs)", ErrInvalid, err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	w := Webhook{ID: newID("wh_"), Tenant: tenant, URL: u.String(), Filter: f, Created: e.now().UTC(), CreatedSeq: e.cursor}
	h := &hook{Webhook: w, sealed: e.seal.seal(w.ID, []byte(secret)), secret: []byte(secret)}
	if err := e.write(record{Op: "hook", Hook: &w, Secret: h.sealed}); err != nil {
		return Webhook{}, err
	}
	e.hooks[w.ID] = h
	return w, nil
}

// List returns the tenant's webhooks, oldest first.
func (e *Engine) List(tenant string) []Webhook {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []Webhook{}
	for _, h := range e.hooks {
		if h.Tenant == tenant {
			out = append(out, h.Webhook)
		}
	}
	slices.SortFunc(out, func(a, b Webhook) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Get returns the tenant's webhook id.
func (e *Engine) Get(tenant, id string) (Webhook, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.hooks[id]
	if !ok || h.Tenant != tenant {
		return Webhook{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return h.Webhook, nil
}

// Delete removes the tenant's webhook id and its deliveries.
func (e *Engine) Delete(tenant, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.hooks[id]
	if !ok || h.Tenant != tenant {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err := e.write(record{Op: "delete", ID: id}); err != nil {
		return err
	}
	e.dropHook(id)
	return nil
}

// Deliveries returns the deliveries of the tenant's webhook id, newest
// first (at most limit, when limit > 0).
func (e *Engine) Deliveries(tenant, id string, limit int) ([]Delivery, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.hooks[id]
	if !ok || h.Tenant != tenant {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	ids := e.byHook[id]
	out := make([]Delivery, 0, len(ids))
	for i := len(ids) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		out = append(out, *e.deliveries[ids[i]])
	}
	return out, nil
}

// Cursor is the log position of the last change handled, and whether one
// was ever recorded (a new journal has none: start from now, and Begin).
func (e *Engine) Cursor() (uint64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cursor, e.hasCursor
}

// Begin durably records seq as the cursor of a journal that has none: the
// log position from which its feed follows the alert changes, set by the
// feed once it is subscribed there. A webhook's CreatedSeq is the cursor
// when it is created, so one created before any cursor would promise every
// change after position 0 while the feed starts wherever the log is when
// it subscribes: the changes in between would be neither delivered nor
// skipped on purpose. Started tells callers when Create is safe. Begin does
// nothing on a journal that already has a cursor.
func (e *Engine) Begin(seq uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hasCursor {
		return nil
	}
	if err := e.write(record{Op: "cursor", Seq: seq}); err != nil {
		return err
	}
	e.setCursor(seq)
	return nil
}

// Started is closed once the journal has a cursor (loaded, from Begin, or
// from the first change handled): from then on a new webhook gets every
// matching change after its creation.
func (e *Engine) Started() <-chan struct{} { return e.started }

// setCursor moves the cursor to seq; e.mu is held.
func (e *Engine) setCursor(seq uint64) {
	e.cursor = seq
	if !e.hasCursor {
		e.hasCursor = true
		close(e.started)
	}
}

// Handle durably enqueues one delivery of c per matching webhook of its
// tenant. It is idempotent: a change at or before the cursor, or a
// delivery already enqueued, is skipped.
func (e *Engine) Handle(_ context.Context, c Change) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hasCursor && c.Seq <= e.cursor {
		return nil
	}
	var recs []record
	for _, h := range e.hooks {
		if h.Tenant != c.Tenant || c.Seq <= h.CreatedSeq || !h.Filter.match(&c) {
			continue
		}
		id := deliveryID(h.ID, c.Seq)
		if _, ok := e.deliveries[id]; ok {
			continue
		}
		body, err := json.Marshal(struct {
			ID    string          `json:"id"`
			Type  string          `json:"type"`
			Seq   uint64          `json:"seq"`
			Alert json.RawMessage `json:"alert"`
		}{id, c.Type, c.Seq, c.Alert})
		if err != nil {
			return err
		}
		now := e.now().UTC()
		d := &Delivery{ID: id, Webhook: h.ID, Tenant: h.Tenant, Seq: c.Seq, Type: c.Type, AlertID: c.AlertID,
			Status: StatusPending, Created: now, NextAttempt: now, Body: body}
		recs = append(recs, record{Op: "delivery", Delivery: d})
	}
	e.dirty++
	if len(recs) > 0 || e.dirty >= 256 || !e.hasCursor {
		recs = append(recs, record{Op: "cursor", Seq: c.Seq})
		if err := e.write(recs...); err != nil {
			return err
		}
		e.dirty = 0
	}
	for _, r := range recs {
		if r.Delivery != nil {
			e.put(r.Delivery)
		}
	}
	e.setCursor(c.Seq)
	if len(recs) > 1 {
		e.signal()
	}
	return nil
}

func deliveryID(hookID string, seq uint64) string {
	sum := sha256.Sum256([]byte(hookID + "/" + strconv.FormatUint(seq, 10)))
	return "dlv_" + hex.EncodeToString(sum[:16])
}

func newID(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Sign returns the X-Halo-Signature value of body sent at timestamp ts
// (Unix seconds): "sha256=" and the lowercase hex HMAC-SHA256 of
// ts + "." + body under secret.
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature and that ts is within tolerance of now; it is
// what a Go receiver calls (see docs/webhooks.md).
func Verify(secret []byte, tsHeader, sigHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return errors.New("bad X-Halo-Timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("stale X-Halo-Timestamp")
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sigHeader)) {
		return errors.New("bad X-Halo-Signature")
	}
	return nil
}

// Run attempts due deliveries, at most Concurrency at a time, until ctx
// ends; it then waits for the attempts in flight and returns nil.
func (e *Engine) Run(ctx context.Context) error {
	sem := make(chan struct{}, e.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		due, next := e.due(cap(sem) - len(sem))
		for _, d := range due {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				e.attempt(ctx, d)
			}()
		}
		wait := time.Second
		if !next.IsZero() {
			wait = min(wait, max(time.Until(next), time.Millisecond))
		}
		if len(sem) == cap(sem) {
			wait = 10 * time.Millisecond
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		case <-timer.C:
		}
	}
}

// attemptJob is what an attempt needs, copied under the lock.
type attemptJob struct {
	id, url string
	secret  []byte
	body    []byte
	typ     string
}

// due marks up to n due deliveries in flight and returns them, and the
// earliest next attempt of the others.
func (e *Engine) due(n int) ([]attemptJob, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	var out []attemptJob
	var next time.Time
	var ready []*Delivery
	for _, d := range e.deliveries {
		if (d.Status != StatusPending && d.Status != StatusFailed) || e.inflight[d.ID] {
			continue
		}
		if d.NextAttempt.After(now) {
			if next.IsZero() || d.NextAttempt.Before(next) {
				next = d.NextAttempt
			}
			continue
		}
		ready = append(ready, d)
	}
	slices.SortFunc(ready, func(a, b *Delivery) int { return cmpU(a.Seq, b.Seq) })
	for _, d := range ready {
		if len(out) >= n {
			next = now
			break
		}
		h := e.hooks[d.Webhook]
		e.inflight[d.ID] = true
		out = append(out, attemptJob{id: d.ID, url: h.URL, secret: h.secret, body: d.Body, typ: d.Type})
	}
	return out, next
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (e *Engine) attempt(ctx context.Context, j attemptJob) {
	err := e.post(ctx, j)
	if ctx.Err() != nil && err != nil {
		e.mu.Lock()
		delete(e.inflight, j.id) // shutting down: not a failure
		e.mu.Unlock()
		return
	}
	e.finish(j.id, err)
}

func (e *Engine) post(ctx context.Context, j attemptJob) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, strings.NewReader(string(j.body)))
	if err != nil {
		return err
	}
	ts := e.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "halo-webhooks/1")
	req.Header.Set("X-Halo-Delivery", j.id)
	req.Header.Set("X-Halo-Event", j.typ)
	req.Header.Set("X-Halo-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Halo-Signature", Sign(j.secret, ts, j.body))
	res, err := e.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is known; keep the cause
		}
		return err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			return fmt.Errorf("HTTP %d: redirects are not followed", res.StatusCode)
		}
		return fmt.Errorf("HTTP %d", res.StatusCode)
	}
	return nil
}

// finish records an attempt's outcome.
func (e *Engine) finish(id string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.inflight, id)
	old, ok := e.deliveries[id]
	if !ok {
		return // its webhook was deleted meanwhile
	}
	d := *old
	now := e.now().UTC()
	d.Attempts++
	d.LastAttempt = now
	result := "delivered"
	if err == nil {
		d.Status, d.LastError, d.NextAttempt = StatusDelivered, "", time.Time{}
	} else {
		d.LastError = truncate(err.Error(), 300)
		if d.Attempts >= e.cfg.MaxAttempts {
			d.Status, d.NextAttempt, result = StatusDead, time.Time{}, "dead"
			e.log.Warn("webhooks: delivery dead after repeated failures", "tenant", d.Tenant, "webhook_id", d.Webhook,
				"delivery_id", d.ID, "attempts", d.Attempts, "error", d.LastError)
		} else {
			d.Status, d.NextAttempt, result = StatusFailed, now.Add(e.backoff(d.Attempts)), "failed"
		}
	}
	e.result.WithLabelValues(result).Inc()
	if werr := e.write(record{Op: "delivery", Delivery: &d}); werr != nil {
		e.log.Warn("webhooks: recording a delivery failed; it will be attempted again", "delivery_id", d.ID, "error", werr)
		return
	}
	*old = d
	if err == nil {
		// The receiver is back: retry its other waiting deliveries now
		// rather than at their backed-off times.
		for _, did := range e.byHook[d.Webhook] {
			if x := e.deliveries[did]; x.Status == StatusFailed && x.NextAttempt.After(now) {
				x.NextAttempt = now
			}
		}
		e.signal()
	} else if d.Status == StatusDead {
		e.put(old) // trims history
	}
}

// backoff is the delay after the n-th failure: BaseDelay * 2^(n-1), capped
// at MaxDelay, of which a random half is jitter.
func (e *Engine) backoff(n int) time.Duration {
	d := e.cfg.MaxDelay
	if n-1 < 32 {
		d = min(e.cfg.BaseDelay<<(n-1), e.cfg.MaxDelay)
	}
	if d <= 0 {
		d = e.cfg.MaxDelay
	}
	half := d / 2
	return half + time.Duration(mrand.Int64N(int64(half)+1))
}

// Close syncs the cursor and closes the journal; it is safe to call twice.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	var err error
	if e.dirty > 0 {
		err = e.write(record{Op: "cursor", Seq: e.cursor})
	}
	e.closed = true
	err = errors.Join(err, e.f.Close())
	fsutil.Unlock(e.lock)
	return err
}
