package detect

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/halo-sec/halo/events"
)

const replayDoc = `replay-attack: a payment transaction sent again after it succeeded.

Catches: a strict fingerprint (method, host, path and canonical body, keyed
per tenant) seen on a forwarded tx.observed with a 2xx response, then seen
again — from the same or any other device of the tenant — within the horizon
(default 24h of event time). Fires at once on the repeat (critical), also when
the edge's replay shield already refused it in-line (outcome refused-replay:
the attempt is still an attack). Repeats of the loose fingerprint (same host,
path, amount, currency, merchant, terminal; different nonce or timestamp)
soon after a success (within loose_horizon, default 2m: a double submission,
a terminal that re-sent with a fresh nonce) are reported as possible
duplicates (medium).

Options: horizon (default 24h); loose_horizon (default 2m); window, the
windows findings belong to (the pipeline passes its own window size).

Not a replay: a repeat after a failure (non-2xx, timeout, error) is a
legitimate retry, however soon and from whichever device: only a success is
remembered. Nor is a device's repeat of a success whose response never
reached it (the device went away mid-response: conn.closed reason client),
which is that device's retry: the edge's shield refuses it as refused-retry
(no finding); with the shield off it reaches the payment server again and
is reported as a possible double charge (medium), not a replay.

False-positive risks: an API whose legitimate requests are byte-identical
after success (idempotent "status" POSTs, polling with a fixed body) — scope
the detector to payment paths, or set the tenant's shield methods; loose
duplicates fire on two genuine identical payments (same amount, merchant and
terminal) within loose_horizon — common at a busy counter over hours, which
is why the loose horizon is short and the severity medium; a device whose
own timeout fires just as the answer to its success arrives (the edge wrote
all of it, so nothing tells it the answer was abandoned) and that retries
the same bytes is reported as a replay: seen only on a starved machine
(a 400-device simulated fleet at load average 5-7 on 2 cores), where the
simulated terminals' payment timeout was 3 s (it is 15 s now, closer to
what terminals wait for an online authorization).`

func init() {
	Register("replay-attack", replayDoc, func(opts map[string]string) (any, error) {
		d := NewReplay(ReplayOptions{})
		if v, ok := opts["horizon"]; ok {
			h, err := time.ParseDuration(v)
			if err != nil || h <= 0 {
				return nil, fmt.Errorf("horizon %q: want a positive duration", v)
			}
			d.opts.Horizon = h
		}
		if v, ok := opts["loose_horizon"]; ok {
			h, err := time.ParseDuration(v)
			if err != nil || h <= 0 {
				return nil, fmt.Errorf("loose_horizon %q: want a positive duration", v)
			}
			d.opts.LooseHorizon = h
		}
		if v, ok := opts["window"]; ok {
			w, err := time.ParseDuration(v)
			if err != nil || w <= 0 {
				return nil, fmt.Errorf("window %q: want a positive duration", v)
			}
			d.opts.WindowSize = w
		}
		return d, nil
	}, "horizon", "loose_horizon", "window")
}

// ReplayOptions configure the replay-attack detector.
type ReplayOptions struct {
	// Horizon: how long a successful fingerprint is remembered (event
	// time). Default 24h.
	Horizon time.Duration
	// LooseHorizon: how long a successful loose fingerprint is remembered.
	// Default 2m.
	LooseHorizon time.Duration
	// WindowSize aligns the findings' windows (the alert id uses the
	// window start). Default 60s.
	WindowSize time.Duration
}

type fpKey struct {
	tenant string
	fp     string
}

type success struct {
	at     time.Time
	id     events.ID
	device string
	conn   string // the connection it came on
	lost   bool   // its response never reached the device
}

// Replay is the replay-attack detector. Its memory is bounded by the
// horizon: entries older than it (event time) are forgotten.
type Replay struct {
	opts       ReplayOptions
	strict     map[fpKey]success
	loose      map[fpKey]success
	byConn     map[string]fpKey // connection of a strict success → its key, until a client close or eviction
	order      []expiry         // strict entries in insertion order, for eviction by time
	looseOrder []expiry         // and loose ones
	maxSeen    time.Time
}

type expiry struct {
	at  time.Time
	key fpKey
}

// NewReplay returns the detector.
func NewReplay(o ReplayOptions) *Replay {
	if o.Horizon == 0 {
		o.Horizon = 24 * time.Hour
	}
	if o.LooseHorizon == 0 {
		o.LooseHorizon = 2 * time.Minute
	}
	if o.WindowSize == 0 {
		o.WindowSize = time.Minute
	}
	return &Replay{opts: o, strict: map[fpKey]success{}, loose: map[fpKey]success{}, byConn: map[string]fpKey{}}
}

// Name implements EventDetector.
func (*Replay) Name() string { return "replay-attack" }

