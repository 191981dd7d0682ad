package pipeline

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/slab"
	"github.com/halo-sec/halo/intervention"
	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/policy"
)

// alertKey is what one open alert is about.
type alertKey struct {
	tenant, device, detector, key string
}

type openAlert struct {
	id string
	// updates derives the ids of the alert's updates, made at its first:
	// they share their first SHA-1 block (events.IDHasher).
	updates *events.IDHasher
	count   uint32
	gone    bool // replaced in alerter.open by a new alert of its key
	last    time.Time
	score   float64
	key     alertKey
}

// alerter turns findings into alert.raised and alert.updated events, with
// deterministic ids, suppressing repeats within an interval of event time.
// Its memory is bounded: alerts quiet for longer than the interval are
// forgotten.
type alerter struct {
	suppress time.Duration
	open     map[alertKey]*openAlert
	// all lists the alerts of open, in no order, and those replaced since
	// the last gc (gone): gc sweeps it rather than the map, whose sweep
	// cost its largest size every time (the Zeek replay's 424 gcs found
	// 31 alerts open on average).
	all    []*openAlert
	lastGC time.Time
	gcAt   time.Time // lastGC + suppress: the first time gc runs at
	// last is the open alert of the last finding looked up, newest the
	// alert last raised (both nil after a gc): findings about one alert
	// often follow each other (a device's inbound connections), between
	// raises of others (the Zeek replay's new destinations), and a new
	// alert's updates often follow it; a lookup in open hashes four
	// strings.
	last, newest *openAlert
	// The last window start an alert id quoted, formatted: the findings
	// of a window share it.
	startAt   time.Time
	startText []byte
	// ids derives the alert ids: consecutive alerts' ids mostly share
	// their first SHA-1 block (events.IDHasher).
	ids events.IDHasher
	// The memory of the alert events' payloads, handed out one by one:
	// one allocation per payload was a fortieth of a replay's (the
	// outputs' consumers copy what they keep of them).
	updated []updatedOne
	raised  []raisedOne
}

// payloadChunk is how many payloads of a kind the alerter allocates at
// once.
const payloadChunk = 64

func newAlerter(suppress time.Duration) *alerter {
	return &alerter{suppress: suppress, open: map[alertKey]*openAlert{}}
}

// AlertID is the deterministic id of the alert a finding raises.
func AlertID(f *detect.Finding) string {
	var tb [64]byte // the window start, formatted on the stack
	return alertID(f, f.WindowStart.UTC().AppendFormat(tb[:0], time.RFC3339Nano))
}

// alertID is AlertID given the window start formatted.
func alertID(f *detect.Finding, start []byte) string {
	return prefixedID("al-", events.DerivedID("alert", f.Detector, f.Tenant, f.Device, f.Key, string(start)))
}

// alertID is AlertID, formatting each window start once and hashing from
// the last id's first block when it is this one's.
func (a *alerter) alertID(f *detect.Finding) string {
	if a.startText == nil || !f.WindowStart.Equal(a.startAt) { // an instant: formatted in UTC
		a.startAt = f.WindowStart
		a.startText = f.WindowStart.UTC().AppendFormat(a.startText[:0], time.RFC3339Nano)
	}
	return prefixedID("al-", a.ids.ID("alert", f.Detector, f.Tenant, f.Device, f.Key, string(a.startText))) // alertID's
}

// prefixedID is prefix + id.String(), in one allocation.
func prefixedID(prefix string, id events.ID) string {
	var buf [8 + 36]byte
	b := append(buf[:0], prefix...)
	b = hex.AppendEncode(b, id[0:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[8:10])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[10:])
	return string(b)
}

// finding returns the alert event for f, the alert's id and whether it
// raised a new alert.
func (a *alerter) finding(f *detect.Finding) (events.Event, string, bool) {
	var ev events.Event
	id, raised := a.fill(&ev, f)
	return ev, id, raised
}

// appendFinding is finding appending the event to out, written in place:
// an event returned by value was built on the stack and copied into the
// outputs (128 bytes, its pointers through the write barrier while the
// collector marks).
func (a *alerter) appendFinding(out []events.Event, f *detect.Finding) ([]events.Event, string, bool) {
	if n := len(out); n < cap(out) {
		out = out[:n+1]
		out[n] = events.Event{}
	} else {
		out = append(out, events.Event{})
	}
	id, raised := a.fill(&out[len(out)-1], f)
	return out, id, raised
}

