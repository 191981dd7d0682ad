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
after a success are reported as possible duplicates (medium).

Options: horizon (default 24h); window, the windows findings belong to
(the pipeline passes its own window size).

Not a replay: a repeat after a failure (non-2xx, timeout, error) is a
legitimate retry, however soon and from whichever device: only a success is
remembered.

False-positive risks: an API whose legitimate requests are byte-identical
after success (idempotent "status" POSTs, polling with a fixed body) — scope
the detector to payment paths, or set the tenant's shield methods; loose
duplicates fire on two genuine identical payments (same amount, merchant and
terminal) within the horizon, which is why they are medium severity.`

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
		if v, ok := opts["window"]; ok {
			w, err := time.ParseDuration(v)
			if err != nil || w <= 0 {
				return nil, fmt.Errorf("window %q: want a positive duration", v)
			}
			d.opts.WindowSize = w
		}
		return d, nil
	})
}

// ReplayOptions configure the replay-attack detector.
type ReplayOptions struct {
	// Horizon: how long a successful fingerprint is remembered (event
	// time). Default 24h.
	Horizon time.Duration
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
}

// Replay is the replay-attack detector. Its memory is bounded by the
// horizon: entries older than it (event time) are forgotten.
type Replay struct {
	opts    ReplayOptions
	strict  map[fpKey]success
	loose   map[fpKey]success
	order   []expiry // in insertion order, for eviction by time
	maxSeen time.Time
}

type expiry struct {
	at    time.Time
	key   fpKey
	loose bool
}

// NewReplay returns the detector.
func NewReplay(o ReplayOptions) *Replay {
	if o.Horizon == 0 {
		o.Horizon = 24 * time.Hour
	}
	if o.WindowSize == 0 {
		o.WindowSize = time.Minute
	}
	return &Replay{opts: o, strict: map[fpKey]success{}, loose: map[fpKey]success{}}
}

// Name implements EventDetector.
func (*Replay) Name() string { return "replay-attack" }

// Event implements EventDetector.
func (r *Replay) Event(ev *events.Event) []Finding {
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
		if prior, known := r.strict[sk]; known && prior.id != ev.ID && ev.Time.Sub(prior.at) <= r.opts.Horizon {
			out = append(out, r.finding(ev, tx, prior, true, "strict", events.Severity_SEVERITY_CRITICAL, 1.0,
				"replayed payment reached the payment server"))
		} else if len(tx.LooseFp) > 0 && ok2xx {
			lk := fpKey{ev.Tenant, string(tx.LooseFp)}
			if prior, known := r.loose[lk]; known && prior.id != ev.ID && ev.Time.Sub(prior.at) <= r.opts.Horizon {
				out = append(out, r.finding(ev, tx, prior, true, "loose", events.Severity_SEVERITY_MEDIUM, 0.6,
					"possible duplicate payment (same amount, merchant and terminal)"))
			}
		}
		if ok2xx {
			if _, known := r.strict[sk]; !known {
				r.strict[sk] = success{at: ev.Time, id: ev.ID, device: ev.Device}
				r.order = append(r.order, expiry{ev.Time, sk, false})
			}
			if len(tx.LooseFp) > 0 {
				lk := fpKey{ev.Tenant, string(tx.LooseFp)}
				if _, known := r.loose[lk]; !known {
					r.loose[lk] = success{at: ev.Time, id: ev.ID, device: ev.Device}
					r.order = append(r.order, expiry{ev.Time, lk, true})
				}
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

// evict forgets successes older than the horizon.
func (r *Replay) evict() {
	cut := r.maxSeen.Add(-r.opts.Horizon)
	i := 0
	for ; i < len(r.order) && r.order[i].at.Before(cut); i++ {
		e := r.order[i]
		m := r.strict
		if e.loose {
			m = r.loose
		}
		if s, ok := m[e.key]; ok && !s.at.After(e.at) {
			delete(m, e.key)
		}
	}
	if i > 0 {
		r.order = append(r.order[:0], r.order[i:]...)
	}
}

// Size reports the fingerprints remembered (strict + loose).
func (r *Replay) Size() int { return len(r.strict) + len(r.loose) }
