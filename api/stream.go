package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
)

// change is one alert change at a log position, encoded once and shared by
// every subscriber (read-only once published).
type change struct {
	seq    uint64
	tenant string
	typ    events.Type
	alert  alerts.Alert
	data   []byte // alertView JSON, as GET /v1/alerts/{id}
}

// Reasons a subscriber is disconnected, sent as the stream's final comment.
const (
	dropSlow     = "slow consumer: the stream's buffer is full; reconnect with Last-Event-ID to resume"
	dropShutdown = "server shutting down; reconnect with Last-Event-ID to resume"
)

// subscriber is one stream (or internal follower) of a tenant's changes.
type subscriber struct {
	tenant string // "" receives every tenant's changes (internal use only)
	ch     chan *change
	done   chan struct{}
	once   sync.Once
	reason string // set before done is closed
}

func (s *subscriber) drop(reason string) {
	s.once.Do(func() {
		s.reason = reason
		close(s.done)
	})
}

// hub folds the alert events of the log into its own alerts.Set, so that it
// knows the log position of every change (the shared fold also applies
// writes before the log has them, with no position), keeps the latest
// History changes for resuming streams, and fans changes out to
// subscribers without ever blocking on one.
//
// Lock order: hub.mu, then nothing (subscriber channels are sent to with
// select/default under hub.mu).
type hub struct {
	store   events.Store
	fold    *alerts.Set
	history int
	buffer  int

	mu      sync.Mutex
	pos     uint64 // last stream position folded (see streamPos)
	counter posCounter
	ring    []*change
	head    int    // index of the oldest change in ring once full
	evicted uint64 // seq of the newest change dropped from ring (0: none)
	subs    map[*subscriber]struct{}
	running bool
	closed  bool
	ready   chan struct{}
	stopped chan struct{} // closed when run returns

	cur    *events.Event // the event being applied (hub goroutine only)
	curPos uint64        // its stream position

	subscribers prometheus.Gauge
	dropped     *prometheus.CounterVec
}

func newHub(store events.Store, history, buffer int) *hub {
	h := &hub{
		store: store, fold: alerts.NewSet(), history: history, buffer: buffer,
		subs: map[*subscriber]struct{}{}, ready: make(chan struct{}), stopped: make(chan struct{}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "halo_api_stream_subscribers", Help: "Connected GET /v1/alerts/stream subscribers.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "halo_api_stream_disconnects_total", Help: "Streams ended by the server, by reason (slow, shutdown).",
		}, []string{"reason"}),
	}
	h.fold.OnChange(h.onChange)
	return h
}

// run loads the log's alert events, then follows the log until ctx ends;
// every subscriber is then disconnected. Only one run at a time.
func (h *hub) run(ctx context.Context) error {
	h.mu.Lock()
	if h.running || h.closed {
		h.mu.Unlock()
		return errors.New("api: the alert stream is already running or was stopped")
	}
	h.running = true
	h.mu.Unlock()
	defer h.close()
	for ev, err := range h.store.Read(ctx, events.Query{Types: alerts.Types}) {
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("loading the alert stream: %w", err)
		}
		h.apply(&ev)
	}
	close(h.ready)
	for ctx.Err() == nil {
		err := h.follow(ctx)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		select { // the log failed: retry from the last position
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (h *hub) follow(ctx context.Context) error {
	sub, err := h.store.Subscribe(ctx, events.SubscribeOptions{Types: alerts.Types, StartSeq: h.position()>>posShift + 1})
	if err != nil {
		return fmt.Errorf("following the alert stream: %w", err)
	}
	defer sub.Close()
	for {
		d, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("following the alert stream: %w", err)
		}
		for i := range d.Events {
			h.apply(&d.Events[i])
		}
	}
}

// Stream positions: several events of one log message share its Seq, so a
// stream position is the Seq in the high bits and the event's index within
// its message in the low 16 bits (a message carries at most 256 events).
// Positions grow strictly, so Last-Event-ID tells every change apart.
const posShift = 16

// posCounter gives consecutive events their stream positions; events of
// one message arrive together, in order.
type posCounter struct {
	seq, idx uint64
}

func (c *posCounter) next(seq uint64) uint64 {
	if seq == c.seq {
		c.idx++
	} else {
		c.seq, c.idx = seq, 0
	}
	return seq<<posShift | c.idx
}

func (h *hub) position() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pos
}

