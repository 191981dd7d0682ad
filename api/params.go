package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
)

// alertQuery are the query parameters GET /v1/alerts accepts.
var alertQuery = []string{"status", "severity", "device", "detector", "since", "until", "limit", "cursor"}

// parseAlertQuery turns GET /v1/alerts' query into a filter. A limit above
// maxLimit is clamped to it; every other bad value is a 400 naming the
// parameter.
func parseAlertQuery(rawQuery string, defLimit, maxLimit int) (alerts.Filter, *Error) {
	f := alerts.Filter{Limit: defLimit}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return f, badRequest("malformed query string: %v", err)
	}
	for k, vs := range q {
		if !slices.Contains(alertQuery, k) {
			return f, badRequest("unknown query parameter %q (use %s)", k, strings.Join(alertQuery, ", "))
		}
		if len(vs) > 1 {
			return f, badRequest("query parameter %q given %d times (give it once; status and severity take comma-separated lists)", k, len(vs))
		}
	}
	if v := q.Get("status"); v != "" {
		for _, s := range strings.Split(v, ",") {
			st, err := alerts.ParseStatus(strings.TrimSpace(s))
			if err != nil {
				return f, badRequest("status: %v", err)
			}
			f.Status = append(f.Status, st)
		}
	}
	if v := q.Get("severity"); v != "" {
		for _, s := range strings.Split(v, ",") {
			sev, err := alerts.ParseSeverity(strings.TrimSpace(s))
			if err != nil {
				return f, badRequest("severity: %v", err)
			}
			f.Severity = append(f.Severity, sev)
		}
	}
	if q.Has("device") {
		f.Device = q.Get("device")
		if err := events.ValidateDevice(f.Device); err != nil {
			return f, badRequest("device: %v", err)
		}
	}
	if q.Has("detector") {
		f.Detector = q.Get("detector")
		if f.Detector == "" || len(f.Detector) > 128 {
			return f, badRequest("detector: must be 1-128 characters")
		}
	}
	var perr *Error
	if f.Since, perr = parseTime(q, "since"); perr != nil {
		return f, perr
	}
	if f.Until, perr = parseTime(q, "until"); perr != nil {
		return f, perr
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, badRequest("since (%s) must be before until (%s)", f.Since.Format(time.RFC3339Nano), f.Until.Format(time.RFC3339Nano))
	}
	if q.Has("limit") {
		v := q.Get("limit")
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return f, badRequest("limit: %q is not a positive integer", v)
		}
		f.Limit = min(n, maxLimit)
	}
	if q.Has("cursor") {
		f.Cursor = q.Get("cursor")
		if f.Cursor == "" {
			return f, badRequest("cursor: empty (pass the next value of the previous page, or leave cursor out)")
		}
	}
	return f, nil
}

func parseTime(q url.Values, name string) (time.Time, *Error) {
	if !q.Has(name) {
		return time.Time{}, nil
	}
	v := q.Get(name)
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || t.Year() < 1970 || t.Year() > 2261 {
		return time.Time{}, badRequest("%s: %q is not an RFC 3339 time between 1970 and 2261 (e.g. 2026-03-01T12:00:00Z)", name, v)
	}
	return t.UTC(), nil
}

// decodeBody decodes a JSON request body into dst, refusing unknown fields,
// trailing data and bodies over the limit. An empty body leaves dst as it
// is when optional, and is a 400 otherwise.
func decodeBody(r *http.Request, dst any, optional bool) *Error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			if mbe := (*http.MaxBytesError)(nil); errors.As(err2, &mbe) {
				return tooLarge(mbe)
			}
			return badRequest("malformed JSON: data after the JSON object")
		}
		return nil
	}
	if errors.Is(err, io.EOF) {
		if optional {
			return nil
		}
		return badRequest("a JSON body is required")
	}
	return jsonError(err)
}

func tooLarge(mbe *http.MaxBytesError) *Error {
	return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body larger than %d bytes", mbe.Limit)
}

// jsonError explains a decoding error.
func jsonError(err error) *Error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(mbe)
	case errors.As(err, &se):
		return badRequest("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &ute):
		if ute.Field == "" {
			return badRequest("the body must be a JSON object, not %s", ute.Value)
		}
		return badRequest("field %q: expected %s, got %s", ute.Field, ute.Type, ute.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: unexpected end of the body")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badRequest("unknown field %s", name)
	}
	return badRequest("malformed JSON: %v", err)
}

// maxText bounds free-text fields (notes, reasons).
const maxText = 4096

func checkText(name, v string) *Error {
	if len(v) > maxText {
		return badRequest("%s: longer than %d bytes", name, maxText)
	}
	return nil
}

// parseExpiry reads an expiry duration ("1h", "30m"); "" is none.
func parseExpiry(v string) (time.Duration, *Error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, badRequest("expiry: %q is not a positive duration (e.g. 30m, 1h, 72h)", v)
	}
	if d > 10*365*24*time.Hour {
		return 0, badRequest("expiry: %s is longer than ten years; leave expiry out for an intervention in force until lifted", v)
	}
	return d, nil
}

// pathDevice reads and checks the {id} of a device path.
func pathDevice(r *http.Request) (string, *Error) {
	id := r.PathValue("id")
	if err := events.ValidateDevice(id); err != nil {
		return "", badRequest("device id: %v", err)
	}
	return id, nil
}

func pathID(r *http.Request, what string) (string, *Error) {
	id := r.PathValue("id")
	if id == "" || len(id) > 128 {
		return "", badRequest("%s id: must be 1-128 characters", what)
	}
	return id, nil
}
