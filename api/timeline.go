package api

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/pipeline/features"
)

// Timeline limits.
const (
	defaultTimelineLimit = 1000
	maxTimelineLimit     = 10000
	defaultTimelineSpan  = time.Hour
)

// timelineParams are the query parameters GET /v1/devices/{id}/timeline accepts.
var timelineParams = []string{"from", "to", "limit", "windows"}

type timelineQuery struct {
	from, to  time.Time
	limit     int
	noWindows bool
}

// parseTimelineQuery reads from, to (RFC 3339; default the hour before
// now, or before to), limit (default 1000, clamped to 10000) and windows
// (default true; false leaves the feature windows out).
func parseTimelineQuery(rawQuery string, now time.Time) (timelineQuery, *Error) {
	tq := timelineQuery{limit: defaultTimelineLimit}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return tq, badRequest("malformed query string: %v", err)
	}
	for k, vs := range q {
		if !slices.Contains(timelineParams, k) {
			return tq, badRequest("unknown query parameter %q (use %s)", k, strings.Join(timelineParams, ", "))
		}
		if len(vs) > 1 {
			return tq, badRequest("query parameter %q given %d times (give it once)", k, len(vs))
		}
	}
	var perr *Error
	if tq.from, perr = parseTime(q, "from"); perr != nil {
		return tq, perr
	}
	if tq.to, perr = parseTime(q, "to"); perr != nil {
		return tq, perr
	}
	if tq.to.IsZero() {
		tq.to = now.UTC()
	}
	if tq.from.IsZero() {
		tq.from = tq.to.Add(-defaultTimelineSpan)
	}
	if !tq.from.Before(tq.to) {
		return tq, badRequest("from (%s) must be before to (%s)", tq.from.Format(time.RFC3339Nano), tq.to.Format(time.RFC3339Nano))
	}
	if q.Has("limit") {
		v := q.Get("limit")
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return tq, badRequest("limit: %q is not a positive integer", v)
		}
		tq.limit = min(n, maxTimelineLimit)
	}
	if q.Has("windows") {
		v, err := strconv.ParseBool(q.Get("windows"))
		if err != nil {
			return tq, badRequest("windows: %q is not true or false", q.Get("windows"))
		}
		tq.noWindows = !v
	}
	return tq, nil
}

// TimelineEvent is one event of a device's timeline.
type TimelineEvent struct {
	Time    time.Time       `json:"time"`
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Summary string          `json:"summary"`
	Payload json.RawMessage `json:"payload"`
}

// TimelineWindow is one of the device's feature windows as the pipeline
// closed it: its feature vector and the scores of the detectors that score
// every window (anomaly, once the device's cohort has a model).
type TimelineWindow struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Cohort the device was judged in (tenant/model/firmware as enrolled).
	Cohort string `json:"cohort"`
	// Events is how many of the device's events the window holds.
	Events int `json:"events"`
	// Features by name (docs/features.md); a non-finite value is given as 0.
	Features map[string]float64 `json:"features"`
	Scores   []TimelineScore    `json:"scores"`
}

// TimelineScore is a detector's score of a window and the threshold above
// which it flags one.
type TimelineScore struct {
	Detector  string  `json:"detector"`
	Score     float64 `json:"score"`
	Threshold float64 `json:"threshold"`
}