// apply folds ev; onChange runs inside, synchronously, with h.cur = ev.
func (h *hub) apply(ev *events.Event) {
	pos := h.counter.next(ev.Seq)
	if ev.Seq != 0 && pos <= h.position() {
		return // a redelivery
	}
	h.cur, h.curPos = ev, pos
	h.fold.Apply(ev)
	h.cur = nil
	h.mu.Lock()
	h.pos = max(h.pos, pos)
	h.mu.Unlock()
}

func (h *hub) onChange(a alerts.Alert) {
	ev := h.cur
	if ev == nil {
		return
	}
	data, err := json.Marshal(alertView(a))
	if err != nil {
		return
	}
	c := &change{seq: h.curPos, tenant: a.Tenant, typ: ev.Type(), alert: a, data: data}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ring) < h.history {
		h.ring = append(h.ring, c)
	} else if h.history > 0 {
		h.evicted = h.ring[h.head].seq
		h.ring[h.head] = c
		h.head = (h.head + 1) % len(h.ring)
	} else {
		h.evicted = c.seq
	}
	for s := range h.subs {
		if s.tenant != "" && s.tenant != c.tenant {
			continue
		}
		select {
		case s.ch <- c:
		default:
			h.remove(s, dropSlow, "slow")
		}
	}
}

// remove unregisters s with a reason; h.mu is held.
func (h *hub) remove(s *subscriber, reason, label string) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	h.subscribers.Dec()
	h.dropped.WithLabelValues(label).Inc()
	s.drop(reason)
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	close(h.stopped)
	for s := range h.subs {
		h.remove(s, dropShutdown, "shutdown")
	}
}

// errStreamDown is returned by subscribe when the hub is not running.
var errStreamDown = errors.New("the alert stream is not running")

// subscription is a registered subscriber and what it must be sent before
// its live changes: backlog (from the ring) or, when the ring no longer
// reaches back to the cursor, the log range (after, upTo] to rebuild.
type subscription struct {
	*subscriber
	backlog []*change
	after   uint64
	upTo    uint64
	fromLog bool
}

// subscribe registers a subscriber of tenant's changes after the log
// position after (resume) or, when resume is false, from now on. It waits
// for the initial load. Registration and the backlog snapshot happen under
// one lock, so no change falls between the replay and the live feed.
func (h *hub) subscribe(ctx context.Context, tenant string, after uint64, resume bool, buffer int) (*subscription, error) {
	h.mu.Lock()
	running, closed := h.running, h.closed
	h.mu.Unlock()
	if !running || closed {
		return nil, errStreamDown
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errStreamDown
	}
	s := &subscription{subscriber: &subscriber{tenant: tenant, ch: make(chan *change, buffer), done: make(chan struct{})}, after: after, upTo: h.pos}
	if !resume {
		s.after = h.pos
	} else if after < h.pos {
		if after < h.evicted {
			s.fromLog = true
		} else {
			n := len(h.ring)
			for i := range n {
				c := h.ring[(h.head+i)%n]
				if c.seq > after && (tenant == "" || c.tenant == tenant) {
					s.backlog = append(s.backlog, c)
				}
			}
		}
	}
	h.subs[s.subscriber] = struct{}{}
	h.subscribers.Inc()
	return s, nil
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		h.subscribers.Dec()
	}
}

