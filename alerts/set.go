package alerts

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/slab"
)

// Types are the event types the set folds.
var Types = []events.Type{events.TypeAlertRaised, events.TypeAlertUpdated, events.TypeAlertAcknowledged, events.TypeAlertResolved}

// tenantAlerts holds one tenant's alerts.
type tenantAlerts struct {
	byID  map[string]*Alert
	order []*Alert       // by (Time, ID), oldest first
	open  map[string]int // device -> alerts not resolved
}

// Set is the fold of the alert events. It is safe for concurrent use.
//
// Apply is idempotent: an event applied twice (once by Ack or Resolve right
// after appending it, once more when Follow reads it back) changes the set
// once. Hooks registered with OnChange are called outside the lock.
type Set struct {
	mu       sync.RWMutex
	tenants  map[string]*tenantAlerts
	seq      uint64
	onChange []func(Alert)
	// last is the alert apply last looked up, lastRaised the one it last
	// raised (alerts are never removed): the updates of one alert often
	// follow each other (a device's inbound connections), between the
	// raises of others (the Zeek replay's new destinations), and a new
	// alert's updates often follow it. Only apply uses them, under the
	// write lock.
	last, lastRaised *Alert
	// lastTenant is the tenant apply last raised an alert of, named
	// lastTenantName (tenants are never removed): a replay's alerts are
	// mostly one tenant's, looked up in tenants at every raise.
	lastTenant     *tenantAlerts
	lastTenantName string

	opMu sync.Mutex // serializes Ack and Resolve (check, then append)

	// The memory of the alerts raised, handed out from chunks under the
	// write lock (alerts are never removed, so a chunk lives as long as
	// its alerts): an alert, its features and, for most, its one evidence
	// id were three allocations a raise.
	raised   []raisedAlert
	features []Feature

	// evidence indexes the evidence ids of the alerts holding at least
	// evidenceIndexed and fewer than MaxEvidence: an update's ids are
	// checked against those of its alert, and a scan of them each time
	// was quadratic in an alert's updates (the Zeek replay's four inbound
	// alerts gather 1 000 ids over some 4 000 updates: 2 M comparisons,
	// about a fifth of the fold's CPU). An index is sized for up to four
	// times the ids it starts with, and dropped at MaxEvidence, after which
	// no id is checked.
	evidence map[*Alert]*evidenceIndex
}

// evidenceIndex is the set of an alert's evidence ids, the first n of
// them: the ids appended since are added when next looked up.
type evidenceIndex struct {
	ids map[events.ID]struct{}
	n   int
}

// evidenceIndexed is how many evidence ids an alert holds before they are
// indexed: a scan of fewer costs about a lookup.
const evidenceIndexed = 64

// hasEvidence reports whether id is one of a's evidence ids.
func (s *Set) hasEvidence(a *Alert, id events.ID) bool {
	if len(a.Evidence) < evidenceIndexed {
		return slices.Contains(a.Evidence, id)
	}
	ix := s.evidence[a]
	if ix == nil {
		if s.evidence == nil {
			s.evidence = map[*Alert]*evidenceIndex{}
		}
		ix = &evidenceIndex{ids: make(map[events.ID]struct{}, min(4*len(a.Evidence), MaxEvidence))}
		s.evidence[a] = ix
	}
	for ; ix.n < len(a.Evidence); ix.n++ {
		ix.ids[a.Evidence[ix.n]] = struct{}{}
	}
	_, ok := ix.ids[id]
	return ok
}

// raisedAlert is an alert with the memory of one evidence id: most are
// raised with one (a slice of it capped at one, so that an update's
// evidence appended goes elsewhere).
type raisedAlert struct {
	a  Alert
	ev [1]events.ID
}

// alertChunk and featureChunk are how many alerts and features the set
// allocates at once.
const (
	alertChunk   = 64
	featureChunk = 256
)

// newFeatures returns n features from s.features' chunks, capped at n: an
// append to them goes elsewhere.
func (s *Set) newFeatures(n int) []Feature {
	if n > featureChunk/4 { // a chunk's tail not wasted on one large alert
		return make([]Feature, n)
	}
	if len(s.features) < n {
		s.features = make([]Feature, featureChunk)
	}
	f := s.features[:n:n]
	s.features = s.features[n:]
	return f
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{tenants: map[string]*tenantAlerts{}} }