// Timeline is a device's timeline over [From, To): what GET
// /v1/devices/{id}/timeline answers and halo incident writes to
// timeline.json.
type Timeline struct {
	Tenant string    `json:"tenant"`
	Device string    `json:"device"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// WindowSeconds is the size of the feature windows.
	WindowSeconds float64 `json:"window_seconds"`
	// Events in (time, id) order.
	Events []TimelineEvent `json:"events"`
	// Windows starting in the range, by start.
	Windows []TimelineWindow `json:"windows"`
	// Alerts raised in the range, oldest first.
	Alerts []AlertView `json:"alerts"`
	// Truncated says more events, windows or alerts are in the range than
	// the limit.
	Truncated bool `json:"truncated"`
}

// TimelineRequest selects a device's timeline.
type TimelineRequest struct {
	// Tenant and Device name the device. Required.
	Tenant, Device string
	// From and To bound the range [From, To) in event time. Required, From
	// before To.
	From, To time.Time
	// Limit is the most events, windows and alerts returned (the earliest
	// of each). Default 1000; above 10000 clamped to 10000.
	Limit int
	// Pipeline is the configuration the feature windows and scores are
	// recomputed with (detectors, window size, lateness; zero: the
	// pipeline's defaults). Its Warmup (default 24h) is how much of the
	// tenant's history before From is replayed first, so that the
	// detectors' baselines and cohort models are those the live pipeline
	// had at From.
	Pipeline pipeline.Config
	// NoWindows leaves the windows out (an empty list) and reads only the
	// device's events: no warm-up, no replay. For callers that chart
	// events only (the console's device page).
	NoWindows bool
}

// preludeTypes are the events BuildTimeline folds from before the warm-up:
// identities (cohorts) and operators' model deployments.
var preludeTypes = append(slices.Clone(identity.IdentityTypes), events.TypeModelDeployed)

// ErrTimelineRequest is returned for an invalid TimelineRequest.
var ErrTimelineRequest = errors.New("invalid timeline request")

// BuildTimeline builds a device's timeline: its events in [From, To) in
// (time, id) order, its feature windows and their scores, and its alerts
// raised in the range (from the alert fold set). It is the one place a
// timeline is made: GET /v1/devices/{id}/timeline and halo incident both
// call it, so the same range gives the same JSON.
//
// The windows and scores are recomputed by the pipeline's own processor
// (pipeline.Processor, as the live pipeline and halo replay run it) over
// the tenant's events from From minus the warm-up to To plus a window and
// the lateness (so the windows starting before To are whole), in log order
// (the order the live pipeline consumed them in, as halo replay does); the
// detectors' baselines and models are therefore those of the live pipeline
// when the warm-up covers the history it learned from. Only the tenant's events are read: cohorts never span tenants.
// The tenant's identity events and operators' model deployments before the
// warm-up are folded first, so devices are judged in their enrolled cohorts
// by the models in force. Events the store
// returns for another tenant are ignored.
func BuildTimeline(ctx context.Context, store events.Store, set *alerts.Set, req TimelineRequest) (*Timeline, error) {
	var errs []error
	if store == nil || set == nil {
		errs = append(errs, errors.New("a store and an alert set are required"))
	}
	if req.Tenant == "" || req.Device == "" {
		errs = append(errs, errors.New("tenant and device are required"))
	}
	if req.From.IsZero() || req.To.IsZero() || !req.From.Before(req.To) {
		errs = append(errs, fmt.Errorf("from (%s) must be before to (%s)", req.From.Format(time.RFC3339Nano), req.To.Format(time.RFC3339Nano)))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrTimelineRequest, errors.Join(errs...))
	}
	limit := req.Limit
	if limit <= 0 {
		limit = defaultTimelineLimit
	}
	limit = min(limit, maxTimelineLimit)
	proc, err := pipeline.NewProcessor(req.Pipeline.OfLog(store))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTimelineRequest, err)
	}
	defer proc.Close()
	pcfg := proc.Config()
	out := &Timeline{Tenant: req.Tenant, Device: req.Device, From: req.From.UTC(), To: req.To.UTC(), WindowSeconds: pcfg.WindowSize.Seconds(),
		Events: []TimelineEvent{}, Windows: []TimelineWindow{}, Alerts: []AlertView{}}

	// The tenant's devices enrolled and models an operator deployed before
	// the warm-up: a pipeline that has been running since knows them.
	readFrom := req.From.Add(-pcfg.Warmup)
	q := events.Query{From: readFrom, To: req.To.Add(pcfg.WindowSize + pcfg.Lateness), Tenant: req.Tenant}
	if req.NoWindows {
		q = events.Query{From: req.From, To: req.To, Tenant: req.Tenant, Device: req.Device}
	} else {
		for ev, err := range store.Read(ctx, events.Query{To: readFrom, Tenant: req.Tenant, Types: preludeTypes}) {
			if err != nil {
				return nil, fmt.Errorf("reading the log: %w", err)
			}
			if ev.Tenant == req.Tenant {
				proc.Process(&ev)
			}
		}
	}
	// The windows, by the pipeline's processor in log order: the order
	// the live pipeline consumed the events in, as halo replay feeds them.
	// The observer runs on the processor's features stage: it keeps its
	// own truncation flag until the processor is done.
	windowsTruncated := false
	proc.ObserveWindows(func(w pipeline.DeviceWindow) {
		if w.Tenant != req.Tenant || w.Device != req.Device || w.Start.Before(req.From) || !w.Start.Before(req.To) {
			return
		}
		if len(out.Windows) == limit {
			windowsTruncated = true
			return
		}
		out.Windows = append(out.Windows, windowView(w))
	})
	// One read of the tenant's history: the device's events in the range
	// for the list, everything the pipeline consumes through the processor
	// (on both cores: pipeline.Processor.ProcessSeqTo, whose outputs the
	// timeline does not need: its alerts are the fold's).
	h := make(latestHeap, 0, min(limit, 1024))
	keep := func(ev *events.Event) {
		if ev.Device != req.Device || ev.Time.Before(req.From) || !ev.Time.Before(req.To) {
			return
		}
		if h.Len() < limit {
			heap.Push(&h, *ev)
			return
		}
		out.Truncated = true
		if events.CompareTime(ev, &h[0]) < 0 {
			h[0] = *ev
			heap.Fix(&h, 0)
		}
	}
	read := func(yield func(events.Event, error) bool) {
		n := 0
		for ev, err := range store.Read(ctx, q) {
			if err != nil {
				yield(events.Event{}, fmt.Errorf("reading the log: %w", err))
				return
			}
			if n++; n%4096 == 0 && ctx.Err() != nil {
				yield(events.Event{}, ctx.Err())
				return
			}
			if ev.Tenant != req.Tenant { // the store filters; never trust it with another tenant's data
				continue
			}
			keep(&ev)
			if !req.NoWindows && slices.Contains(pipeline.InputTypes, ev.Type()) { // what the live pipeline subscribes to
				if !yield(ev, nil) {
					return
				}
			}
		}
	}
	if req.NoWindows {
		for _, err := range read {
			if err != nil {
				return nil, err
			}
		}
	} else if err := proc.ProcessSeqTo(ctx, read, nil, nil, func([]events.Event) error { return nil }); err != nil {
		return nil, err
	}
	out.Truncated = out.Truncated || windowsTruncated
	evs := []events.Event(h)
	slices.SortFunc(evs, func(a, b events.Event) int { return events.CompareTime(&a, &b) })
	out.Events = make([]TimelineEvent, len(evs))
	var buf []byte
	for i := range evs {
		var payload json.RawMessage
		buf, payload = payloadJSON(buf[:0], &evs[i])
		out.Events[i] = TimelineEvent{Time: evs[i].Time.UTC(), Type: string(evs[i].Type()), ID: evs[i].ID.String(),
			Summary: eventSummary(&evs[i]), Payload: payload}
	}

	slices.SortStableFunc(out.Windows, func(a, b TimelineWindow) int { return a.Start.Compare(b.Start) })

	var all []alerts.Alert
	f := alerts.Filter{Device: req.Device, Since: req.From, Until: req.To, Limit: 1000}
	for {
		page, next, err := set.List(req.Tenant, f)
		if err != nil {
			return nil, fmt.Errorf("listing alerts: %w", err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	slices.Reverse(all) // List is newest first
	if len(all) > limit {
		all, out.Truncated = all[:limit], true
	}
	out.Alerts = make([]AlertView, len(all))
	for i, a := range all {
		out.Alerts[i] = alertView(a)
	}
	return out, nil
}

// latestHeap keeps the limit earliest events: a max-heap by (Time, ID).
type latestHeap []events.Event

func (h latestHeap) Len() int           { return len(h) }
func (h latestHeap) Less(i, j int) bool { return events.CompareTime(&h[i], &h[j]) > 0 }
func (h latestHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *latestHeap) Push(x any)        { *h = append(*h, x.(events.Event)) }
func (h *latestHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func windowView(w pipeline.DeviceWindow) TimelineWindow {
	tw := TimelineWindow{Start: w.Start.UTC(), End: w.End.UTC(), Cohort: w.Cohort, Events: w.Rows, Features: make(map[string]float64, len(w.Features)),
		Scores: make([]TimelineScore, len(w.Scores))}
	for j, v := range w.Features {
		if j < len(features.Names) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				v = 0
			}
			tw.Features[features.Names[j]] = v
		}
	}
	for j, s := range w.Scores {
		tw.Scores[j] = TimelineScore{Detector: s.Detector, Score: s.Score, Threshold: s.Threshold}
	}
	return tw
}

// deviceTimeline answers GET /v1/devices/{id}/timeline with BuildTimeline
// over [from, to) (default: the hour before now).
func (s *Server) deviceTimeline(r *http.Request, p principal) (int, any, *Error) {
	id, perr := pathDevice(r)
	if perr != nil {
		return 0, nil, perr
	}
	tq, perr := parseTimelineQuery(r.URL.RawQuery, time.Now())
	if perr != nil {
		return 0, nil, perr
	}
	if _, perr := s.device(p, id); perr != nil {
		return 0, nil, perr
	}
	tl, err := BuildTimeline(r.Context(), s.cfg.Store, s.cfg.Alerts, TimelineRequest{Tenant: p.tenant, Device: id,
		From: tq.from, To: tq.to, Limit: tq.limit, Pipeline: s.cfg.Pipeline, NoWindows: tq.noWindows})
	if err != nil {
		return 0, nil, s.unavailable(r, "the timeline", err)
	}
	return http.StatusOK, tl, nil
}

// payloadJSON renders ev's payload as Event.AppendJSON does, appending to
// buf (returned for reuse); the payload is a copy.
func payloadJSON(buf []byte, ev *events.Event) ([]byte, json.RawMessage) {
	bare := *ev
	bare.Payload = nil
	buf = bare.AppendJSON(buf[:0])
	// The envelope up to "payload": (the bare event renders its type as "").
	prefix := len(buf) - len("null}") + len(ev.Type())
	buf = ev.AppendJSON(buf[:0])
	if prefix < 0 || prefix > len(buf)-1 {
		return buf, json.RawMessage("null")
	}
	return buf, json.RawMessage(slices.Clone(buf[prefix : len(buf)-1]))
}

// eventSummary is one line about an event for a person.
func eventSummary(ev *events.Event) string {
	switch p := ev.Payload.(type) {
	case *events.ConnOpened:
		dst := p.GetDstHost()
		if dst == "" {
			dst = p.GetDstIp()
		}
		return fmt.Sprintf("connection %s opened to %s:%d", p.GetConnId(), dst, p.GetDstPort())
	case *events.ConnClosed:
		return fmt.Sprintf("connection %s closed (%s): %d bytes up, %d down in %s", p.GetConnId(),
			events.EnumName(p.GetReason().Descriptor(), p.GetReason().Number()), p.GetBytesUp(), p.GetBytesDown(),
			time.Duration(p.GetDurationNs()).Round(time.Millisecond))
	case *events.ConnBlocked:
		dst := p.GetDstHost()
		if dst == "" {
			dst = p.GetDstIp()
		}
		return fmt.Sprintf("connection to %s:%d blocked: %s", dst, p.GetDstPort(), p.GetReason())
	case *events.TxObserved:
		return fmt.Sprintf("%s %s%s → %d (%s)", p.GetMethod(), p.GetHost(), p.GetPath(), p.GetStatus(),
			events.EnumName(p.GetOutcome().Descriptor(), p.GetOutcome().Number()))
	case *events.AlertRaised:
		return fmt.Sprintf("alert %s raised (%s, %s): %s", p.GetAlertId(), p.GetDetector(),
			alerts.SeverityName(p.GetSeverity()), p.GetSummary())
	case *events.AlertUpdated:
		return fmt.Sprintf("alert %s updated (%d findings)", p.GetAlertId(), p.GetCount())
	case *events.AlertAcknowledged:
		return fmt.Sprintf("alert %s acknowledged by %s", p.GetAlertId(), p.GetActor())
	case *events.AlertResolved:
		return fmt.Sprintf("alert %s resolved by %s (%s)", p.GetAlertId(), p.GetActor(),
			events.EnumName(p.GetVerdict().Descriptor(), p.GetVerdict().Number()))
	case *events.InterventionApplied:
		return fmt.Sprintf("%s %s applied by %s: %s", events.EnumName(p.GetKind().Descriptor(), p.GetKind().Number()),
			p.GetInterventionId(), p.GetActor(), p.GetReason())
	case *events.InterventionLifted:
		return fmt.Sprintf("intervention %s lifted by %s", p.GetInterventionId(), p.GetActor())
	case *events.DeviceEnrolled:
		return fmt.Sprintf("enrolled (model %s, firmware %s)", p.GetModel(), p.GetFirmware())
	case *events.DeviceRevoked:
		return fmt.Sprintf("revoked: %s", p.GetReason())
	case *events.LabelRecorded:
		return fmt.Sprintf("label %s recorded", p.GetLabel())
	}
	return string(ev.Type())
}
