package tunnel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/intervention"
)

// ServeHTTP dispatches a device's request: CONNECT or absolute-form HTTP.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dc, _ := r.Context().Value(connKey{}).(*deviceConn)
	if dc == nil {
		writeError(w, http.StatusInternalServerError, "internal", "connection without a device identity", nil)
		return
	}
	if h := e.cfg.Health; h != nil {
		if h.SpoolFull() {
			e.m.Refusals.WithLabelValues("spool_full").Inc()
			writeError(w, http.StatusServiceUnavailable, "log_unavailable", "the event log is unreachable and the edge's spool is full; try again later", nil)
			return
		}
		if e.cfg.FailClosed && h.Spooling() {
			e.m.Refusals.WithLabelValues("fail_closed").Inc()
			writeError(w, http.StatusServiceUnavailable, "log_unavailable", "the event log is unreachable and this edge fails closed; try again later", nil)
			return
		}
	}
	if r.Method == http.MethodConnect {
		e.serveConnect(w, r, dc)
		return
	}
	if !r.URL.IsAbs() {
		e.m.Refusals.WithLabelValues("not_proxy_request").Inc()
		writeError(w, http.StatusBadRequest, "not_a_proxy_request", "the edge is a proxy: send CONNECT host:port or an absolute-form request (GET http://host/path)", nil)
		return
	}
	if r.URL.Scheme != "http" {
		e.m.Refusals.WithLabelValues("bad_scheme").Inc()
		writeError(w, http.StatusBadRequest, "unsupported_scheme", fmt.Sprintf("scheme %q: use CONNECT for https and other protocols", r.URL.Scheme), nil)
		return
	}
	e.proxy.serve(w, r, dc)
}

// writeError answers with a JSON error body.
func writeError(w http.ResponseWriter, status int, code, msg string, extra map[string]string) {
	body := map[string]string{"error": code, "message": msg}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Halo-Error", code) // marks an answer of the edge itself, not of the destination
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// splitTarget parses host:port (port required, 1-65535).
func splitTarget(hostport string, defPort int) (string, uint32, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		if defPort == 0 {
			return "", 0, fmt.Errorf("target %q: %w", hostport, err)
		}
		host, portStr = hostport, strconv.Itoa(defPort)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("target %q: bad port", hostport)
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || len(host) > 253 || strings.ContainsAny(host, " /\\@") {
		return "", 0, fmt.Errorf("target %q: bad host", hostport)
	}
	return host, uint32(port), nil
}

// resolve returns the address the edge will connect to for host.
func (e *Edge) resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	if a, ok := e.cfg.StaticHosts[host]; ok {
		return a, nil
	}
	// A wildcard entry "*.example" covers every name under example.
	for i := strings.IndexByte(host, '.'); i >= 0 && len(e.cfg.StaticHosts) > 0; {
		if a, ok := e.cfg.StaticHosts["*"+host[i:]]; ok {
			return a, nil
		}
		j := strings.IndexByte(host[i+1:], '.')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	if e.cfg.Resolve != nil {
		return e.cfg.Resolve(ctx, host)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("no address for %s", host)
	}
	// Prefer IPv4 for predictability on dual-stack loopback setups.
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	return addrs[0], nil
}

// blockResponse refuses a forbidden target with 403 and records conn.blocked.
func (e *Edge) blockResponse(w http.ResponseWriter, dc *deviceConn, connID string, t intervention.Target, reason events.CloseReason, now time.Time) {
	iv, why := e.explain(dc, t, reason, now)
	e.m.Refusals.WithLabelValues(cutLabel(reason)).Inc()
	e.emit(events.Event{ID: events.NewID(), Tenant: dc.dev.Tenant, Device: dc.dev.ID, Time: now.UTC(), Payload: &events.ConnBlocked{
		ConnId: connID, DstHost: t.Host, DstIp: addrString(t.IP), DstPort: t.Port, InterventionId: iv, Reason: why, StrictFp: t.StrictFP,
	}})
	writeError(w, http.StatusForbidden, "blocked", why, map[string]string{"intervention_id": iv})
}

// explain names the intervention behind a refusal.
func (e *Edge) explain(dc *deviceConn, t intervention.Target, reason events.CloseReason, now time.Time) (id, why string) {
	if reason == events.CloseReason_CLOSE_REASON_REVOKED {
		if q, ok := e.cfg.Interventions.Quarantine(dc.dev.Tenant, dc.dev.ID, now); ok {
			return q.ID, "device quarantined" + suffix(q.Reason) + ": only its tenant's allow-list is reachable"
		}
	}
	if b, ok := e.cfg.Interventions.Block(dc.dev.Tenant, dc.dev.ID, t, now); ok {
		return b.ID, "blocked (" + b.Match.String() + ")" + suffix(b.Reason)
	}
	return "", "blocked"
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// dialReason maps a dial error to a close reason.
func dialReason(err error) events.CloseReason {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return events.CloseReason_CLOSE_REASON_REFUSED
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return events.CloseReason_CLOSE_REASON_TIMEOUT
	default:
		return events.CloseReason_CLOSE_REASON_ERROR
	}
}
