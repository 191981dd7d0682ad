package detect

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

func durOpt(opts map[string]string, name string, def time.Duration) (time.Duration, error) {
	v, ok := opts[name]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive duration", name, v)
	}
	return d, nil
}

// ---- new-destination ----

const newDstDoc = `new-destination: a device reaches a destination its cohort has never used.

Catches: a destination (host, else IP) that no device of the cohort (tenant,
model, firmware) contacted within the horizon (default 7 days), contacted by
exactly one device in the window — malware phoning a new host, a tampered app.
Severity low (a weak signal alone; the anomaly and beaconing detectors weigh
it with others). Nothing fires during the first learning period (default 1h
of event time) of a cohort, while its baseline forms.

False-positive risks: an app update rolling out to the cohort — the first
device to update fires before the others follow (when several devices of the
cohort adopt the destination in the same window, nothing fires); devices
browsing freely (not a POS profile).`

// NewDestination is the new-destination detector.
type NewDestination struct {
	horizon, learning time.Duration
	seen              map[string]map[string]*time.Time // cohort → destination → last seen
	firstSeen         map[string]time.Time             // cohort → first window end
	lastGC            time.Time
}

func init() {
	Register("new-destination", newDstDoc, func(o map[string]string) (any, error) {
		h, err := durOpt(o, "horizon", 7*24*time.Hour)
		if err != nil {
			return nil, err
		}
		l, err := durOpt(o, "learning", time.Hour)
		if err != nil {
			return nil, err
		}
		return &NewDestination{horizon: h, learning: l, seen: map[string]map[string]*time.Time{}, firstSeen: map[string]time.Time{}}, nil
	})
}

// Name implements WindowDetector.
func (*NewDestination) Name() string { return "new-destination" }

// Window implements WindowDetector.
func (n *NewDestination) Window(w *window.Window, ctx *Context) []Finding {
	c := colsOf(w)
	type hit struct {
		cohort  string
		devices map[int]events.ID // index in w.Devices → first event
	}
	news := map[string]*hit{} // cohort|dst → devices that reached it
	var keys []string
	for di, d := range w.Devices {
		if d.Tenant == "" || d.Device == "" {
			continue
		}
		cohort := ctx.Cohort(d.Tenant, d.Device)
		if _, ok := n.firstSeen[cohort]; !ok {
			n.firstSeen[cohort] = w.End
		}
		seen := n.seen[cohort]
		for i := d.Rows[0]; i < d.Rows[1]; i++ {
			if c.typ[i] != window.TypeConnOpened {
				continue
			}
			dst := c.dst(i)
			if dst == "" {
				continue
			}
			if t, ok := seen[dst]; ok && w.End.Sub(*t) <= n.horizon {
				// Known: seen again now. (Later rows of the window find
				// it known either way.) Updated through the pointer: a
				// map assignment would replace the key with dst, which
				// aliases the window's buffers and would keep them alive.
				*t = w.End
				continue
			}
			k := cohort + "|" + dst
			h := news[k]
			if h == nil {
				h = &hit{cohort: cohort, devices: map[int]events.ID{}}
				news[k] = h
				keys = append(keys, k)
			}
			if _, ok := h.devices[di]; !ok {
				h.devices[di] = c.id(i)
			}
		}
	}
	sort.Strings(keys)
	var out []Finding
	for _, k := range keys {
		h := news[k]
		dst := k[len(h.cohort)+1:]
		learning := w.End.Sub(n.firstSeen[h.cohort]) < n.learning
		if len(h.devices) == 1 && !learning {
			for di, id := range h.devices {
				d := w.Devices[di]
				f := baseFinding("new-destination", w, d)
				f.Severity = events.Severity_SEVERITY_LOW
				f.Score = 0.3
				f.Key = "dst:" + dst
				f.Evidence = []events.ID{id}
				f.DstHost = dst
				f.Summary = "first contact of the cohort with " + dst
				f.Explanation = fmt.Sprintf("no device of cohort %s reached %s in the last %v", h.cohort, dst, n.horizon)
				f.Features = []*events.Feature{{Name: "new_destinations_cohort", Value: 1, Baseline: 0}}
				out = append(out, f)
			}
		}
		if n.seen[h.cohort] == nil {
			n.seen[h.cohort] = map[string]*time.Time{}
		}
		end := w.End
		n.seen[h.cohort][strings.Clone(dst)] = &end
	}
	n.gc(w.End)
	return out
}