// fill writes the alert event for f into the zero event ev; it returns
// the alert's id and whether f raised a new alert.
func (a *alerter) fill(ev *events.Event, f *detect.Finding) (string, bool) {
	if !f.Time.Before(a.gcAt) { // gc's test, without its call
		a.gc(f.Time)
	}
	k := alertKey{f.Tenant, f.Device, f.Detector, f.Key}
	st := a.last
	if st == nil || k != st.key {
		if st = a.newest; st == nil || k != st.key {
			st = a.open[k]
		}
		if st != nil {
			a.last = st
		}
	}
	if st != nil && f.Time.Sub(st.last) <= a.suppress {
		st.count++
		if f.Time.After(st.last) {
			st.last = f.Time
		}
		st.score = max(st.score, f.Score)
		// Most findings update an open alert: one allocation holds the
		// payload and, for one id, its evidence.
		var p *events.AlertUpdated
		if len(f.Evidence) == 1 {
			one := slab.Next(&a.updated, payloadChunk)
			one.id = f.Evidence[0]
			one.out[0] = one.id[:]
			p = &one.p
			p.Evidence = one.out[:]
		} else {
			p = &events.AlertUpdated{Evidence: ids(f.Evidence)}
		}
		p.AlertId, p.Count, p.LastSeen, p.Score = st.id, st.count, st.last.UnixNano(), st.score
		p.WindowStart, p.WindowEnd = f.WindowStart.UnixNano(), f.WindowEnd.UnixNano()
		if st.updates == nil {
			st.updates = new(events.IDHasher)
		}
		var nb [20]byte
		ev.ID = st.updates.ID("alert.updated", st.id, string(strconv.AppendUint(nb[:0], uint64(st.count), 10))) // DerivedID("alert.updated", st.id, count), the count formatted on the stack
		ev.Schema, ev.Tenant, ev.Device, ev.Time, ev.Payload = events.SchemaVersion, f.Tenant, f.Device, f.Time.UTC(), p
		return st.id, false
	}
	f.Describe() // a new alert carries the summary, explanation and features
	id := a.alertID(f)
	if st != nil { // quiet for longer than the interval, not forgotten yet
		st.gone = true
		a.last = nil // st, under k
	}
	st = &openAlert{id: id, count: 1, last: f.Time, score: f.Score, key: k}
	a.open[k] = st
	a.all = append(a.all, st)
	a.newest = st
	one := slab.Next(&a.raised, payloadChunk)
	p := &one.p
	p.AlertId, p.Detector, p.Severity, p.Score = id, f.Detector, f.Severity, f.Score
	p.WindowStart, p.WindowEnd = f.WindowStart.UnixNano(), f.WindowEnd.UnixNano()
	p.Summary, p.Explanation, p.Key, p.Features = f.Summary, f.Explanation, f.Key, f.Features
	if len(f.Evidence) == 1 { // most: the id in the payload's memory
		one.id = f.Evidence[0]
		one.out[0] = one.id[:]
		p.Evidence = one.out[:]
	} else {
		p.Evidence = ids(f.Evidence)
	}
	ev.ID = events.DerivedID("alert.raised", id)
	ev.Schema, ev.Tenant, ev.Device, ev.Time, ev.Payload = events.SchemaVersion, f.Tenant, f.Device, f.Time.UTC(), p
	return id, true
}

// raisedOne is an alert.raised payload with the memory of one evidence id.
type raisedOne struct {
	p   events.AlertRaised
	out [1][]byte
	id  events.ID
}

// updatedOne is an alert.updated payload with its one evidence id.
type updatedOne struct {
	p   events.AlertUpdated
	out [1][]byte
	id  events.ID
}

// gc forgets alerts quiet for longer than the suppression interval, at most
// once per interval of event time.
func (a *alerter) gc(now time.Time) {
	if now.Sub(a.lastGC) < a.suppress {
		return
	}
	a.lastGC, a.gcAt = now, now.Add(a.suppress)
	a.last, a.newest = nil, nil // they may be forgotten
	kept := a.all[:0]
	for _, st := range a.all {
		switch {
		case st.gone:
		case now.Sub(st.last) > a.suppress:
			delete(a.open, st.key)
		default:
			kept = append(kept, st)
		}
	}
	clear(a.all[len(kept):])
	a.all = kept
}

func ids(in []events.ID) [][]byte {
	if len(in) == 1 { // most findings: one allocation for the slice and the id
		one := &struct {
			out [1][]byte
			id  events.ID
		}{id: in[0]}
		one.out[0] = one.id[:]
		return one.out[:]
	}
	out := make([][]byte, len(in))
	all := make([]byte, len(in)*len(events.ID{})) // one allocation for every id
	for i := range in {
		b := all[i*len(in[i]) : (i+1)*len(in[i]) : (i+1)*len(in[i])]
		copy(b, in[i][:])
		out[i] = b
	}
	return out
}

