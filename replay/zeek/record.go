package zeek

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
)

// record is one conn.log record as text, with Zeek's unset and empty markers
// already turned into "".
type record struct {
	ts, uid, origH, origP, respH, respP, proto, service, duration string
	origBytes, respBytes, state, history, origPkts, respPkts      string
	label, detail                                                 string
	labeled                                                       bool   // the log has a label column
	localOrig, localResp                                          string // T, F or "" (unset)
}

// conn is a record parsed and checked.
type conn struct {
	ts                   time.Time
	dur                  time.Duration
	hasDur               bool
	orig, resp           netip.AddrPort
	origBytes, respBytes uint64
	origPkts, respPkts   uint64
}

// parse checks r and converts its fields; its errors name the field.
func (r *record) parse() (conn, error) {
	var c conn
	var err error
	if r.uid == "" {
		return c, fmt.Errorf("no uid")
	}
	if c.ts, err = parseTime(r.ts); err != nil {
		return c, fmt.Errorf("ts: %w", err)
	}
	if c.orig, err = addrPort("id.orig_h", r.origH, "id.orig_p", r.origP); err != nil {
		return c, err
	}
	if c.resp, err = addrPort("id.resp_h", r.respH, "id.resp_p", r.respP); err != nil {
		return c, err
	}
	if r.duration != "" {
		sec, nsec, err := parseSeconds(r.duration)
		if err != nil || sec > 1<<32 {
			return c, fmt.Errorf("duration %q: not a duration in seconds", r.duration)
		}
		c.dur, c.hasDur = time.Duration(sec)*time.Second+time.Duration(nsec), true
	}
	for _, f := range []struct {
		name, s string
		v       *uint64
	}{
		{"orig_bytes", r.origBytes, &c.origBytes}, {"resp_bytes", r.respBytes, &c.respBytes},
		{"orig_pkts", r.origPkts, &c.origPkts}, {"resp_pkts", r.respPkts, &c.respPkts},
	} {
		if f.s == "" {
			continue
		}
		if *f.v, err = strconv.ParseUint(f.s, 10, 64); err != nil {
			return c, fmt.Errorf("%s %q: not a count", f.name, f.s)
		}
	}
	return c, nil
}

func addrPort(hname, h, pname, p string) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(h)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%s %q: not an IP address", hname, h)
	}
	if a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%s %q: IPv6 zones are not device ids", hname, h)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%s %q: not a port", pname, p)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(n)), nil
}

// Event times must lie in what events.Event.Validate accepts.
var (
	minTime = time.Unix(0, 1)
	maxTime = time.Date(2261, 12, 31, 23, 59, 59, 0, time.UTC)
)

// parseTime parses Zeek's ts: decimal epoch seconds (TSV and default JSON)
// or an RFC 3339 string (JSON logs written with JSON::TS_ISO8601).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("unset")
	}
	var t time.Time
	if sec, nsec, err := parseSeconds(s); err == nil {
		if sec > maxTime.Unix() {
			return time.Time{}, fmt.Errorf("%q is after %d", s, maxTime.Year())
		}
		t = time.Unix(sec, nsec).UTC()
	} else if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
		return time.Time{}, fmt.Errorf("%q: not epoch seconds or RFC 3339", s)
	}
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("%q is outside 1970-%d", s, maxTime.Year())
	}
	return t.UTC(), nil
}

// parseSeconds parses a non-negative decimal number of seconds exactly
// (digits beyond nanoseconds are dropped); exponent forms go through
// float64.
func parseSeconds(s string) (sec, nsec int64, err error) {
	bad := fmt.Errorf("%q: not a non-negative number of seconds", s)
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" && fp == "" || len(ip) > 18 || !digits(ip) || !digits(fp) {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || math.IsNaN(f) || f < 0 || f >= 1<<62 {
			return 0, 0, bad
		}
		whole := math.Floor(f)
		return int64(whole), int64((f - whole) * 1e9), nil
	}
	for _, c := range ip {
		sec = sec*10 + int64(c-'0')
	}
	for i := 0; i < 9; i++ {
		nsec *= 10
		if i < len(fp) {
			nsec += int64(fp[i] - '0')
		}
	}
	return sec, nsec, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// recordEvents builds the events of one record: conn.opened, conn.closed
