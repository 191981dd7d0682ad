package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/alerts"
)

// FuzzAlertQuery: any query string gives a filter within bounds or a 400,
// never a panic, and List accepts whatever cursor the parser let through.
func FuzzAlertQuery(f *testing.F) {
	for _, s := range []string{"", "limit=10", "limit=1000000000000000000000", "status=open,resolved&severity=high",
		"since=2026-03-01T00:00:00Z&until=2026-03-02T00:00:00Z", "cursor=YzEuMTIzLmFsLTE", "device=pos-1&detector=x",
		"%zz", "limit=-1", "status=", "since=2026-03-01T00:00:00+99:00", "a=1&a=2"} {
		f.Add(s)
	}
	set := alerts.NewSet()
	f.Fuzz(func(t *testing.T, raw string) {
		filter, perr := parseAlertQuery(raw, 100, 500)
		if perr != nil {
			if perr.Status != http.StatusBadRequest || perr.Message == "" {
				t.Fatalf("error %+v", perr)
			}
			return
		}
		if filter.Limit < 1 || filter.Limit > 500 {
			t.Fatalf("limit %d", filter.Limit)
		}
		set.List("acme", filter)
	})
}

// FuzzBodies: any body given to the write endpoints' decoders gives a
// request or a 4xx, never a panic or a 5xx.
func FuzzBodies(f *testing.F) {
	for _, s := range []string{"", "{}", `{"verdict":"benign","note":"x"}`, `{"note":1}`, `{"reason":"r","expiry":"1h"}`,
		`{"host":"*.x","cidr":"10.0.0.0/8","port":443,"fingerprint":"00ff","device":"pos-1","dry_run":true,"expiry":"2h"}`,
		`{"x":1}`, `[`, `{"verdict":"benign"}{}`, `null`, `"str"`, `{"port":-1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(perr *Error) {
			if perr != nil && (perr.Status < 400 || perr.Status >= 500 || perr.Message == "") {
				t.Fatalf("error %+v", perr)
			}
		}
		req := func() *http.Request {
			r := httptest.NewRequest("POST", "/", strings.NewReader(string(body)))
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 1<<10)
			return r
		}
		var rr resolveRequest
		perr := decodeBody(req(), &rr, false)
		check(perr)
		if perr == nil {
			_, perr = parseResolve(rr)
			check(perr)
		}
		var qr quarantineRequest
		perr = decodeBody(req(), &qr, true)
		check(perr)
		if perr == nil {
			_, perr = parseExpiry(qr.Expiry)
			check(perr)
		}
		var br blockRequest
		perr = decodeBody(req(), &br, false)
		check(perr)
		if perr == nil {
			_, perr = parseBlock(br, "acme", "token:x")
			check(perr)
		}
		var ar ackRequest
		check(decodeBody(req(), &ar, true))
	})
}

// FuzzTimelineQuery: any query string gives a range with from before to
// and a limit within bounds, or a 400; never a panic.
func FuzzTimelineQuery(f *testing.F) {
	for _, s := range []string{"", "limit=10", "limit=99999999999999999999", "from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z",
		"windows=false", "windows=1&limit=5", "windows=maybe", "to=2026-01-01T00:00:00Z", "from=9999-12-31T23:59:59Z", "%zz", "a=1", "limit=1&limit=2"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		tq, perr := parseTimelineQuery(raw, now)
		if perr != nil {
			if perr.Status != http.StatusBadRequest || perr.Message == "" {
				t.Fatalf("error %+v", perr)
			}
			return
		}
		if !tq.from.Before(tq.to) || tq.limit < 1 || tq.limit > maxTimelineLimit {
			t.Fatalf("query %q gave %+v", raw, tq)
		}
	})
}
