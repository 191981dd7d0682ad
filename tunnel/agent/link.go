package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// link is what the agent knows about its edge: reachable, unreachable, or
// refusing this device's certificate. Changes are logged once, so an edge
// that is down or refuses the device does not flood the device's log.
type link struct {
	mu        sync.Mutex
	status    linkStatus
	epoch     uint64 // counts transitions to up, for the pool to reset its backoff
	failures  int
	downSince time.Time
	lastWarn  time.Time
	ref       *refusal
}

type linkStatus int

const (
	linkUnknown linkStatus = iota
	linkUp
	linkDown
	linkRefused
)

// stillDownEvery repeats the warning while the edge stays unreachable.
const stillDownEvery = 5 * time.Minute

// refusal is the edge's answer to a certificate it does not accept.
type refusal struct {
	reason string    // the edge's reason, e.g. "revoked"
	at     time.Time // first met
	seen   time.Time // last met
}

// body is what local clients get while the refusal stands.
func (r *refusal) body() []byte {
	b, _ := json.Marshal(map[string]string{
		"error":  "unauthorized",
		"reason": r.reason,
		"message": fmt.Sprintf("the Halo edge refused this device's certificate (%s) at %s; the agent retries in the background "+
			"and uses renewed certificate files as soon as they are written", r.reason, r.at.UTC().Format(time.RFC3339)),
	})
	return append(b, '\n')
}

// linkUp records a working edge connection.
func (a *Agent) linkUp() {
	l := &a.link
	l.mu.Lock()
	prev, failures, since := l.status, l.failures, l.downSince
	if prev != linkUp {
		l.epoch++
	}
	l.status, l.failures, l.ref = linkUp, 0, nil
	l.mu.Unlock()
	switch prev {
	case linkUnknown:
		a.logger.Info("connected to the edge", "edge", a.cfg.Edge)
	case linkDown:
		a.logger.Info("edge reachable again", "edge", a.cfg.Edge, "down_for", time.Since(since).Round(time.Millisecond), "failed_attempts", failures)
	case linkRefused:
		a.logger.Info("the edge accepts this device's certificate again", "edge", a.cfg.Edge)
	}
}

// linkDown records a failed attempt to reach the edge.
func (a *Agent) linkDown(err error) {
	a.m.edgeDialFailures.Add(1)
	l := &a.link
	now := time.Now()
	l.mu.Lock()
	prev := l.status
	l.failures++
	if prev != linkDown {
		l.status, l.downSince, l.lastWarn, l.ref = linkDown, now, now, nil
	}
	remind := prev == linkDown && now.Sub(l.lastWarn) >= stillDownEvery
	if remind {
		l.lastWarn = now
	}
	failures, since := l.failures, l.downSince
	l.mu.Unlock()
	switch {
	case prev != linkDown:
		a.logger.Warn("edge unreachable; retrying with backoff", "edge", a.cfg.Edge, "error", err)
	case remind:
		a.logger.Warn("edge still unreachable", "edge", a.cfg.Edge, "down_for", now.Sub(since).Round(time.Second), "failed_attempts", failures, "error", err)
	default:
		a.logger.Debug("edge attempt failed", "edge", a.cfg.Edge, "error", err)
	}
}

// linkRefused records that the edge refused the certificate. Local clients
// are answered from memory until the certificate files change or the pool's
// next attempt (with backoff) is accepted.
func (a *Agent) linkRefused(reason string) {
	l := &a.link
	l.mu.Lock()
	now := time.Now()
	changed := l.status != linkRefused || l.ref.reason != reason
	if changed {
		l.status, l.ref = linkRefused, &refusal{reason: reason, at: now, seen: now}
	} else {
		r := *l.ref
		r.seen = now
		l.ref = &r
	}
	l.mu.Unlock()
	if changed {
		kp := a.pair.Load()
		a.logger.Error("the edge refuses this device's certificate; local clients get 403 until the certificate files are renewed or the edge accepts it again",
			"edge", a.cfg.Edge, "reason", reason, "device_id", kp.device, "tenant", kp.tenant,
			"cert_serial", kp.leaf.SerialNumber.Text(16), "cert_not_after", kp.leaf.NotAfter.UTC().Format(time.RFC3339))
	} else {
		a.logger.Debug("the edge still refuses this device's certificate", "reason", reason)
	}
}

// refused returns the refusal local clients are answered with, or nil. A
// refusal last met more than BackoffMax ago lets a local client try the
// edge itself (the pool, when enabled, re-checks more often than that).
func (a *Agent) refused() *refusal {
	a.link.mu.Lock()
	defer a.link.mu.Unlock()
	if r := a.link.ref; r != nil && time.Since(r.seen) < a.cfg.BackoffMax {
		return r
	}
	return nil
}

// linkReachable records a completed handshake: the edge is reachable again
// if it was not, but a refusal stands until a connection is seen accepted.
func (a *Agent) linkReachable() {
	if a.linkIs(linkDown) || a.linkIs(linkUnknown) {
		a.linkUp()
	}
}

func (a *Agent) linkIs(s linkStatus) bool {
	a.link.mu.Lock()
	defer a.link.mu.Unlock()
	return a.link.status == s
}

func (a *Agent) linkEpoch() uint64 {
	a.link.mu.Lock()
	defer a.link.mu.Unlock()
	return a.link.epoch
}

// forgetRefusal clears a refusal when new certificate files are in use.
func (a *Agent) forgetRefusal() {
	l := &a.link
	l.mu.Lock()
	if l.status == linkRefused {
		l.status, l.ref = linkUnknown, nil
	}
	l.mu.Unlock()
}

// unsolicited is an answer the edge wrote before any request: a refused
// certificate (403 with a JSON reason) or a device over its connection
// limit (429).
type unsolicited struct {
	status int
	code   string // the JSON "error"
	reason string // the JSON "reason", for a refused certificate
}

// readUnsolicited parses such an answer from r.
func readUnsolicited(r io.Reader) (unsolicited, error) {
	resp, err := http.ReadResponse(bufio.NewReader(r), nil)
	if err != nil {
		return unsolicited{}, fmt.Errorf("unexpected bytes from the edge: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	u := unsolicited{status: resp.StatusCode}
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		u.code, _ = m["error"].(string)
		u.reason, _ = m["reason"].(string)
	}
	return u, nil
}

func (u unsolicited) isRefusal() bool {
	return u.status == http.StatusForbidden && u.code == "unauthorized"
}

// edgeRefusal reports whether the first bytes the edge sent on a connection
// are its refusal of the certificate. The edge writes that answer itself,
// right after the handshake, marked with a Halo-Error header and without a
// Date header; every answer that passes through its HTTP server has a Date,
// so a destination cannot be taken for the edge.
func edgeRefusal(first []byte) (string, bool) {
	if !bytes.HasPrefix(first, []byte("HTTP/1.1 403 ")) || !bytes.Contains(first, []byte(`"error":"unauthorized"`)) {
		return "", false
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(first)), nil)
	if err != nil || resp.Header.Get("Date") != "" || resp.Header.Get("Halo-Error") != "unauthorized" {
		return "", false
	}
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m["error"] != "unauthorized" {
		return "", false
	}
	reason, _ := m["reason"].(string)
	return reason, true
}
