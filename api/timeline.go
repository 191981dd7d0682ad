package api

import (
	"cmp"
	"container/heap"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
)

// Timeline limits.
const (
	defaultTimelineLimit = 1000
	maxTimelineLimit     = 10000
	defaultTimelineSpan  = time.Hour
)

var timelineParams = map[string]bool{"from": true, "to": true, "limit": true}

type timelineQuery struct {
	from, to time.Time
	limit    int
}

// parseTimelineQuery reads from, to (RFC 3339; default the hour before
// now, or before to) and limit (default 1000, clamped to 10000).
func parseTimelineQuery(rawQuery string, now time.Time) (timelineQuery, *Error) {
	tq := timelineQuery{limit: defaultTimelineLimit}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return tq, badRequest("malformed query string: %v", err)
	}
	for k, vs := range q {
		if !timelineParams[k] {
			return tq, badRequest("unknown query parameter %q (use from, to, limit)", k)
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
	return tq, nil
}

// timelineEventJSON is one event of a device's timeline.
type timelineEventJSON struct {
	Time    time.Time       `json:"time"`
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Summary string          `json:"summary"`
	Payload json.RawMessage `json:"payload"`
}

type timelineJSON struct {
	Events    []timelineEventJSON `json:"events"`
	Alerts    []alertJSON         `json:"alerts"`
	Truncated bool                `json:"truncated"`
}

// eventOrder orders events by (Time, ID).
func eventOrder(a, b *events.Event) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return cmp.Compare(a.ID.String(), b.ID.String())
}

// latestHeap keeps the limit earliest events: a max-heap by (Time, ID).
type latestHeap []events.Event

func (h latestHeap) Len() int           { return len(h) }
func (h latestHeap) Less(i, j int) bool { return eventOrder(&h[i], &h[j]) > 0 }
func (h latestHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *latestHeap) Push(x any)        { *h = append(*h, x.(events.Event)) }
func (h *latestHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// deviceTimeline answers GET /v1/devices/{id}/timeline: the device's events
// in [from, to) in (time, id) order, at most limit of them (the earliest;
// truncated says some were left out), and its alerts raised in the range,
// oldest first, at most limit too.
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
	out := timelineJSON{Events: []timelineEventJSON{}, Alerts: []alertJSON{}}

	h := make(latestHeap, 0, min(tq.limit, 1024))
	for ev, err := range s.cfg.Store.Read(r.Context(), events.Query{From: tq.from, To: tq.to, Tenant: p.tenant, Device: id}) {
		if err != nil {
			return 0, nil, s.unavailable(r, "the timeline", fmt.Errorf("reading the log: %w", err))
		}
		if ev.Tenant != p.tenant || ev.Device != id { // the store filters; never trust it with another tenant's data
			continue
		}
		if h.Len() < tq.limit {
			heap.Push(&h, ev)
			continue
		}
		out.Truncated = true
		if eventOrder(&ev, &h[0]) < 0 {
			h[0] = ev
			heap.Fix(&h, 0)
		}
	}
	evs := []events.Event(h)
	slices.SortFunc(evs, func(a, b events.Event) int { return eventOrder(&a, &b) })
	out.Events = make([]timelineEventJSON, len(evs))
	var buf []byte
	for i := range evs {
		var payload json.RawMessage
		buf, payload = payloadJSON(buf[:0], &evs[i])
		out.Events[i] = timelineEventJSON{Time: evs[i].Time.UTC(), Type: string(evs[i].Type()), ID: evs[i].ID.String(),
			Summary: eventSummary(&evs[i]), Payload: payload}
	}

	var all []alerts.Alert
	f := alerts.Filter{Device: id, Since: tq.from, Until: tq.to, Limit: 1000}
	for {
		page, next, err := s.cfg.Alerts.List(p.tenant, f)
		if err != nil {
			return 0, nil, s.unavailable(r, "the timeline", err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	slices.Reverse(all) // List is newest first
	if len(all) > tq.limit {
		all, out.Truncated = all[:tq.limit], true
	}
	out.Alerts = make([]alertJSON, len(all))
	for i, a := range all {
		out.Alerts[i] = alertView(a)
	}
	return http.StatusOK, out, nil
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