func (n *NewDestination) gc(now time.Time) {
	if now.Sub(n.lastGC) < time.Hour {
		return
	}
	n.lastGC = now
	for _, m := range n.seen {
		for dst, t := range m {
			if now.Sub(*t) > n.horizon {
				delete(m, dst)
			}
		}
	}
}

// ---- beaconing ----

const beaconDoc = `beaconing: periodic connections from one device to one rare destination (C&C).

Catches: at least min_count connections (default 8) from a device to one
destination, spanning at least 3 windows, with a mean interval of at least
min_interval (default 10s) and a coefficient of variation of the intervals
at most max_cv (default 0.2) — or, irregular but persistent, at least
min_count attempts of which 80% failed (a C&C client retrying a dead
server) — to a destination reached by at most max(1, 10%) of the cohort's
devices over the horizon (default 6h), on at most 2 ports (many ports on
one host is a scan, not a beacon). A storm of failed attempts (3x
min_count in the flow) needs no 3 windows. Multicast, broadcast, link-local
and loopback destinations are never C&C (LAN discovery chatter is periodic
too). Severity high when max_cv/2 and 2x min_count are met, else medium.
Once found, every later window the flow is
active in repeats the finding (the alert's count follows).

False-positive risks: legitimate heartbeats are periodic too — they go to
destinations the whole cohort uses, which the prevalence condition excludes;
a device alone in its cohort (or the only one of its model and firmware)
has no peers to compare with, so its periodic traffic can fire.`

type beaconKey struct{ tenant, device, dst string }

type beaconState struct {
	times   []int64 // unix nanos of connection starts, last 64
	windows smallSet[int64]
	first   events.ID
	last    events.ID
	fired   bool
	closed  int // conn.closed seen for the flow
	failed  int // of them, failed or refused
	ports   smallSet[uint32]
}

// smallSet holds up to 8 distinct values: the first 8 added (a flow's
// windows and ports, where only "fewer than 3" and "more than 2" matter).
type smallSet[T comparable] struct {
	v [8]T
	n int
}

func (s *smallSet[T]) add(x T) {
	if s.n == len(s.v) {
		return
	}
	for _, y := range s.v[:s.n] {
		if y == x {
			return
		}
	}
	s.v[s.n] = x
	s.n++
}

// Beaconing is the beaconing detector.
type Beaconing struct {
	minCount    int
	minInterval time.Duration
	maxCV       float64
	horizon     time.Duration
	flows       map[beaconKey]*beaconState
	prevalence  map[string]map[string]map[string]time.Time // cohort → dst → device → last seen
	cohortDevs  map[string]map[string]time.Time            // cohort → device → last seen
	lastGC      time.Time
	// flowFloor is at most the oldest last time kept in flows (exact after
	// a gc; entries only get newer, windows come in start order): gc skips
	// the flows when none can have expired.
	flowFloor int64
	touched   map[beaconKey]string // scratch for Window
	order     []beaconKey          // scratch for Window
	// seen records every time set in prevalence and cohortDevs, in the
	// order set, which is time order (windows come in start order): gc
	// forgets expired entries by walking its expired front instead of
	// every entry (a scan of every destination was 4% of a replay).
	seen     []seenAt
	seenHead int
}

// seenAt is one time set in Beaconing.prevalence (cohort, dst, device) or,
// with device1, in Beaconing.cohortDevs (cohort, device).
type seenAt struct {
	cohort, dst, device string
	at                  time.Time
	device1             bool
}

func init() {
	Register("beaconing", beaconDoc, func(o map[string]string) (any, error) {
		n, err := intOpt(o, "min_count", 8)
		if err != nil {
			return nil, err
		}
		iv, err := durOpt(o, "min_interval", 10*time.Second)
		if err != nil {
			return nil, err
		}
		cv, err := floatOpt(o, "max_cv", 0.2)
		if err != nil {
			return nil, err
		}
		h, err := durOpt(o, "horizon", 6*time.Hour)
		if err != nil {
			return nil, err
		}
		return &Beaconing{minCount: n, minInterval: iv, maxCV: cv, horizon: h,
			flows: map[beaconKey]*beaconState{}, prevalence: map[string]map[string]map[string]time.Time{}, cohortDevs: map[string]map[string]time.Time{},
			touched: map[beaconKey]string{}}, nil
	})
}

// Name implements WindowDetector.
func (*Beaconing) Name() string { return "beaconing" }