// Load folds every alert event of the log into a new set.
func Load(ctx context.Context, store events.Store) (*Set, error) {
	s := NewSet()
	if err := events.FoldAll(ctx, store, Types, "alerts", s.Apply); err != nil {
		return nil, err
	}
	return s, nil
}

// Follow applies alert events appended after the set's last position until
// ctx ends; it returns nil when ctx ends.
func (s *Set) Follow(ctx context.Context, store events.Store) error {
	start := s.Seq() + 1
	return events.FollowFrom(ctx, store, Types, start, "alerts", s.Apply)
}

// OnChange registers fn, called outside the lock with a copy of the alert
// after every change applied from now on (raised, updated, acknowledged,
// resolved).
func (s *Set) OnChange(fn func(Alert)) {
	s.mu.Lock()
	s.onChange = append(s.onChange, fn)
	s.mu.Unlock()
}

// Seq is the log position of the last event applied.
func (s *Set) Seq() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.seq
}

// Apply folds one event; events of other types, updates of unknown alerts
// and events naming another tenant's alert are ignored.
func (s *Set) Apply(ev *events.Event) {
	s.mu.Lock()
	if ev.Seq > s.seq {
		s.seq = ev.Seq
	}
	changed := s.apply(ev)
	hooks := s.onChange
	var out Alert
	if changed != nil && len(hooks) > 0 { // a copy for the hooks only: a fold with none (a replay) needs none
		out = changed.clone()
	}
	s.mu.Unlock()
	if changed != nil {
		for _, fn := range hooks {
			fn(out)
		}
	}
}

// ApplyAll folds events in order, as Apply one by one, under one lock (a
// replay's outputs come in chunks of thousands: a lock and unlock each were
// a tenth of the fold). Hooks are called after, in order, with a copy of
// the alert after each change.
func (s *Set) ApplyAll(evs []events.Event) {
	s.mu.Lock()
	hooks := s.onChange
	var outs []Alert
	for i := range evs {
		ev := &evs[i]
		if ev.Seq > s.seq {
			s.seq = ev.Seq
		}
		if changed := s.apply(ev); changed != nil && len(hooks) > 0 {
			outs = append(outs, changed.clone())
		}
	}
	s.mu.Unlock()
	for _, a := range outs {
		for _, fn := range hooks {
			fn(a)
		}
	}
}

func (s *Set) tenant(name string) *tenantAlerts {
	if ta := s.lastTenant; ta != nil && s.lastTenantName == name {
		return ta
	}
	ta, ok := s.tenants[name]
	if !ok {
		ta = &tenantAlerts{byID: map[string]*Alert{}, open: map[string]int{}}
		s.tenants[name] = ta
	}
	s.lastTenant, s.lastTenantName = ta, name
	return ta
}

// lookup returns the tenant's alert id, or nil.
func (s *Set) lookup(tenant, id string) *Alert {
	if ta, ok := s.tenants[tenant]; ok {
		return ta.byID[id]
	}
	return nil
}

// lookupLast is lookup for apply, through s.last and s.lastRaised.
func (s *Set) lookupLast(tenant, id string) *Alert {
	if a := s.last; a != nil && a.ID == id && a.Tenant == tenant {
		return a
	}
	if a := s.lastRaised; a != nil && a.ID == id && a.Tenant == tenant {
		s.last = a
		return a
	}
	a := s.lookup(tenant, id)
	if a != nil {
		s.last = a
	}
	return a
}

// insertAt returns where a goes in order, whose last alert is not before
// it: the first alert not before it. Alerts out of order are mostly late
// by a little (the alerts of one window, raised in the order of their
// findings, not of their ids), so the search gallops back from the end and
// then bisects the stretch it found: a bisection of the whole order read
// a dozen alerts from across the heap for each.
func insertAt(order []*Alert, a *Alert) int {
	hi := len(order) - 1 // order[hi] is not before a
	lo := hi - 1
	for step := 1; lo >= 0 && !order[lo].before(a.Time, a.ID); step *= 2 {
		hi, lo = lo, lo-step
	}
	lo = max(lo+1, 0) // the first alert not before a is in order[lo:hi+1]
	return lo + sort.Search(hi-lo, func(i int) bool { return !order[lo+i].before(a.Time, a.ID) })
}