// decide applies the tenant's policy to a new alert: it appends to out the
// interventions it calls for, with ids derived from the alert so that
// re-processing records each once, unless held (nil: none) holds the same
// intervention, in force until at most sameEnd before the new one would
// end (inForce.add).
func decide(out []events.Event, doc *policy.Document, f *detect.Finding, alertID string, held *inForce) []events.Event {
	rule, ok := doc.RuleFor(f.Detector, f.Severity)
	if !ok {
		return out
	}
	f.Describe() // the reasons quote the summary
	for _, action := range rule.Actions {
		// What the action blocks or quarantines, if anything, before the
		// request's id and reason: most alerts only notify (the default
		// policy's catch-all rule), and deriving an id for nothing was
		// most of the time of their decision.
		var (
			kind   events.InterventionKind
			match  *events.Match
			device string
		)
		switch action {
		case policy.ActionBlockFingerprint:
			if len(f.Fingerprint) == 0 {
				continue
			}
			kind = events.InterventionKind_INTERVENTION_KIND_BLOCK
			match = &events.Match{StrictFp: f.Fingerprint}
		case policy.ActionBlockDestination:
			if f.DstHost == "" && f.DstIP == "" {
				continue
			}
			kind = events.InterventionKind_INTERVENTION_KIND_BLOCK
			match = &events.Match{HostGlob: strings.ToLower(f.DstHost), Port: f.DstPort}
			if f.DstHost == "" {
				match.Cidr = f.DstIP
			}
			device = f.Device
		case policy.ActionQuarantine:
			if f.Device == "" {
				continue
			}
			kind = events.InterventionKind_INTERVENTION_KIND_QUARANTINE
			device = f.Device
		default:
			continue
		}
		req := intervention.Request{
			Tenant: f.Tenant, AlertID: alertID, Actor: "pipeline", TTL: time.Duration(rule.Expiry), DryRun: rule.DryRun,
			Reason: f.Detector + ": " + f.Summary, Time: f.Time,
			ID:   prefixedID("iv-", events.DerivedID("intervention", alertID, action)),
			Kind: kind, Match: match, Device: device,
		}
		ev, err := intervention.NewEvent(req)
		if err != nil {
			continue
		}
		if held != nil && !held.add(&ev) {
			continue
		}
		ev.ID = events.DerivedID("intervention.applied", req.ID)
		out = append(out, ev)
	}
	return out
}

// inForce remembers the interventions the pipeline applied, by what they
// do, until they expire or an operator lifts them (intervention.lifted),
// so that an alert whose policy calls for one in force until at most
// sameEnd before the new one would end records none: two devices replaying
// one payment raise two alerts, and each blocked the same fingerprint for
// 24 h from milliseconds apart, a second row in every list of blocks that
// changed nothing. Any later, a new one is recorded: an intervention lasts
// its full term from every alert that calls for it.
type inForce struct {
	byWhat map[ivWhat]ivHeld
	byID   map[string]ivWhat
	adds   int
}

// ivWhat is what an intervention does.
type ivWhat struct {
	tenant, device string
	kind           events.InterventionKind
	dryRun         bool
	match          string // the match's fields, hex fingerprint
}

type ivHeld struct {
	id      string
	expires int64 // Unix ns; 0: until lifted
}

// sameEnd is how much sooner than a new intervention one in force that
// does the same may end for the new one to add nothing.
const sameEnd = time.Minute

// add reports whether ev, a new intervention.applied, is to be recorded:
// none in force at its time does the same, or the one that does ends more
// than sameEnd before ev would (or ends, and ev does not); if so, it
// remembers it.
func (h *inForce) add(ev *events.Event) bool {
	p := ev.Payload.(*events.InterventionApplied)
	w := ivWhat{tenant: ev.Tenant, device: ev.Device, kind: p.Kind, dryRun: p.DryRun}
	if m := p.Match; m != nil {
		w.match = fmt.Sprintf("%s|%s|%d|%x", m.HostGlob, m.Cidr, m.Port, m.StrictFp)
	}
	now := ev.Time.UnixNano()
	if cur, ok := h.byWhat[w]; ok && (cur.expires == 0 || cur.expires > now) &&
		(cur.expires == 0 || p.Expires != 0 && p.Expires-cur.expires <= int64(sameEnd)) {
		return false
	}
	if h.byWhat == nil {
		h.byWhat, h.byID = map[ivWhat]ivHeld{}, map[string]ivWhat{}
	}
	if h.adds++; h.adds%1024 == 0 { // forget the expired now and then
		for k, v := range h.byWhat {
			if v.expires != 0 && v.expires <= now {
				delete(h.byWhat, k)
				delete(h.byID, v.id)
			}
		}
	}
	if old, ok := h.byWhat[w]; ok {
		delete(h.byID, old.id)
	}
	h.byWhat[w] = ivHeld{id: p.InterventionId, expires: p.Expires}
	h.byID[p.InterventionId] = w
	return true
}

// lift forgets the intervention an operator lifted.
func (h *inForce) lift(id string) {
	if w, ok := h.byID[id]; ok {
		delete(h.byWhat, w)
		delete(h.byID, id)
	}
}
