package detect

import (
	"strconv"
	"time"

	"github.com/halo-sec/halo/events"
)

const inboundDoc = `inbound: a remote host opened a connection to the device.

Catches: conn.opened events marked inbound — a payment terminal serves
nothing, so any connection a remote host opens to it is an attack or a
misconfiguration: scans and exploitation attempts against the device, remote
administration left open. Severity high. The edge only carries connections
the device opens, so live traffic never has inbound connections; imported
history does (halo import zeek attributes inbound records to
the local host).

False-positive risks: devices that legitimately accept connections (a
management agent listening on the LAN) — scope it with detectors in the
tenant's policy.`

func init() {
	Register("inbound", inboundDoc, func(o map[string]string) (any, error) {
		w, err := durOpt(o, "window", time.Minute)
		if err != nil {
			return nil, err
		}
		return &Inbound{window: w}, nil
	}, "window")
}

// Inbound is the inbound detector.
type Inbound struct {
	window time.Duration
	// The memory of the finding Event returns, reused at every call
	// (EventDetector): inbound connections are most of an imported log's
	// findings, and memory of their own was a thirtieth of a replay's
	// allocation.
	out inboundFinding
}

// Name implements EventDetector.
func (*Inbound) Name() string { return "inbound" }

// Event implements EventDetector.
func (d *Inbound) Event(ev *events.Event) []Finding {
	c, ok := ev.Payload.(*events.ConnOpened)
	if !ok || !c.Inbound || ev.Tenant == "" || ev.Device == "" {
		return nil
	}
	start := ev.Time.Truncate(d.window)
	in := &d.out
	in.evidence[0] = ev.ID
	// Every field, one by one (a caller's Describe may have filled in the
	// last finding's text): a finding built on the stack was copied in
	// whole (328 bytes, their pointers through the write barrier while
	// the collector marks).
	f := &in.finding[0]
	f.Detector, f.Tenant, f.Device, f.Severity, f.Score = "inbound", ev.Tenant, ev.Device, events.Severity_SEVERITY_HIGH, 0.9
	f.Key, f.Time, f.WindowStart, f.WindowEnd = "inbound", ev.Time, start, start.Add(d.window)
	f.Evidence, f.Summary, f.Explanation, f.Features = in.evidence[:], "", "", nil
	f.describe = describeInbound // most update the device's open alert
	f.Fingerprint, f.DstHost, f.DstIP, f.DstPort = nil, c.DstHost, c.DstIp, c.DstPort
	return in.finding[:]
}

// describeInbound fills in an inbound finding's summary, explanation and
// feature.
func describeInbound(f *Finding) {
	var buf [96]byte
	sum := append(buf[:0], f.DstHost...)
	sum = append(sum, " opened a connection to the device (port "...)
	sum = strconv.AppendUint(sum, uint64(f.DstPort), 10)
	sum = append(sum, ')')
	f.Summary = string(sum)
	f.Explanation = "a remote host connected to the device; payment terminals accept no inbound connections"
	f.Features = []*events.Feature{{Name: "inbound_connections", Value: 1, Baseline: 0}}
}

// inboundFinding is an inbound finding with its evidence.
type inboundFinding struct {
	finding  [1]Finding
	evidence [1]events.ID
}