// and, for a label that is not benign, label.recorded.
func (p *parser) recordEvents(line int, r *record) ([]events.Event, error) {
	c, err := r.parse()
	if err != nil {
		return nil, err
	}
	// The device is the local endpoint (see Options.LocalNets): an inbound
	// record (remote originator, local responder) belongs to the local
	// host, and is recorded from its side: the peer is the remote
	// originator.
	local, peer := c.orig, c.resp
	upBytes, downBytes, upPkts, downPkts := c.origBytes, c.respBytes, c.origPkts, c.respPkts
	peerPort := c.resp.Port()
	inbound := !p.isLocal(r.localOrig, c.orig.Addr()) && p.isLocal(r.localResp, c.resp.Addr())
	if inbound {
		local, peer = c.resp, c.orig
		upBytes, downBytes, upPkts, downPkts = c.respBytes, c.origBytes, c.respPkts, c.origPkts
	}
	device := local.Addr().String()
	if err := events.ValidateDevice(device); err != nil {
		return nil, fmt.Errorf("device %s: %w", device, err)
	}
	ln := strconv.Itoa(line)
	openedID := events.DerivedID("zeek", p.opts.Tenant, p.opts.Source, ln, "opened")
	end := c.ts.Add(c.dur)
	dst := peer.Addr().String()
	evs := p.evs[:0]
	evs = append(evs,
		events.Event{
			ID: openedID, Schema: events.SchemaVersion, Tenant: p.opts.Tenant, Device: device, Time: c.ts,
			Payload: &events.ConnOpened{
				ConnId: r.uid, SrcAddr: c.orig.String(), DstIp: dst, DstHost: dst, DstPort: uint32(peerPort),
				Mode: events.ConnMode_CONN_MODE_IMPORTED, Transport: r.proto, Service: r.service,
				Inbound: inbound,
			},
		},
		events.Event{
			ID: events.DerivedID("zeek", p.opts.Tenant, p.opts.Source, ln, "closed"), Schema: events.SchemaVersion,
			Tenant: p.opts.Tenant, Device: device, Time: end,
			Payload: &events.ConnClosed{
				ConnId: r.uid, BytesUp: upBytes, BytesDown: downBytes, PacketsUp: upPkts, PacketsDown: downPkts,
				DurationNs: int64(c.dur), State: r.state, Reason: Reason(r.state, r.history),
			},
		})
	if r.labeled && !p.benign(r.label) {
		// Label spans are half-open [Start, End), as in alerts: the span is
		// the connection's, at least one nanosecond so that it holds ts.
		lend := end
		if !lend.After(c.ts) {
			lend = c.ts.Add(time.Nanosecond)
		}
		evs = append(evs, events.Event{
			ID: events.DerivedID("zeek", p.opts.Tenant, p.opts.Source, ln, "label"), Schema: events.SchemaVersion,
			Tenant: p.opts.Tenant, Device: device, Time: c.ts,
			Payload: &events.LabelRecorded{
				Label: r.label, Detail: r.detail, Malicious: !p.uncertain(r.label),
				Start: c.ts.UnixNano(), End: lend.UnixNano(), EventIds: [][]byte{openedID[:]},
				Source: events.LabelSource_LABEL_SOURCE_IMPORT,
			},
		})
	}
	for i := range evs {
		if err := evs[i].Validate(); err != nil {
			return nil, err
		}
	}
	p.evs = evs
	return evs, nil
}

func (p *parser) benign(label string) bool    { return inFold(p.opts.BenignLabels, label) }
func (p *parser) uncertain(label string) bool { return inFold(p.opts.UncertainLabels, label) }

func inFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

// isLocal reports whether an endpoint is a monitored device's: Zeek's
// local_orig/local_resp flag says T, or its address is in LocalNets.
func (p *parser) isLocal(flag string, a netip.Addr) bool {
	if flag == "T" {
		return true
	}
	a = a.Unmap()
	for _, n := range p.opts.LocalNets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}