// apply folds ev under the lock and returns the alert it changed, if any.
func (s *Set) apply(ev *events.Event) *Alert {
	switch p := ev.Payload.(type) {
	case *events.AlertRaised:
		if p.AlertId == "" || ev.Tenant == "" {
			return nil
		}
		ta := s.tenant(ev.Tenant)
		if a, ok := ta.byID[p.AlertId]; ok {
			if a.Seq == 0 && ev.Seq != 0 {
				a.Seq = ev.Seq
			}
			return nil // raised once; a repeat changes nothing
		}
		r := slab.Next(&s.raised, alertChunk)
		a := &r.a
		// Field by field into the zero alert: a composite literal was
		// built on the stack and copied in whole (wbMove: some 420 bytes,
		// their pointers through the write barrier while the collector
		// marks); the Zeek replay's fold 0.97× the CPU.
		a.ID, a.Tenant, a.Device, a.Detector, a.Severity = p.AlertId, ev.Tenant, ev.Device, p.Detector, p.Severity
		a.Score, a.Status, a.Time, a.LastSeen, a.Count = p.Score, StatusOpen, ev.Time.UTC(), ev.Time.UTC(), 1
		a.Summary, a.Explanation, a.Key = p.Summary, p.Explanation, p.Key
		a.WindowStart, a.WindowEnd, a.Seq = nanos(p.WindowStart), nanos(p.WindowEnd), ev.Seq
		if len(p.Evidence) == 1 && len(p.Evidence[0]) == len(events.ID{}) { // most: evidenceIDs in the alert's memory
			r.ev[0] = events.ID(p.Evidence[0])
			a.Evidence = r.ev[:1:1]
		} else {
			a.Evidence = evidenceIDs(p.Evidence)
		}
		if len(a.Evidence) > MaxEvidence {
			a.Evidence = a.Evidence[:MaxEvidence]
		}
		if len(p.Features) > 0 { // nil for none
			a.Features = s.newFeatures(len(p.Features))
			for i, f := range p.Features {
				a.Features[i] = Feature{Name: f.Name, Value: f.Value, Baseline: f.Baseline}
			}
		}
		ta.byID[a.ID] = a
		s.lastRaised = a
		if n := len(ta.order); n == 0 || ta.order[n-1].before(a.Time, a.ID) {
			ta.order = append(ta.order, a) // alerts mostly come in time order
		} else {
			ta.order = slices.Insert(ta.order, insertAt(ta.order, a), a)
		}
		ta.open[a.Device]++
		return a
	case *events.AlertUpdated:
		a := s.lookupLast(ev.Tenant, p.AlertId)
		if a == nil {
			return nil
		}
		changed := false
		if p.Count > a.Count {
			a.Count, changed = p.Count, true
		}
		if ls := nanos(p.LastSeen); ls.After(a.LastSeen) {
			a.LastSeen, changed = ls, true
		}
		if p.Score > a.Score {
			a.Score, changed = p.Score, true
		}
		for _, b := range p.Evidence { // as evidenceIDs, without its slice
			if len(a.Evidence) >= MaxEvidence {
				break
			}
			if len(b) != len(events.ID{}) {
				continue
			}
			if id := events.ID(b); !s.hasEvidence(a, id) {
				a.Evidence, changed = append(a.Evidence, id), true
			}
		}
		if len(a.Evidence) >= MaxEvidence && s.evidence[a] != nil {
			delete(s.evidence, a) // no id is checked against them any more
		}
		if !changed {
			return nil
		}
		return a
	case *events.AlertAcknowledged:
		a := s.lookupLast(ev.Tenant, p.AlertId)
		if a == nil || a.Status != StatusOpen {
			return nil
		}
		a.Status, a.AcknowledgedBy, a.AcknowledgedAt, a.Note = StatusAcknowledged, p.Actor, ev.Time.UTC(), p.Note
		return a
	case *events.AlertResolved:
		a := s.lookupLast(ev.Tenant, p.AlertId)
		if a == nil || a.Status == StatusResolved {
			return nil
		}
		a.Status, a.Verdict, a.ResolvedBy, a.ResolvedAt = StatusResolved, verdictOf(p.Verdict), p.Actor, ev.Time.UTC()
		if p.Note != "" {
			a.Note = p.Note
		}
		ta := s.tenants[ev.Tenant]
		if ta.open[a.Device]--; ta.open[a.Device] <= 0 {
			delete(ta.open, a.Device)
		}
		return a
	}
	return nil
}

