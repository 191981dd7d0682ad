package agent

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestReplayable(t *testing.T) {
	for req, want := range map[string]bool{
		"":                                      true,
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n": true,
		"CONNECT a:443 HTTP/1.1\r\n\r\n":        true,
		"POST http://a/ HTTP/1.1\r\nHost: a\r\n\r\n{}":                         false,
		"POST http://a/ HTTP/1.1\r\nIdempotency-Key: 1\r\n\r\n{}":              true,
		"POST http://a/ HTTP/1.1\r\nHost: a\r\n\r\n\nidempotency-key: in body": false,
		"PO": false,
	} {
		if got := replayable([]byte(req)); got != want {
			t.Errorf("%q: %v, want %v", req, got, want)
		}
	}
}

func TestBackoffGrowsWithJitterAndCaps(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: 2 * time.Second}
	prevCap := time.Duration(0)
	for i := range 10 {
		d := b.next()
		if d < b.cur/2 || d > b.cur || b.cur > b.max {
			t.Fatalf("step %d: %v outside [%v, %v]", i, d, b.cur/2, b.cur)
		}
		if b.cur < prevCap {
			t.Fatalf("step %d: shrank", i)
		}
		prevCap = b.cur
	}
	if b.cur != b.max {
		t.Fatalf("cap %v, want %v", b.cur, b.max)
	}
	b.reset()
	if d := b.next(); d > b.min {
		t.Fatalf("after reset: %v", d)
	}
}

func TestEdgeRefusalNeedsTheEdgesOwnAnswer(t *testing.T) {
	body := `{"error":"unauthorized","reason":"revoked"}`
	edge := fmt.Sprintf("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nHalo-Error: unauthorized\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if r, ok := edgeRefusal([]byte(edge)); !ok || r != "revoked" {
		t.Fatalf("edge refusal: %q %v", r, ok)
	}
	// Without the edge's mark it is not the edge's answer.
	unmarked := fmt.Sprintf("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if _, ok := edgeRefusal([]byte(unmarked)); ok {
		t.Fatal("an unmarked 403 taken for the edge's refusal")
	}
	// The same from a destination, through the edge's HTTP server (Date).
	dst := fmt.Sprintf("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if _, ok := edgeRefusal([]byte(dst)); ok {
		t.Fatal("a destination's 403 taken for the edge's refusal")
	}
}

func FuzzEdgeRefusal(f *testing.F) {
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 42\r\n\r\n{\"error\":\"unauthorized\",\"reason\":\"revoked\"}"))
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 403 \"error\":\"unauthorized\""))
	f.Fuzz(func(t *testing.T, b []byte) {
		edgeRefusal(b)
		readUnsolicited(bytes.NewReader(b))
		replayable(b)
	})
}
