package detect

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

func intOpt(opts map[string]string, name string, def int) (int, error) {
	v, ok := opts[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s %q: want a positive integer", name, v)
	}
	return n, nil
}

func floatOpt(opts map[string]string, name string, def float64) (float64, error) {
	v, ok := opts[name]
	if !ok {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || math.IsNaN(f) {
		return 0, fmt.Errorf("%s %q: want a positive number", name, v)
	}
	return f, nil
}

func baseFinding(name string, w *window.Window, d window.DeviceRows) Finding {
	var f Finding
	f.setBase(name, w, d.Tenant, d.Device)
	return f
}

// setBase sets a window finding's detector, device and times, field by
// field: the detectors that write their findings in place into chunks
// (a finding built on the stack was copied in whole, its 328 bytes'
// pointers through the write barrier while the collector marks).
func (f *Finding) setBase(name string, w *window.Window, tenant, device string) {
	f.Detector, f.Tenant, f.Device = name, tenant, device
	f.Time, f.WindowStart, f.WindowEnd = w.End, w.Start, w.End
}

// ---- scan ----

const scanDoc = `scan: many distinct destinations or ports in one window, mostly failing.

Catches: Mirai-style horizontal scans (one port, many addresses) and vertical
scans (one address, many ports) from a device: in one window, at least
min_targets distinct (destination, port) pairs (default 20) with at least
min_fail_ratio of its closed connections failed or refused (default 0.5).
Severity high from 4x min_targets, else medium.

False-positive risks: a device behind a broken DNS or a flapping network that
retries many hosts (failures without breadth rarely pass min_targets); a
legitimate discovery protocol (the POS looking for printers on the LAN) —
raise min_targets for that tenant.`

// Scan is the scan detector.
type Scan struct {
	minTargets int
	minFail    float64
	// Scratch for Window, cleared for every device.
	targets keySet[uint64] // destination id (cols.dstIDs) << 32 | port
	hostAt  []int32        // by destination id: 1 + the index of the last device that reached it
	ports   keySet[uint32]
	ev      []events.ID
}

func init() {
	Register("scan", scanDoc, func(o map[string]string) (any, error) {
		t, err := intOpt(o, "min_targets", 20)
		if err != nil {
			return nil, err
		}
		f, err := floatOpt(o, "min_fail_ratio", 0.5)
		if err != nil {
			return nil, err
		}
		return &Scan{minTargets: t, minFail: f}, nil
	}, "min_targets", "min_fail_ratio")
}

// Name implements WindowDetector.
func (*Scan) Name() string { return "scan" }

// reset empties the scratch sets.
func (s *Scan) reset() {
	s.targets.reset()
	s.ports.reset()
}

// smallMap is the size up to which a scratch map is cleared for reuse
// rather than made anew: clearing a map costs what it once held, and one
// that grew large (a scanning device's) would make every later clear cost
// as much.
const smallMap = 32

// Window implements WindowDetector.
func (s *Scan) Window(w *window.Window, _ *Context) []Finding {
	c := colsOf(w)
	return s.window(w, &c, nil)
}

func (s *Scan) window(w *window.Window, c *cols, _ *Context) []Finding {
	var out []Finding
	defer s.reset()
	var ids []int32
	var hostAt []int32
	for di, d := range w.Devices {
		if d.Tenant == "" || d.Device == "" {
			continue
		}
		// Its distinct targets are at most its conn.opened rows, and
		// without a conn.closed row it has no failures: most devices are
		// passed over on their counts, without a target looked up.
		if n := c.counts(di); int(n[window.TypeConnOpened]) < s.minTargets || n[window.TypeConnClosed] == 0 {
			continue
		}
		if hostAt == nil {
			var names []string
			ids, names = c.dstIDs()
			hostAt = slices.Grow(s.hostAt[:0], len(names))[:len(names)]
			clear(hostAt)
			s.hostAt = hostAt
		}
		s.reset()
		hosts, closed := 0, 0
		ev := s.ev[:0]
		prev := uint64(math.MaxUint64) // the previous row's target: a row to it again changes nothing
		for i := d.Rows[0]; i < d.Rows[1]; i++ {
			switch c.typ[i] {
			case window.TypeConnOpened:
				id, port := ids[i], c.port.Value(i)
				t := uint64(id)<<32 | uint64(port)
				if t == prev {
					continue
				}
				prev = t
				if _, added := s.targets.index(t); added && len(ev) < 16 {
					ev = append(ev, c.id(i))
				}
				if hostAt[id] != int32(di+1) {
					hostAt[id] = int32(di + 1)
					hosts++
				}
				s.ports.index(port)
			case window.TypeConnClosed:
				closed++
			}
		}
		s.ev = ev
		targets := s.targets.len()
		if targets < s.minTargets || closed == 0 {
			continue
		}
		// Failures are counted for the few devices past the targets'
		// threshold: the state column is read for their closed rows
		// alone, not for every device's.
		failed := 0
		for i := d.Rows[0]; i < d.Rows[1]; i++ {
			if c.typ[i] == window.TypeConnClosed && c.failed(i) {
				failed++
			}
		}
		ratio := float64(failed) / float64(closed)
		if ratio < s.minFail {
			continue
		}
		f := baseFinding("scan", w, d)
		f.Severity = events.Severity_SEVERITY_MEDIUM
		if targets >= 4*s.minTargets {
			f.Severity = events.Severity_SEVERITY_HIGH
		}
		f.Score = math.Min(1, float64(targets)/float64(4*s.minTargets)) * ratio
		f.Key = "scan"
		f.Evidence = slices.Clone(ev)
		f.Summary = fmt.Sprintf("scanned %d destinations (%d hosts, %d ports), %.0f%% failed", targets, hosts, s.ports.len(), 100*ratio)
		f.Explanation = fmt.Sprintf("distinct (destination, port) pairs %d ≥ %d and failed/refused connections %d of %d (%.2f ≥ %.2f) in the window",
			targets, s.minTargets, failed, closed, ratio, s.minFail)
		f.Features = []*events.Feature{
			{Name: "distinct_targets", Value: float64(targets), Baseline: float64(s.minTargets)},
			{Name: "distinct_hosts", Value: float64(hosts)},
			{Name: "distinct_ports", Value: float64(s.ports.len())},
			{Name: "failed_ratio", Value: ratio, Baseline: s.minFail},
		}
		out = append(out, f)
	}
	return out
}

// ---- flood ----

const floodDoc = `flood: a burst of connections or bytes towards one destination (DDoS participation).

Catches: in one window, a device opening at least min_conns connections
(default 100) to one destination, or sending at least min_mb megabytes
(default 50) to it. Severity high.

False-positive risks: a device syncing a large backlog to its own backend
after an outage (many connections to a known host) — such hosts are usually
seen by the whole cohort; raise the thresholds or allow-list them in policy.`

// Flood is the flood detector.
type Flood struct {
	minConns int
	minBytes uint64
	// Scratch for Window, cleared for every device.
	slot []int32 // by destination id (cols.dstIDs): 1 + index in dsts, 0 for none yet
	dsts []floodDst
	hot  []int32 // indices in dsts of the destinations past a threshold
}

// floodDst is what a device sent one destination in a window.
type floodDst struct {
	dst   int32 // id (cols.dstIDs)
	conns int
	bytes uint64
	// first holds the rows of the first 16 connections: their ids are
	// copied for a finding (rare), not for every connection.
	first []int32
}

func init() {
	Register("flood", floodDoc, func(o map[string]string) (any, error) {
		n, err := intOpt(o, "min_conns", 100)
		if err != nil {
			return nil, err
		}
		mb, err := floatOpt(o, "min_mb", 50)
		if err != nil {
			return nil, err
		}
		return &Flood{minConns: n, minBytes: uint64(mb * 1e6)}, nil
	}, "min_conns", "min_mb")
}

// Name implements WindowDetector.
func (*Flood) Name() string { return "flood" }

// Window implements WindowDetector.
func (fl *Flood) Window(w *window.Window, _ *Context) []Finding {
	c := colsOf(w)
	return fl.window(w, &c, nil)
}

func (fl *Flood) window(w *window.Window, c *cols, _ *Context) []Finding {
	var out []Finding
	var ids []int32
	var names []string
	var slot []int32
	dsts := fl.dsts[:0]
	defer func() {
		for i := range dsts {
			dsts[i] = floodDst{first: dsts[i].first[:0]}
		}
		fl.dsts = dsts
	}()
	for di, d := range w.Devices {
		if d.Tenant == "" || d.Device == "" {
			continue
		}
		// No destination can have more connections or bytes than the
		// device has in all: most devices are passed over on their
		// counts, without a destination looked up.
		if int(c.counts(di)[window.TypeConnOpened]) < fl.minConns && c.bytesSent(d) < fl.minBytes {
			continue
		}
		if slot == nil {
			ids, names = c.dstIDs()
			slot = slices.Grow(fl.slot[:0], len(names))[:len(names)]
			clear(slot)
			fl.slot = slot
		}
		for i := range dsts { // the previous device's
			slot[dsts[i].dst] = 0
			dsts[i] = floodDst{first: dsts[i].first[:0]}
		}
		dsts = dsts[:0]
		at := func(id int32) *floodDst {
			j := slot[id] - 1
			if j < 0 {
				j = int32(len(dsts))
				dsts = extend(dsts) // reuses the ids' memory
				dsts[j].dst = id
				slot[id] = j + 1
			}
			return &dsts[j]
		}
		for i := d.Rows[0]; i < d.Rows[1]; i++ {
			switch c.typ[i] {
			case window.TypeConnOpened:
				t := at(ids[i])
				t.conns++
				if len(t.first) < 16 {
					t.first = append(t.first, int32(i))
				}
			case window.TypeConnClosed:
				at(ids[i]).bytes += c.bytesUp.Value(i)
			}
		}
		// Findings are rare: sort only the destinations past a threshold
		// (sorting every destination of every device was most of the
		// detector's time).
		hot := fl.hot[:0]
		for i := range dsts {
			if t := &dsts[i]; t.dst != 0 && (t.conns >= fl.minConns || t.bytes >= fl.minBytes) {
				hot = append(hot, int32(i))
			}
		}
		fl.hot = hot
		slices.SortFunc(hot, func(a, b int32) int { return strings.Compare(names[dsts[a].dst], names[dsts[b].dst]) })
		for _, i := range hot {
			t := &dsts[i]
			dst := strings.Clone(names[t.dst]) // names alias the window's buffers
			f := baseFinding("flood", w, d)
			f.Severity = events.Severity_SEVERITY_HIGH
			f.Score = math.Min(1, math.Max(float64(t.conns)/float64(2*fl.minConns), float64(t.bytes)/float64(2*fl.minBytes)))
			f.Key = "flood:" + dst
			if len(t.first) > 0 {
				f.Evidence = make([]events.ID, len(t.first))
				for j, row := range t.first {
					f.Evidence[j] = c.id(int(row))
				}
			}
			f.DstHost = dst
			f.Summary = fmt.Sprintf("%d connections, %.1f MB sent to %s in one window", t.conns, float64(t.bytes)/1e6, dst)
			f.Explanation = fmt.Sprintf("connections to one destination %d (threshold %d), bytes up %d (threshold %d)", t.conns, fl.minConns, t.bytes, fl.minBytes)
			f.Features = []*events.Feature{
				{Name: "connections_to_destination", Value: float64(t.conns), Baseline: float64(fl.minConns)},
				{Name: "bytes_up_to_destination", Value: float64(t.bytes), Baseline: float64(fl.minBytes)},
			}
			out = append(out, f)
		}
	}
	return out
}

// ---- auth-failures ----

const authDoc = `auth-failures: a burst of refused handshakes from one device.

Catches: at least min_failures auth.failed events (default 5) for one device
in one window: a stolen or cloned device trying old, revoked or foreign
certificates, or credential stuffing against the edge. Severity high.
Refusals without a tenant (certificates from an unknown CA) are counted by
the edge's metrics, not alerted to any tenant.

False-positive risks: a device whose certificate expired keeps retrying —
a true problem, but an operational one; the alert's explanation names the
reasons seen.`

// AuthFailures is the auth-failures detector.
type AuthFailures struct{ min int }

func init() {
	Register("auth-failures", authDoc, func(o map[string]string) (any, error) {
		n, err := intOpt(o, "min_failures", 5)
		if err != nil {
			return nil, err
		}
		return &AuthFailures{min: n}, nil
	}, "min_failures")
}

// Name implements WindowDetector.
func (*AuthFailures) Name() string { return "auth-failures" }

// Window implements WindowDetector.
func (a *AuthFailures) Window(w *window.Window, _ *Context) []Finding {
	c := colsOf(w)
	return a.window(w, &c, nil)
}

func (a *AuthFailures) window(w *window.Window, c *cols, _ *Context) []Finding {
	var out []Finding
	for di, d := range w.Devices {
		if d.Tenant == "" || d.Device == "" || int(c.counts(di)[window.TypeAuthFailed]) < a.min {
			continue
		}
		n := 0
		var reasons map[string]int // made for the devices that have some
		var ev []events.ID
		for i := d.Rows[0]; i < d.Rows[1]; i++ {
			if c.typ[i] != window.TypeAuthFailed {
				continue
			}
			n++
			if reasons == nil {
				reasons = map[string]int{}
			}
			reasons[window.AuthReasonNames[c.auth[i]]]++
			if len(ev) < 16 {
				ev = append(ev, c.id(i))
			}
		}
		if n < a.min {
			continue
		}
		f := baseFinding("auth-failures", w, d)
		f.Severity = events.Severity_SEVERITY_HIGH
		f.Score = math.Min(1, float64(n)/float64(4*a.min))
		f.Key = "auth"
		f.Evidence = ev
		f.Summary = fmt.Sprintf("%d refused handshakes in one window", n)
		f.Explanation = fmt.Sprintf("auth.failed %d ≥ %d; reasons %v", n, a.min, reasons)
		f.Features = []*events.Feature{{Name: "auth_failures", Value: float64(n), Baseline: float64(a.min)}}
		out = append(out, f)
	}
	return out
}

// ---- blocked-attempts ----

const blockedDoc = `blocked-attempts: a device keeps trying what is blocked.

Catches: at least min_attempts conn.blocked events (default 3) for one device
in one window — malware retrying its C&C after a block, or a quarantined
device insisting. Severity medium; the key is the intervention, so repeated
windows update one alert.

False-positive risks: an app retrying a blocked host by design (a blocked
ad server) — tune min_attempts or lift the block.`

// BlockedAttempts is the blocked-attempts detector.
type BlockedAttempts struct{ min int }

func init() {
	Register("blocked-attempts", blockedDoc, func(o map[string]string) (any, error) {
		n, err := intOpt(o, "min_attempts", 3)
		if err != nil {
			return nil, err
		}
		return &BlockedAttempts{min: n}, nil
	}, "min_attempts")
}

// Name implements WindowDetector.
func (*BlockedAttempts) Name() string { return "blocked-attempts" }

// Window implements WindowDetector.
func (b *BlockedAttempts) Window(w *window.Window, _ *Context) []Finding {
	c := colsOf(w)
	return b.window(w, &c, nil)
}

func (b *BlockedAttempts) window(w *window.Window, c *cols, _ *Context) []Finding {
	var out []Finding
	for di, d := range w.Devices {
		// An intervention's attempts are at most the device's.
		if d.Tenant == "" || d.Device == "" || int(c.counts(di)[window.TypeConnBlocked]) < b.min {
			continue
		}
		byIV := map[string][]events.ID{}
		for i := d.Rows[0]; i < d.Rows[1]; i++ {
			if c.typ[i] == window.TypeConnBlocked {
				k := c.ivID.Value(i)
				byIV[k] = append(byIV[k], c.id(i))
			}
		}
		keys := make([]string, 0, len(byIV))
		for k := range byIV {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n := len(byIV[k])
			if n < b.min {
				continue
			}
			f := baseFinding("blocked-attempts", w, d)
			f.Severity = events.Severity_SEVERITY_MEDIUM
			f.Score = math.Min(1, float64(n)/float64(4*b.min))
			f.Key = "blocked:" + k
			f.Evidence = capIDs(byIV[k], 16)
			f.Summary = fmt.Sprintf("%d attempts at a blocked destination (intervention %s)", n, k)
			f.Explanation = fmt.Sprintf("conn.blocked %d ≥ %d for intervention %s", n, b.min, k)
			f.Features = []*events.Feature{{Name: "blocked_attempts", Value: float64(n), Baseline: float64(b.min)}}
			out = append(out, f)
		}
	}
	return out
}