// Window implements WindowDetector.
func (b *Beaconing) Window(w *window.Window, ctx *Context) []Finding {
	c := colsOf(w)
	// The flows the window touched (→ cohort), in order; kept across
	// windows to reuse their memory.
	touched, order := b.touched, b.order[:0]
	if len(touched) > 512 {
		// Clearing costs what the map once held: start small again.
		touched = map[beaconKey]string{}
		b.touched = touched
	} else {
		clear(touched)
	}
	defer func() { b.order = order }()
	for _, d := range w.Devices {
		if d.Tenant == "" || d.Device == "" {
			continue
		}
		cohort := ctx.Cohort(d.Tenant, d.Device)
		if b.cohortDevs[cohort] == nil {
			b.cohortDevs[cohort] = map[string]time.Time{}
		}
		b.cohortDevs[cohort][d.Device] = w.End
		b.seen = append(b.seen, seenAt{cohort: cohort, device: d.Device, at: w.End, device1: true})
		for i := d.Rows[0]; i < d.Rows[1]; i++ {
			if c.typ[i] == window.TypeConnClosed {
				if st := b.flows[beaconKey{d.Tenant, d.Device, c.dst(i)}]; st != nil {
					st.closed++
					if c.failed(i) {
						st.failed++
					}
				}
				continue
			}
			if c.typ[i] != window.TypeConnOpened {
				continue
			}
			dst := c.dst(i)
			if dst == "" {
				continue
			}
			k := beaconKey{d.Tenant, d.Device, dst}
			st := b.flows[k]
			if st == nil {
				st = &beaconState{first: c.id(i)}
				k.dst = strings.Clone(dst) // dst aliases the window's buffers
				b.flows[k] = st
			}
			st.times = append(st.times, int64(c.times[i]))
			if len(st.times) > 64 {
				st.times = st.times[len(st.times)-64:]
			}
			st.ports.add(c.port.Value(i))
			st.last = c.id(i)
			if _, ok := touched[k]; ok {
				continue // the rest is once per flow and window
			}
			touched[k] = cohort
			order = append(order, k)
			st.windows.add(w.Start.UnixNano())
			pd := b.prevalence[cohort]
			if pd == nil {
				pd = map[string]map[string]time.Time{}
				b.prevalence[cohort] = pd
			}
			if pd[dst] == nil {
				pd[strings.Clone(dst)] = map[string]time.Time{}
			}
			if len(pd[dst]) < 1024 {
				pd[dst][d.Device] = w.End
				// dst aliases the window's buffer: the record, kept for a
				// horizon, holds a copy.
				b.seen = append(b.seen, seenAt{cohort: cohort, dst: strings.Clone(dst), device: d.Device, at: w.End})
			}
		}
	}
	var out []Finding
	for _, k := range order {
		st := b.flows[k]
		// Three windows of evidence, or one storm of failed attempts (at
		// least 3x min_count) — a retry loop shows itself at once.
		storm := st.failed >= 3*b.minCount
		// A C&C client talks to one service; many ports on one host is a
		// scan (the scan detector's business), not a beacon.
		if len(st.times) < b.minCount || (st.windows.n < 3 && !storm) || !routable(k.dst) || st.ports.n > 2 {
			continue
		}
		mean, cv := intervalStats(st.times)
		periodic := mean >= float64(b.minInterval) && cv <= b.maxCV
		// A C&C client whose server is gone keeps retrying: regular or
		// not, mostly failing attempts to one rare host over several
		// windows.
		retrying := st.closed >= b.minCount && float64(st.failed) >= 0.8*float64(st.closed) && mean >= float64(100*time.Millisecond)
		if !periodic && !retrying {
			continue
		}
		cohort := touched[k]
		peers := len(b.prevalence[cohort][k.dst])
		devs := len(b.cohortDevs[cohort])
		if peers > max(1, devs/10) {
			continue
		}
		// After the first finding, every window the flow is still active
		// in repeats it (the alert's count and last seen follow).
		st.fired = true
		f := Finding{Detector: "beaconing", Tenant: k.tenant, Device: k.device, Time: w.End, WindowStart: w.Start, WindowEnd: w.End}
		f.Severity = events.Severity_SEVERITY_MEDIUM
		if cv <= b.maxCV/2 && len(st.times) >= 2*b.minCount {
			f.Severity = events.Severity_SEVERITY_HIGH
		}
		f.Score = math.Min(1, (1-cv/b.maxCV)*0.5+0.5*math.Min(1, float64(len(st.times))/float64(2*b.minCount)))
		f.Key = "beacon:" + k.dst
		f.Evidence = []events.ID{st.first, st.last}
		f.DstHost = strings.Clone(k.dst) // k.dst may alias the window's buffers
		f.Summary = fmt.Sprintf("%d connections to %s every %v (±%.0f%%)", len(st.times), k.dst, time.Duration(mean).Round(time.Second), 100*cv)
		if !periodic {
			f.Summary = fmt.Sprintf("%d attempts to %s, %d of %d failed, every %v on average", len(st.times), k.dst, st.failed, st.closed, time.Duration(mean).Round(time.Second))
		}
		f.Explanation = fmt.Sprintf("%d connections over %d windows, mean interval %v ≥ %v, coefficient of variation %.3f ≤ %.2f; %d of %d devices of cohort %s reach %s",
			len(st.times), st.windows.n, time.Duration(mean).Round(time.Millisecond), b.minInterval, cv, b.maxCV, peers, devs, cohort, k.dst)
		if !periodic {
			f.Explanation = fmt.Sprintf("%d attempts over %d windows, %d of %d closed connections failed (≥ 80%%), mean interval %v; %d of %d devices of cohort %s reach %s",
				len(st.times), st.windows.n, st.failed, st.closed, time.Duration(mean).Round(time.Millisecond), peers, devs, cohort, k.dst)
		}
		f.Features = []*events.Feature{
			{Name: "beacon_count", Value: float64(len(st.times)), Baseline: float64(b.minCount)},
			{Name: "beacon_interval_s", Value: mean / 1e9, Baseline: b.minInterval.Seconds()},
			{Name: "beacon_cv", Value: cv, Baseline: b.maxCV},
			{Name: "cohort_prevalence", Value: float64(peers), Baseline: float64(devs)},
		}
		out = append(out, f)
	}
	b.gc(w.End)
	return out
}