// Get returns the tenant's alert id. An alert of another tenant is not
// found.
func (s *Set) Get(tenant, id string) (Alert, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.lookup(tenant, id)
	if a == nil {
		return Alert{}, false
	}
	return a.clone(), true
}

// OpenCounts returns, for each device of the tenant with any, how many of
// its alerts are not resolved (open or acknowledged).
func (s *Set) OpenCounts(tenant string) map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]int{}
	if ta, ok := s.tenants[tenant]; ok {
		for d, n := range ta.open {
			out[d] = n
		}
	}
	return out
}

// Filter selects alerts for List. Zero fields match everything.
type Filter struct {
	// Status, when set, selects alerts in one of these statuses.
	Status []Status
	// Severity, when set, selects alerts of one of these severities.
	Severity []events.Severity
	// Device and Detector select one device's or one detector's alerts.
	Device   string
	Detector string
	// Since and Until bound the raise time: Since <= Time < Until.
	Since, Until time.Time
	// Limit is the most alerts returned; DefaultLimit when <= 0.
	Limit int
	// Cursor continues a previous List (its next value).
	Cursor string
}

// DefaultLimit is the page size of a List whose Filter has no Limit.
const DefaultLimit = 100

func (f *Filter) match(a *Alert) bool {
	if len(f.Status) > 0 && !slices.Contains(f.Status, a.Status) {
		return false
	}
	if len(f.Severity) > 0 && !slices.Contains(f.Severity, a.Severity) {
		return false
	}
	if f.Device != "" && a.Device != f.Device {
		return false
	}
	if f.Detector != "" && a.Detector != f.Detector {
		return false
	}
	return true
}

// List returns a page of the tenant's alerts matching f, newest first by
// (Time, ID), and the cursor of the next page ("" when this one is the
// last). Pages are stable: walking the cursors returns every matching alert
// that existed when the walk began once, with no gaps, however the alerts
// change meanwhile (new alerts raised later than the first page appear only
// in a new walk). Errors wrap ErrBadCursor.
func (s *Set) List(tenant string, f Filter) ([]Alert, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	var (
		cur    cursor
		hasCur bool
	)
	if f.Cursor != "" {
		c, err := parseCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		cur, hasCur = c, true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ta, ok := s.tenants[tenant]
	if !ok {
		return []Alert{}, "", nil
	}
	hi := len(ta.order)
	if !f.Until.IsZero() {
		hi = sort.Search(len(ta.order), func(i int) bool { return !ta.order[i].Time.Before(f.Until) })
	}
	if hasCur {
		hi = min(hi, sort.Search(len(ta.order), func(i int) bool { return !ta.order[i].before(cur.t, cur.id) }))
	}
	out := make([]Alert, 0, min(limit, hi))
	for i := hi - 1; i >= 0; i-- {
		a := ta.order[i]
		if !f.Since.IsZero() && a.Time.Before(f.Since) {
			break
		}
		if !f.match(a) {
			continue
		}
		if len(out) == limit {
			last := out[len(out)-1]
			return out, cursor{last.Time, last.ID}.String(), nil
		}
		out = append(out, a.clone())
	}
	return out, "", nil
}

// cursor is a position in a tenant's list: the (Time, ID) of the last alert
// of a page. The next page holds the alerts strictly before it.
type cursor struct {
	t  time.Time
	id string
}

const cursorVersion = "c1"

func (c cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorVersion + "." + strconv.FormatInt(c.t.UnixNano(), 10) + "." + c.id))
}

func parseCursor(s string) (cursor, error) {
	if len(s) > 512 {
		return cursor{}, fmt.Errorf("%w: too long", ErrBadCursor)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("%w: not a cursor returned by this API", ErrBadCursor)
	}
	v, rest, ok := strings.Cut(string(b), ".")
	if !ok || v != cursorVersion {
		return cursor{}, fmt.Errorf("%w: not a cursor returned by this API", ErrBadCursor)
	}
	ns, id, ok := strings.Cut(rest, ".")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" {
		return cursor{}, fmt.Errorf("%w: not a cursor returned by this API", ErrBadCursor)
	}
	return cursor{time.Unix(0, n).UTC(), id}, nil
}