// Event implements EventDetector.
func (r *Replay) Event(ev *events.Event) []Finding {
	if cl, ok := ev.Payload.(*events.ConnClosed); ok {
		// Only a close by the client matters; the other entries go with
		// their fingerprints (evict).
		if cl.Reason != events.CloseReason_CLOSE_REASON_CLIENT {
			return nil
		}
		if k, ok := r.byConn[cl.ConnId]; ok {
			delete(r.byConn, cl.ConnId)
			if s, ok := r.strict[k]; ok && s.conn == cl.ConnId && s.device == ev.Device {
				s.lost = true
				r.strict[k] = s
			}
		}
		return nil
	}
	tx, ok := ev.Payload.(*events.TxObserved)
	if !ok || len(tx.StrictFp) == 0 || tx.Oversize {
		return nil
	}
	if ev.Time.After(r.maxSeen) {
		r.maxSeen = ev.Time
		r.evict()
	}
	sk := fpKey{ev.Tenant, string(tx.StrictFp)}
	ok2xx := tx.Status >= 200 && tx.Status <= 299
	var out []Finding
	switch {
	case tx.Outcome == events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY:
		prior, known := r.strict[sk]
		out = append(out, r.finding(ev, tx, prior, known, "strict", events.Severity_SEVERITY_CRITICAL, 1.0,
			"replayed payment refused by the edge"))
	case tx.Outcome == events.TxOutcome_TX_OUTCOME_FORWARDED:
		// Each map is looked up once: nothing changes them before the
		// updates at the end.
		prior, known := r.strict[sk]
		recent := known && prior.id != ev.ID && ev.Time.Sub(prior.at) <= r.opts.Horizon
		var (
			lk               fpKey
			lprior           success
			lknown, hasLoose bool
		)
		if hasLoose = len(tx.LooseFp) > 0 && ok2xx; hasLoose {
			lk = fpKey{ev.Tenant, string(tx.LooseFp)}
			lprior, lknown = r.loose[lk]
		}
		switch {
		case recent && prior.lost && prior.device == ev.Device:
			out = append(out, r.finding(ev, tx, prior, true, "retry", events.Severity_SEVERITY_MEDIUM, 0.6,
				"payment sent again after its approval never reached the terminal: possible double charge"))
		case recent:
			out = append(out, r.finding(ev, tx, prior, true, "strict", events.Severity_SEVERITY_CRITICAL, 1.0,
				"replayed payment reached the payment server"))
		case lknown && lprior.id != ev.ID && ev.Time.Sub(lprior.at) <= r.opts.LooseHorizon:
			out = append(out, r.finding(ev, tx, lprior, true, "loose", events.Severity_SEVERITY_MEDIUM, 0.6,
				"possible duplicate payment (same amount, merchant and terminal)"))
		}
		if ok2xx {
			if !known {
				r.strict[sk] = success{at: ev.Time, id: ev.ID, device: ev.Device, conn: tx.ConnId}
				r.order = append(r.order, expiry{ev.Time, sk})
				if tx.ConnId != "" {
					r.byConn[tx.ConnId] = sk
				}
			}
			// The latest success counts: the next duplicate is judged
			// against the payment before it.
			if hasLoose && (!lknown || ev.Time.After(lprior.at)) {
				r.loose[lk] = success{at: ev.Time, id: ev.ID, device: ev.Device}
				r.looseOrder = append(r.looseOrder, expiry{ev.Time, lk})
			}
		}
	}
	return out
}

func (r *Replay) finding(ev *events.Event, tx *events.TxObserved, prior success, known bool, kind string, sev events.Severity, score float64, summary string) Finding {
	start := ev.Time.Truncate(r.opts.WindowSize)
	f := Finding{
		Detector: "replay-attack", Tenant: ev.Tenant, Device: ev.Device, Severity: sev, Score: score,
		Key: kind + ":" + hex.EncodeToString(tx.StrictFp), Time: ev.Time, WindowStart: start, WindowEnd: start.Add(r.opts.WindowSize),
		Summary: summary + " (" + tx.Method + " " + tx.Host + tx.Path + ")", Fingerprint: tx.StrictFp,
		DstHost:  tx.Host,
		Features: []*events.Feature{{Name: "repeats", Value: 1}},
	}
	if kind == "loose" {
		f.Key = "loose:" + hex.EncodeToString(tx.LooseFp)
		f.Fingerprint = nil
	}
	if known {
		f.Evidence = []events.ID{prior.id, ev.ID}
		f.Explanation = fmt.Sprintf("%s fingerprint first succeeded at %s on device %s, seen again %s later on device %s",
			kind, prior.at.UTC().Format(time.RFC3339Nano), prior.device, ev.Time.Sub(prior.at).Round(time.Millisecond), ev.Device)
	} else {
		f.Evidence = []events.ID{ev.ID}
		f.Explanation = "the edge's replay shield refused this transaction: its strict fingerprint had already succeeded (before the pipeline's memory)"
	}
	f.Features = append(f.Features, &events.Feature{Name: "status", Value: float64(tx.Status)})
	return f
}

// evict forgets successes older than their horizon.
func (r *Replay) evict() {
	r.order = evictOlder(r.order, r.strict, r.maxSeen.Add(-r.opts.Horizon))
	// A success's connection is forgotten with its fingerprint: swept once
	// the map holds twice as many entries as there are fingerprints, so
	// that the sweep costs O(1) per event.
	if len(r.byConn) > 2*len(r.strict)+1024 {
		for c, k := range r.byConn {
			if s, ok := r.strict[k]; !ok || s.conn != c {
				delete(r.byConn, c)
			}
		}
	}
	r.looseOrder = evictOlder(r.looseOrder, r.loose, r.maxSeen.Add(-r.opts.LooseHorizon))
}

// evictOlder deletes from m the entries of order before cut that were not
// renewed since, and returns the rest of order. The slice is compacted only
// once half of it is spent, so that evicting a few entries per event (a
// short horizon) does not copy the rest every time.
func evictOlder(order []expiry, m map[fpKey]success, cut time.Time) []expiry {
	i := 0
	for ; i < len(order) && order[i].at.Before(cut); i++ {
		e := order[i]
		if s, ok := m[e.key]; ok && !s.at.After(e.at) {
			delete(m, e.key)
		}
	}
	if i == 0 {
		return order
	}
	rest := order[i:]
	if len(rest) < cap(order)/2 {
		n := copy(order, rest)
		clear(order[n:])
		return order[:n]
	}
	return rest
}

// Size reports the fingerprints remembered (strict + loose).
func (r *Replay) Size() int { return len(r.strict) + len(r.loose) }