// routable reports whether a destination can be a C&C server: not a
// multicast, broadcast, link-local, loopback or unspecified address (LAN
// discovery chatter — mDNS, SSDP, neighbour discovery — is periodic too).
// Host names are routable.
func routable(dst string) bool {
	a, err := netip.ParseAddr(dst)
	if err != nil {
		return true
	}
	a = a.Unmap()
	return !(a.IsMulticast() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a.IsLoopback() || a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}))
}

// intervalStats returns the mean and coefficient of variation of the
// intervals between sorted times.
func intervalStats(ts []int64) (mean, cv float64) {
	s := append([]int64(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s) - 1
	if n < 1 {
		return 0, math.Inf(1)
	}
	var sum float64
	for i := 1; i < len(s); i++ {
		sum += float64(s[i] - s[i-1])
	}
	mean = sum / float64(n)
	if mean == 0 {
		return 0, math.Inf(1)
	}
	var v float64
	for i := 1; i < len(s); i++ {
		d := float64(s[i]-s[i-1]) - mean
		v += d * d
	}
	return mean, math.Sqrt(v/float64(n)) / mean
}

// gc forgets flows and devices not seen within the horizon, every eighth of
// it (event time): the state holds at most 1.125 horizons, and a scan of
// every flow per window was 7% of a replay's time.
func (b *Beaconing) gc(now time.Time) {
	if now.Sub(b.lastGC) < max(10*time.Minute, b.horizon/8) {
		return
	}
	b.lastGC = now
	if cut := now.Add(-b.horizon).UnixNano(); b.flowFloor < cut {
		floor := int64(math.MaxInt64)
		for k, st := range b.flows {
			if last := st.times[len(st.times)-1]; last < cut {
				delete(b.flows, k)
			} else {
				floor = min(floor, last)
			}
		}
		b.flowFloor = floor
	}
	// An entry expires when its last time is more than the horizon ago;
	// a record of an older time than the entry's is stale.
	for ; b.seenHead < len(b.seen); b.seenHead++ {
		r := &b.seen[b.seenHead]
		if now.Sub(r.at) <= b.horizon {
			break
		}
		if r.device1 {
			devs := b.cohortDevs[r.cohort]
			if t, ok := devs[r.device]; ok && t.Equal(r.at) {
				delete(devs, r.device)
			}
		} else {
			dsts := b.prevalence[r.cohort]
			devs := dsts[r.dst]
			if t, ok := devs[r.device]; ok && t.Equal(r.at) {
				delete(devs, r.device)
				if len(devs) == 0 {
					delete(dsts, r.dst)
				}
			}
		}
		*r = seenAt{}
	}
	if b.seenHead > len(b.seen)/2 {
		b.seen = append(b.seen[:0], b.seen[b.seenHead:]...)
		b.seenHead = 0
	}
}