// rebuild returns, for a cursor older than the ring, one change per alert
// of the tenant changed in (s.after, s.upTo] of the log: the alert as it
// stands now, at the position of its last change in that range, in log
// order. Intermediate states are compacted into the latest one.
func (h *hub) rebuild(ctx context.Context, s *subscription) ([]*change, error) {
	last := map[string]*events.Event{}
	lastPos := map[string]uint64{}
	var counter posCounter
	for ev, err := range h.store.Read(ctx, events.Query{Types: alerts.Types}) {
		if err != nil {
			return nil, fmt.Errorf("reading the log to resume the stream: %w", err)
		}
		// Positions count every alert event of a message, of any tenant,
		// as the hub does; then the tenant filter applies.
		pos := counter.next(ev.Seq)
		if pos <= s.after || pos > s.upTo || (s.tenant != "" && ev.Tenant != s.tenant) {
			continue
		}
		if id := alertID(&ev); id != "" {
			e := ev
			last[ev.Tenant+"\x00"+id] = &e
			lastPos[ev.Tenant+"\x00"+id] = pos
		}
	}
	out := make([]*change, 0, len(last))
	for k, ev := range last {
		a, ok := h.fold.Get(ev.Tenant, alertID(ev))
		if !ok {
			continue
		}
		data, err := json.Marshal(alertView(a))
		if err != nil {
			continue
		}
		out = append(out, &change{seq: lastPos[k], tenant: ev.Tenant, typ: ev.Type(), alert: a, data: data})
	}
	slices.SortFunc(out, func(a, b *change) int { return cmpSeq(a.seq, b.seq) })
	return out, nil
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func alertID(ev *events.Event) string {
	switch p := ev.Payload.(type) {
	case *events.AlertRaised:
		return p.AlertId
	case *events.AlertUpdated:
		return p.AlertId
	case *events.AlertAcknowledged:
		return p.AlertId
	case *events.AlertResolved:
		return p.AlertId
	}
	return ""
}

// replay runs fn over what s must be sent before its live changes.
func (h *hub) replay(ctx context.Context, s *subscription) ([]*change, error) {
	if s.fromLog {
		return h.rebuild(ctx, s)
	}
	return s.backlog, nil
}

// parseLastEventID reads the resume cursor: the Last-Event-ID header, or
// the last_event_id query parameter (browsers' EventSource cannot set
// headers on the first connection).
func parseLastEventID(r *http.Request) (uint64, bool, *Error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || len(v) > 20 {
		return 0, false, badRequest("bad Last-Event-ID %q: use the id of an event this stream sent", truncate(v, 40))
	}
	return n, true, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// streamAlerts serves GET /v1/alerts/stream: Server-Sent Events of the
// tenant's alert changes ("event: alert", "id:" the log position of the
// change, "data:" the alert as GET /v1/alerts/{id}), ": ping" heartbeats,
// resumable with Last-Event-ID.
func (s *Server) streamAlerts(w http.ResponseWriter, r *http.Request, p principal) *Error {
	after, resume, perr := parseLastEventID(r)
	if perr != nil {
		return perr
	}
	sub, err := s.hub.subscribe(r.Context(), p.tenant, after, resume, s.cfg.StreamBuffer)
	if err != nil {
		if r.Context().Err() != nil {
			return errorf(http.StatusServiceUnavailable, CodeUnavailable, "request cancelled")
		}
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "%v; retry shortly", err)
	}
	defer s.hub.unsubscribe(sub.subscriber)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 0, 4096)
	write := func() bool {
		rc.SetWriteDeadline(time.Now().Add(s.cfg.StreamWriteTimeout))
		if _, err := w.Write(buf); err != nil {
			return false
		}
		buf = buf[:0]
		return rc.Flush() == nil
	}
	buf = append(buf, "retry: 2000\n: halo alert stream\n\n"...)
	if !write() {
		return nil
	}
	last := sub.after
	send := func(c *change) bool {
		if c.seq <= last {
			return true // already sent (replay and live overlap)
		}
		last = c.seq
		buf = appendEvent(buf, c)
		if len(sub.ch) > 0 && len(buf) < 32<<10 {
			return true // more is waiting: batch before flushing
		}
		return write()
	}
	backlog, err := s.hub.replay(r.Context(), sub)
	if err != nil {
		buf = append(buf, ": error: "+err.Error()+"\n\n"...)
		write()
		return nil
	}
	for _, c := range backlog {
		buf = appendEvent(buf, c)
		last = c.seq
		if len(buf) >= 32<<10 && !write() {
			return nil
		}
	}
	if len(buf) > 0 && !write() {
		return nil
	}
	ping := time.NewTicker(s.cfg.StreamHeartbeat)
	defer ping.Stop()
	for {
		select {
		case c := <-sub.ch:
			if !send(c) {
				return nil
			}
		case <-ping.C:
			buf = append(buf, ": ping\n\n"...)
			if !write() {
				return nil
			}
		case <-sub.done:
			buf = append(buf, ": disconnected: "+sub.reason+"\n\n"...)
			write()
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}

func appendEvent(buf []byte, c *change) []byte {
	buf = append(buf, "id: "...)
	buf = strconv.AppendUint(buf, c.seq, 10)
	buf = append(buf, "\nevent: alert\ndata: "...)
	buf = append(buf, c.data...)
	return append(buf, "\n\n"...)
}
