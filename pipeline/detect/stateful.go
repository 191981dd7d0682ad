package detect

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/slab"
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
	horizonText       string // horizon.String(), for the explanations
	// seen holds, by cohort and destination, a slot in at: the window end
	// the destination was last seen at. A known destination seen again
	// is updated through its slot: a map assignment to an existing key
	// would replace the key with the row's string, which aliases the
	// window's buffers and would keep them alive.
	seen      map[string]map[string]int32 // cohort → destination → slot
	at        []int64                     // by slot: unix nanos (8 bytes a slot, where a time.Time took 24)
	slots     []ndSlot                    // by slot: its entry in seen, for gc
	free      []int32                     // slots of forgotten destinations
	firstSeen map[string]time.Time        // cohort → first window end
	lastGC    time.Time
	// Scratch for Window, kept across windows to reuse its memory.
	news    keySet[uint64] // cohort (index in cohorts) << 32 | destination id (cols.dstIDs)
	newsHit []int32        // by index in news: index in hits, -1 when known
	cohorts keySet[string] // the window's cohorts
	hits    []ndHit
	// The memory of the findings, handed out from chunks (slab).
	findings []Finding
	data     []ndFindingData
}

// findingChunk is how many findings (and their data) a window detector
// allocates at once.
const findingChunk = 64

// ndHit is a destination of a cohort unknown before a window, and the
// devices that reached it in the window.
type ndHit struct {
	cohort string
	dst    string // the window's memory: copied if kept
	devs   []ndDev
	slot   int32 // the destination's slot in NewDestination.at, expired; -1 when the cohort has none
	fires  bool  // a finding: one device, the cohort past its learning period
}

// ndSlot names the entry of NewDestination.seen that holds a slot (m nil:
// a free slot).
type ndSlot struct {
	m   map[string]int32 // the cohort's
	dst string           // the entry's key
}

type ndDev struct {
	di int       // index in the window's devices
	id events.ID // the device's first event to the destination
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
		return &NewDestination{horizon: h, learning: l, horizonText: h.String(), seen: map[string]map[string]int32{}, firstSeen: map[string]time.Time{}}, nil
	}, "horizon", "learning")
}

// Name implements WindowDetector.
func (*NewDestination) Name() string { return "new-destination" }

// Window implements WindowDetector.
func (n *NewDestination) Window(w *window.Window, ctx *Context) []Finding {
	c := colsOf(w)
	return n.window(w, &c, ctx)
}

func (n *NewDestination) window(w *window.Window, c *cols, ctx *Context) []Finding {
	hits := n.hits[:0]
	end := w.End.UnixNano()
	n.news.reset()
	n.cohorts.reset()
	newsHit := n.newsHit[:0]
	defer func() {
		n.cohorts.reset() // strings of Cohort, but not kept longer than need be
		n.newsHit = newsHit
		for i := range hits {
			hits[i] = ndHit{devs: hits[i].devs[:0]}
		}
		n.hits = hits
	}()
	ids, names := c.dstIDs()
	lastCohort, ci := "", int32(-1) // devices of one cohort often follow each other
	for di, d := range w.Devices {
		if d.Tenant == "" || d.Device == "" {
			continue
		}
		cohort := c.cohort(ctx, di)
		if _, ok := n.firstSeen[cohort]; !ok {
			n.firstSeen[cohort] = w.End
		}
		if ci < 0 || cohort != lastCohort {
			ci, _ = n.cohorts.index(cohort)
			lastCohort = cohort
		}
		seen := n.seen[cohort]
		prev := int32(0) // the device's previous destination (none at first): a row to it again changes nothing
		for i := d.Rows[0]; i < d.Rows[1]; i++ {
			if c.typ[i] != window.TypeConnOpened {
				continue
			}
			id := ids[i]
			if id == 0 || id == prev {
				continue
			}
			prev = id
			// Whether the cohort knows the destination is looked up once
			// per window: a destination known is seen again now (later
			// rows find it known either way), one unknown stays so until
			// the window's end.
			ki, added := n.news.index(uint64(ci)<<32 | uint64(id))
			if added {
				newsHit = append(newsHit, -1) // known
				dst := names[id]
				s, ok := seen[dst]
				if ok && sinceNs(end, n.at[s]) <= n.horizon {
					n.at[s] = end
					continue
				}
				if !ok {
					s = -1
				}
				hi := int32(len(hits))
				hits = extend(hits) // reuses the devices' memory
				hits[hi].cohort, hits[hi].dst, hits[hi].slot = cohort, dst, s
				newsHit[ki] = hi
			}
			hi := newsHit[ki]
			if hi < 0 {
				continue // known
			}
			h := &hits[hi]
			if !slices.ContainsFunc(h.devs, func(d ndDev) bool { return d.di == di }) {
				h.devs = append(h.devs, ndDev{di, c.id(i)})
			}
		}
	}
	// In the order of cohort+"|"+dst, not joined: a joined key for every
	// new destination was an allocation, most of them only sorted.
	slices.SortFunc(hits, func(a, b ndHit) int { return compareJoined(a.cohort, a.dst, b.cohort, b.dst) })
	// Count the findings first: a slice sized for every destination left
	// was most of the detector's allocation (findings are few).
	nf := 0
	for i := range hits {
		h := &hits[i]
		if h.fires = len(h.devs) == 1 && !n.learningAt(h.cohort, w.End); h.fires {
			nf++
		}
	}
	var out []Finding
	if nf > 0 {
		// Cut from chunks, with their evidence and features: most windows
		// have one or two findings, which were two allocations a window.
		// A chunk lives until the emitting stage is done with the last
		// window cut from it.
		out = slab.Take(&n.findings, nf, findingChunk)[:0]
	}
	var m map[string]int32 // n.seen[mCohort]: hits of one cohort follow each other
	var mCohort string
	for i := range hits {
		h := &hits[i]
		dst := h.dst // the window's memory until copied
		if h.fires {
			d := w.Devices[h.devs[0].di]
			out = out[:len(out)+1]
			f := &out[len(out)-1]
			f.setBase("new-destination", w, d.Tenant, d.Device) // in place (setBase)
			f.Severity = events.Severity_SEVERITY_LOW
			f.Score = 0.3
			// One allocation for the key, summary and explanation, and
			// the copy of the destination the detector keeps (the text is
			// kept by the alert anyway).
			text := "dst:" + dst + "first contact of the cohort with " + dst + "no device of cohort " + h.cohort + " reached " + dst + " in the last " + n.horizonText
			k, sum := len("dst:")+len(dst), len("first contact of the cohort with ")+len(dst)
			f.Key, f.Summary, f.Explanation = text[:k], text[k:k+sum], text[k+sum:]
			dst = text[len("dst:"):k]
			fd := slab.Next(&n.data, findingChunk)
			fd.evidence[0] = h.devs[0].id
			fd.feature = events.Feature{Name: "new_destinations_cohort", Value: 1, Baseline: 0}
			fd.features[0] = &fd.feature
			f.Evidence = fd.evidence[:]
			f.DstHost = dst
			f.Features = fd.features[:]
		}
		if s := h.slot; s >= 0 { // expired: seen anew
			n.at[s] = end
			continue
		}
		if !h.fires {
			dst = strings.Clone(dst) // kept in seen: not the window's memory
		}
		if m == nil || h.cohort != mCohort {
			mCohort = h.cohort
			if m = n.seen[h.cohort]; m == nil {
				m = map[string]int32{}
				n.seen[h.cohort] = m
			}
		}
		var s int32
		if k := len(n.free); k > 0 {
			s, n.free = n.free[k-1], n.free[:k-1]
			n.at[s], n.slots[s] = end, ndSlot{m, dst}
		} else {
			s = int32(len(n.at))
			n.at = append(n.at, end)
			n.slots = append(n.slots, ndSlot{m, dst})
		}
		m[dst] = s
	}
	n.gc(w.End)
	return out
}

// compareJoined is strings.Compare(a1+"|"+a2, b1+"|"+b2), without joining
// them.
func compareJoined(a1, a2, b1, b2 string) int {
	if a1 == b1 { // most: the window's cohorts are few
		return strings.Compare(a2, b2)
	}
	la, lb := len(a1)+1+len(a2), len(b1)+1+len(b2)
	for i := range min(la, lb) {
		if x, y := joinedAt(a1, a2, i), joinedAt(b1, b2, i); x != y {
			return cmp.Compare(x, y)
		}
	}
	return cmp.Compare(la, lb)
}

// joinedAt is (s1+"|"+s2)[i].
func joinedAt(s1, s2 string, i int) byte {
	switch {
	case i < len(s1):
		return s1[i]
	case i == len(s1):
		return '|'
	}
	return s2[i-len(s1)-1]
}

// ndFindingData holds a new-destination finding's evidence and feature.
type ndFindingData struct {
	evidence [1]events.ID
	features [1]*events.Feature
	feature  events.Feature
}

// learningAt reports whether a cohort is still in its learning period at
// a window's end.
func (n *NewDestination) learningAt(cohort string, end time.Time) bool {
	return end.Sub(n.firstSeen[cohort]) < n.learning
}

// gc forgets the destinations not seen within the horizon, every eighth
// of it and at most once an hour of event time (a sweep of every
// destination every hour was 3% of a replay): the state holds the
// destinations seen within the horizon and that interval (1.125 horizons
// by default). Whether a destination is known depends on its last time,
// not on whether gc forgot it yet: gc only bounds the memory
// (TestNewDestinationForgetsOnlyMemory). It sweeps the slots in order,
// not the maps, whose entries' slots lie scattered in memory (a sweep of
// the maps waited for each).
func (n *NewDestination) gc(now time.Time) {
	if now.Sub(n.lastGC) < max(time.Hour, n.horizon/8) {
		return
	}
	n.lastGC = now
	nowNs := now.UnixNano()
	for s := range n.slots {
		if k := &n.slots[s]; k.m != nil && sinceNs(nowNs, n.at[s]) > n.horizon {
			delete(k.m, k.dst)
			*k = ndSlot{}
			n.at[s] = 0
			n.free = append(n.free, int32(s))
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

// beaconKey names a flow: a device's connections to a destination.
type beaconKey struct{ tenant, device, dst string }

// devKey names a device.
type devKey struct{ tenant, device string }

// beaconDev is a device's entry in Beaconing.flows: its flows by
// destination. A flow is looked up in its device's table, found once per
// window: by its destination alone, not by a key of three strings hashed
// and copied at each lookup, insertion and deletion; the destination
// hashed once a window for its flow's lookup and insertion and its
// cohort's entry's (dstTable).
type beaconDev struct {
	key   devKey
	flows dstTable[beaconState, *beaconState] // by destination
	gone  bool                                // deleted from Beaconing.flows (it held no flow)
}

// beaconState is a flow's state: 208 bytes. Its small fields come
// together, where padding after each took 288; first, with lastAt, in the
// 16 bytes gc reads of a flow's record (it read gone, then times and the
// memory times points to: a miss each on flows long out of the cache).
type beaconState struct {
	gone  bool // forgotten (deleted from the flows)
	fired bool
	route int8 // routable(key.dst), once known: 0 unknown, 1 routable, 2 not
	// lastRow is the row of the flow's last connection in the window
	// that last added one: a finding, made in that window, copies its
	// id (a copy per connection was 5% of the detector's time).
	lastRow int32
	lastAt  int64 // times' last (what gc compares)

	dev    *beaconDev // its device's entry in Beaconing.flows
	dst    string     // its key in dev.flows (a copy, shared with the records of it)
	window uint64     // the last window (Beaconing.windows) that added a connection
	times  []int64    // unix nanos of connection starts, last 64
	time1  [1]int64   // times' first memory (most flows have one connection)
	// dsts is the entry of its cohort's prevalence the flow's device was
	// last set in (nil for none): the next window's, without a lookup,
	// while it is kept and of the device's cohort.
	dsts    *dstDevs
	windows smallSet[int64]
	first   events.ID
	closed  int // conn.closed seen for the flow
	failed  int // of them, failed or refused
	ports   portSet
}

// smallSet holds up to 8 distinct values: the first 8 added (a flow's
// windows and ports, where only "fewer than 3" and "more than 2" matter).
type smallSet[T comparable] struct {
	v [8]T
	n uint8
}

func (s *smallSet[T]) add(x T) { addFirst(s.v[:], &s.n, x) }

// addFirst adds x to the n distinct values held in v unless it is one of
// them or v is full.
func addFirst[T comparable](v []T, n *uint8, x T) {
	if int(*n) == len(v) {
		return
	}
	for _, y := range v[:*n] {
		if y == x {
			return
		}
	}
	v[*n] = x
	*n++
}

// portSet holds up to 3 distinct ports, the first 3 added: a flow's,
// where only "more than 2" matters (a smallSet's 8 took 20 bytes more).
type portSet struct {
	v [3]uint32
	n uint8
}

func (s *portSet) add(x uint32) { addFirst(s.v[:], &s.n, x) }

// Beaconing is the beaconing detector.
type Beaconing struct {
	minCount    int
	minInterval time.Duration
	maxCV       float64
	horizon     time.Duration
	flows       map[devKey]*beaconDev // by device, then destination
	// cohorts holds, by cohort, when each of its devices was last seen
	// and its prevalence (beaconCohort).
	cohorts map[string]*beaconCohort
	lastGC  time.Time
	// seed is the destinations' hash seed in flows and cohorts (dstHash).
	seed uint64
	// flowRecs records, for every window, the flows it added a connection
	// to, in window order: gc finds the flows whose last connection is
	// older than the horizon among the records of windows that started
	// before it, instead of scanning every flow. That holds while every
	// row lies within its window and windows come in start order
	// (window.Window); should either fail, ordered turns false and gc
	// scans every flow, flowFloor letting it skip the scans that cannot
	// find any.
	flowRecs  fifo[flowRec]
	ordered   bool
	lastStart int64          // the last window's start
	flowFloor int64          // at most the oldest last time kept in flows (exact after a scan)
	windows   uint64         // windows seen
	touched   []beaconTouch  // scratch for Window
	flowOf    []beaconFlowOf // scratch for Window, by destination id (cols.dstIDs)
	sorted    []int64        // scratch for intervalStats
	found     []Finding      // scratch for Window: its findings, copied out at its end
	// The memory of the findings and their data, handed out from chunks
	// (slab).
	findings []Finding
	data     []beaconFindingData
	// seen records every time set in the cohorts' devices and prevalence, in the
	// order set, which is time order (windows come in start order): gc
	// forgets expired entries by walking its expired front instead of
	// every entry (a scan of every destination was 4% of a replay).
	seen fifo[seenAt]
}

// beaconCohort is a cohort's entry in Beaconing.cohorts, looked up once
// per device and window. Its prevalence, a table by destination alone
// (dstTable), compares one string a lookup: a map keyed by (cohort,
// destination) hashed and compared both strings through the generic map
// code (its lookups, insertions and deletions were 1.7x a string key's).
type beaconCohort struct {
	name string
	devs map[string]*cohortDev // by device
	// dsts holds, by destination, when each device of the cohort last
	// reached it and how many devices it holds: one entry, with its first
	// devices in it, rather than a map of (cohort, destination, device)
	// and one of the count, whose insertions, deletions and gc lookups
	// each entry paid (most live for one connection; the window detectors
	// took 1.05x the CPU).
	dsts dstTable[dstDevs, *dstDevs]
}

// cohortDev is a device's entry in its cohort's devices, looked up once
// per window: when the device was last seen, and its flows (its entry in
// Beaconing.flows unless nil, gone or another tenant's device of the same
// name), where a lookup in Beaconing.flows hashed and compared its tenant
// and device each window.
type cohortDev struct {
	at  int64         // last seen, unix nanos (a window's end)
	dev *beaconDev    // the device's flows, as last looked up or made
	co  *beaconCohort // whose entry it is
}

// dstDevs is an entry of a cohort's prevalence (beaconCohort.dsts): the
// devices of the cohort that reached a destination, and when each last
// did (unix nanos, a window's end).
type dstDevs struct {
	co   *beaconCohort    // the cohort whose entry it is
	dst  string           // its key in co.dsts
	n    int32            // devices held
	gone bool             // deleted from co.dsts (once n fell to 0)
	one  [2]devAt         // the first devices, without a map (device "": a free slot)
	more map[string]int64 // the others
}

// devAt is a device of a dstDevs and its time.
type devAt struct {
	device string
	at     int64
}

// inOne returns the device's index in one, -1 when it is not there.
func (e *dstDevs) inOne(device string) int {
	for i := range e.one {
		if e.one[i].device == device {
			return i
		}
	}
	return -1
}

// set sets the device's time.
func (e *dstDevs) set(device string, at int64) {
	if i := e.inOne(device); i >= 0 {
		e.one[i].at = at
		return
	}
	if e.more != nil {
		if _, ok := e.more[device]; ok {
			e.more[device] = at
			return
		}
	}
	e.n++
	for i := range e.one {
		if e.one[i].device == "" {
			e.one[i] = devAt{device, at}
			return
		}
	}
	if e.more == nil {
		e.more = map[string]int64{}
	}
	e.more[device] = at
}

// expire forgets the device if its time is at, and reports whether it
// did.
func (e *dstDevs) expire(device string, at int64) bool {
	if i := e.inOne(device); i >= 0 {
		if e.one[i].at != at {
			return false
		}
		e.one[i] = devAt{}
	} else if t, ok := e.more[device]; ok && t == at {
		delete(e.more, device)
	} else {
		return false
	}
	e.n--
	return true
}

// flowRec is a window (its bounds, unix nanos) that added a connection to
// a flow.
type flowRec struct {
	flow       *beaconState
	start, end int64
}

// beaconFlowOf is a device's flow to a destination (nil for none), once
// looked up in a window: for the device gen (1 + its index in the
// window's devices), with the destination's hash (dstHash).
type beaconFlowOf struct {
	gen uint32
	st  *beaconState
	h   uint64
}

// beaconTouch is a flow a window added a connection to, and the cohort of
// its device.
type beaconTouch struct {
	flow *beaconState
	co   *beaconCohort
}

// seenAt is one time set in a cohort's devices (the device's entry cd)
// or, with an entry, in a cohort's prevalence (the device's in the entry
// of its key): 40 bytes, where a flow reaches every window.
type seenAt struct {
	cd     *cohortDev // with no entry
	device string
	dsts   *dstDevs // the entry set, kept or not
	at     int64    // the time set, unix nanos (a window's end)
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
			flows: map[devKey]*beaconDev{}, cohorts: map[string]*beaconCohort{},
			ordered: true, lastStart: math.MinInt64, seed: rand.Uint64()}, nil
	}, "min_count", "min_interval", "max_cv", "horizon")
}

// Name implements WindowDetector.
func (*Beaconing) Name() string { return "beaconing" }

// Window implements WindowDetector.
func (b *Beaconing) Window(w *window.Window, ctx *Context) []Finding {
	c := colsOf(w)
	return b.window(w, &c, ctx)
}

func (b *Beaconing) window(w *window.Window, c *cols, ctx *Context) []Finding {
	// The flows the window added connections to, in order; kept across
	// windows to reuse its memory.
	touched := b.touched[:0]
	defer func() {
		clear(touched)
		b.touched = touched
	}()
	b.windows++
	start, end := w.Start.UnixNano(), w.End.UnixNano()
	if start < b.lastStart {
		b.ordered = false
	}
	b.lastStart = start
	ids, names := c.dstIDs()
	// The flows of the device by destination id, looked up once per
	// window (a lookup hashes the tenant, device and destination).
	flowOf := slices.Grow(b.flowOf[:0], len(names))[:len(names)]
	clear(flowOf)
	defer func() {
		clear(flowOf)
		b.flowOf = flowOf
	}()
	for di, d := range w.Devices {
		if d.Tenant == "" || d.Device == "" {
			continue
		}
		cohort := c.cohort(ctx, di)
		co := b.cohorts[cohort]
		if co == nil {
			co = &beaconCohort{name: cohort, devs: map[string]*cohortDev{}}
			b.cohorts[cohort] = co
		}
		cd := co.devs[d.Device]
		if cd == nil {
			cd = &cohortDev{co: co}
			co.devs[d.Device] = cd
		}
		cd.at = end
		b.seen.push(seenAt{cd: cd, device: d.Device, at: end})
		gen := uint32(di + 1)
		// The device's flows, looked up at its first connection row: a
		// device without any has none to look up.
		var dev *beaconDev
		looked := false
		flow := func(id int32) *beaconState {
			if f := &flowOf[id]; f.gen == gen {
				return f.st
			}
			if !looked {
				looked = true
				// A cohort's devices are by device alone: a device of
				// the same name in another tenant may share the entry.
				if dev = cd.dev; dev == nil || dev.gone || dev.key.tenant != d.Tenant {
					dev = b.flows[devKey{d.Tenant, d.Device}]
					cd.dev = dev
				}
			}
			return b.lookFlow(dev, &flowOf[id], gen, names[id])
		}
		for i := d.Rows[0]; i < d.Rows[1]; i++ {
			if c.typ[i] == window.TypeConnClosed {
				if id := ids[i]; id != 0 {
					if st := flow(id); st != nil {
						st.closed++
						if c.failed(i) {
							st.failed++
						}
					}
				}
				continue
			}
			if c.typ[i] != window.TypeConnOpened {
				continue
			}
			id := ids[i]
			if id == 0 {
				continue
			}
			st := flow(id)
			if st == nil {
				if dev == nil { // looked up by flow
					dev = &beaconDev{key: devKey{d.Tenant, d.Device}}
					b.flows[dev.key] = dev
					cd.dev = dev
				}
				// The flow's entry in its cohort's prevalence, found or
				// made now (as below for a flow's first connection in a
				// window), holds the copy of the destination (names
				// alias the window's buffers): another device's when
				// the cohort has the entry, not a copy per flow.
				h := flowOf[id].h
				e := co.dsts.get(h, names[id])
				if e == nil {
					e = &dstDevs{co: co, dst: strings.Clone(names[id])}
					co.dsts.Insert(h, e)
				}
				st = &beaconState{dev: dev, dst: e.dst, first: c.id(i), dsts: e}
				st.times = st.time1[:0]
				dev.flows.Insert(flowOf[id].h, st)
				flowOf[id].st = st
			}
			dst := st.dst // the copy, for everything kept
			at := int64(c.times[i])
			if at < start || at >= end {
				b.ordered = false
			}
			st.times = append(st.times, at)
			st.lastAt = at
			if len(st.times) > 64 {
				st.times = st.times[len(st.times)-64:]
			}
			st.ports.add(c.port.Value(i))
			st.lastRow = int32(i)
			if st.window == b.windows {
				continue // the rest is once per flow and window
			}
			st.window = b.windows
			touched = append(touched, beaconTouch{st, co})
			if b.ordered {
				b.flowRecs.push(flowRec{flow: st, start: start, end: end})
			}
			st.windows.add(start)
			e := st.dsts
			if e == nil || e.gone || e.co != co {
				if e = co.dsts.get(flowOf[id].h, dst); e == nil {
					e = &dstDevs{co: co, dst: dst}
					co.dsts.Insert(flowOf[id].h, e)
				}
				st.dsts = e
			}
			if e.n < 1024 {
				e.set(d.Device, end)
				b.seen.push(seenAt{device: d.Device, dsts: e, at: end})
			}
		}
	}
	found := b.found[:0]
	for _, t := range touched {
		st := t.flow
		// Three windows of evidence, or one storm of failed attempts (at
		// least 3x min_count) — a retry loop shows itself at once.
		storm := st.failed >= 3*b.minCount
		// A C&C client talks to one service; many ports on one host is a
		// scan (the scan detector's business), not a beacon.
		if len(st.times) < b.minCount || (st.windows.n < 3 && !storm) || !st.routable() || st.ports.n > 2 {
			continue
		}
		mean, cv := intervalStats(st.times, &b.sorted)
		periodic := mean >= float64(b.minInterval) && cv <= b.maxCV
		// A C&C client whose server is gone keeps retrying: regular or
		// not, mostly failing attempts to one rare host over several
		// windows.
		retrying := st.closed >= b.minCount && float64(st.failed) >= 0.8*float64(st.closed) && mean >= float64(100*time.Millisecond)
		if !periodic && !retrying {
			continue
		}
		k, co := st.key(), t.co
		peers := 0
		if e := co.dsts.get(dstHash(b.seed, k.dst), k.dst); e != nil {
			peers = int(e.n)
		}
		devs := len(co.devs)
		if peers > max(1, devs/10) {
			continue
		}
		// After the first finding, every window the flow is still active
		// in repeats it (the alert's count and last seen follow).
		st.fired = true
		// In place into the scratch (cleared after each window; setBase).
		found = extend(found)
		f := &found[len(found)-1]
		f.setBase("beaconing", w, k.tenant, k.device)
		f.Severity = events.Severity_SEVERITY_MEDIUM
		if cv <= b.maxCV/2 && len(st.times) >= 2*b.minCount {
			f.Severity = events.Severity_SEVERITY_HIGH
		}
		f.Score = math.Min(1, (1-cv/b.maxCV)*0.5+0.5*math.Min(1, float64(len(st.times))/float64(2*b.minCount)))
		f.Key = "beacon:" + k.dst
		f.DstHost = k.dst // the flow's copy
		f.Summary, f.Explanation = b.describe(st, periodic, mean, cv, peers, devs, co.name)
		// The evidence and the features, cut from a chunk.
		fe := slab.Next(&b.data, findingChunk)
		fe.evidence = [2]events.ID{st.first, c.id(int(st.lastRow))}
		fe.values = [4]events.Feature{
			{Name: "beacon_count", Value: float64(len(st.times)), Baseline: float64(b.minCount)},
			{Name: "beacon_interval_s", Value: mean / 1e9, Baseline: b.minInterval.Seconds()},
			{Name: "beacon_cv", Value: cv, Baseline: b.maxCV},
			{Name: "cohort_prevalence", Value: float64(peers), Baseline: float64(devs)},
		}
		for i := range fe.values {
			fe.features[i] = &fe.values[i]
		}
		f.Evidence, f.Features = fe.evidence[:], fe.features[:]
	}
	var out []Finding
	if len(found) > 0 {
		// Copied out of the scratch into a chunk's memory: a slice
		// grown by append was an allocation or more a window with
		// findings.
		out = slab.Take(&b.findings, len(found), findingChunk)
		copy(out, found)
		clear(found) // nothing kept past the window
	}
	b.found = found
	b.gc(w.End)
	return out
}

// beaconFindingData holds a beaconing finding's evidence and features.
type beaconFindingData struct {
	evidence [2]events.ID
	features [4]*events.Feature
	values   [4]events.Feature
}

// describe returns a beaconing finding's summary and explanation: for a
// periodic flow,
//
//	"%d connections to %s every %v (±%.0f%%)"
//	"%d connections over %d windows, mean interval %v ≥ %v, coefficient of variation %.3f ≤ %.2f; %d of %d devices of cohort %s reach %s"
//
// else
//
//	"%d attempts to %s, %d of %d failed, every %v on average"
//	"%d attempts over %d windows, %d of %d closed connections failed (≥ 80%%), mean interval %v; %d of %d devices of cohort %s reach %s"
//
// as fmt.Sprintf would write them (TestBeaconDescribeIsSprintf), without
// its cost per finding.
func (b *Beaconing) describe(st *beaconState, periodic bool, mean, cv float64, peers, devs int, cohort string) (summary, explanation string) {
	n, dst := len(st.times), st.dst
	every := time.Duration(mean).Round(time.Second).String()
	interval := time.Duration(mean).Round(time.Millisecond).String()
	var buf [256]byte
	s := buf[:0]
	if periodic {
		s = strconv.AppendInt(s, int64(n), 10)
		s = append(s, " connections to "...)
		s = append(s, dst...)
		s = append(s, " every "...)
		s = append(s, every...)
		s = append(s, " (±"...)
		s = strconv.AppendFloat(s, 100*cv, 'f', 0, 64)
		s = append(s, "%)"...)
		summary = string(s)
		s = strconv.AppendInt(s[:0], int64(n), 10)
		s = append(s, " connections over "...)
		s = strconv.AppendInt(s, int64(st.windows.n), 10)
		s = append(s, " windows, mean interval "...)
		s = append(s, interval...)
		s = append(s, " ≥ "...)
		s = append(s, b.minInterval.String()...)
		s = append(s, ", coefficient of variation "...)
		s = strconv.AppendFloat(s, cv, 'f', 3, 64)
		s = append(s, " ≤ "...)
		s = strconv.AppendFloat(s, b.maxCV, 'f', 2, 64)
	} else {
		s = strconv.AppendInt(s, int64(n), 10)
		s = append(s, " attempts to "...)
		s = append(s, dst...)
		s = append(s, ", "...)
		s = strconv.AppendInt(s, int64(st.failed), 10)
		s = append(s, " of "...)
		s = strconv.AppendInt(s, int64(st.closed), 10)
		s = append(s, " failed, every "...)
		s = append(s, every...)
		s = append(s, " on average"...)
		summary = string(s)
		s = strconv.AppendInt(s[:0], int64(n), 10)
		s = append(s, " attempts over "...)
		s = strconv.AppendInt(s, int64(st.windows.n), 10)
		s = append(s, " windows, "...)
		s = strconv.AppendInt(s, int64(st.failed), 10)
		s = append(s, " of "...)
		s = strconv.AppendInt(s, int64(st.closed), 10)
		s = append(s, " closed connections failed (≥ 80%), mean interval "...)
		s = append(s, interval...)
	}
	s = append(s, "; "...)
	s = strconv.AppendInt(s, int64(peers), 10)
	s = append(s, " of "...)
	s = strconv.AppendInt(s, int64(devs), 10)
	s = append(s, " devices of cohort "...)
	s = append(s, cohort...)
	s = append(s, " reach "...)
	s = append(s, dst...)
	return summary, string(s)
}

// gcFlows forgets the flows whose last connection started before cut.
func (b *Beaconing) gcFlows(cut int64) {
	if !b.ordered {
		b.flowRecs = fifo[flowRec]{}
		if b.flowFloor >= cut {
			return
		}
		floor := int64(math.MaxInt64)
		var old []*beaconState // forgotten after the scan, which a removal would upset
		for _, dev := range b.flows {
			for _, st := range dev.flows.all() {
				if last := st.lastAt; last < cut {
					old = append(old, st)
				} else {
					floor = min(floor, last)
				}
			}
		}
		for _, st := range old {
			b.forget(st)
		}
		b.flowFloor = floor
		return
	}
	if b.flowFloor >= cut {
		return // the first gcs while cut is not past 0 (the flows' floor before any scan)
	}
	b.flowFloor = math.MinInt64 // not kept: no bound known
	// A flow's last connection lies in the last window that added one,
	// whose record is the flow's last: a flow whose last connection is
	// before cut has its last record among those of windows that started
	// before cut. A record of a window that ended by cut is done with
	// (its flow is forgotten now, or has a later record).
	done := 0 // records at the front done with
	for i := 0; i < b.flowRecs.len(); i++ {
		r := b.flowRecs.at(i)
		if r.start >= cut {
			break
		}
		if st := r.flow; !st.gone && st.lastAt < cut {
			b.forget(st)
		}
		if done == i && r.end <= cut {
			done++
		}
	}
	for range done {
		b.flowRecs.pop()
	}
}

// forget deletes a flow from Beaconing.flows, and its device once it has
// none left (a device's map keeps the memory of the most flows it held).
func (b *Beaconing) forget(st *beaconState) {
	dev := st.dev
	dev.flows.Remove(dstHash(b.seed, st.dst), st)
	if dev.flows.Len() == 0 {
		delete(b.flows, dev.key)
		dev.gone = true
	}
	st.gone = true
}

// lookFlow sets *f to the device's flow to dst (none without dev) for the
// device gen, with dst's hash: the flow's lookup and insertion and its
// cohort's entry's hash it once a window.
func (b *Beaconing) lookFlow(dev *beaconDev, f *beaconFlowOf, gen uint32, dst string) *beaconState {
	h := dstHash(b.seed, dst)
	var st *beaconState
	if dev != nil {
		st = dev.flows.get(h, dst)
	}
	*f = beaconFlowOf{gen, st, h}
	return st
}

// dstKey returns the flow's key in its device's flows (dstTable).
func (st *beaconState) dstKey() string { return st.dst }

// dstKey returns the entry's key in its cohort's prevalence (dstTable).
func (e *dstDevs) dstKey() string { return e.dst }

// key returns the flow's key.
func (st *beaconState) key() beaconKey {
	return beaconKey{st.dev.key.tenant, st.dev.key.device, st.dst}
}

// routable is routable(st.dst), parsed once per flow (a parse per
// flow and window was 0.5% of a replay).
func (st *beaconState) routable() bool {
	if st.route == 0 {
		st.route = 2
		if routable(st.dst) {
			st.route = 1
		}
	}
	return st.route == 1
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
// intervals between ts once sorted, sorting a copy in *scratch if need be.
// The intervals' sum is taken in the pass that finds ts sorted, which
// connections mostly are (a pass of its own, then the sum's, were a third
// of its time).
func intervalStats(ts []int64, scratch *[]int64) (mean, cv float64) {
	s := ts
	var sum float64
	for i := 1; i < len(s); i++ {
		if s[i] < s[i-1] {
			s = append((*scratch)[:0], ts...)
			*scratch = s
			slices.Sort(s)
			sum = 0
			for i := 1; i < len(s); i++ {
				sum += float64(s[i] - s[i-1])
			}
			break
		}
		sum += float64(s[i] - s[i-1])
	}
	n := len(s) - 1
	if n < 1 {
		return 0, math.Inf(1)
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

// sinceNs is now.Sub(at) for unix nanos: saturated, like time.Time.Sub.
func sinceNs(now, at int64) time.Duration {
	d := now - at
	if (now >= at) != (d >= 0) { // overflowed
		if now >= at {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return time.Duration(d)
}

// gc forgets flows and devices not seen within the horizon, every eighth of
// it (event time): the state holds at most 1.125 horizons, and a scan of
// every flow per window was 7% of a replay's time.
func (b *Beaconing) gc(now time.Time) {
	if now.Sub(b.lastGC) < max(10*time.Minute, b.horizon/8) {
		return
	}
	b.lastGC = now
	b.gcFlows(now.Add(-b.horizon).UnixNano())
	// An entry expires when its last time is more than the horizon ago;
	// a record of an older time than the entry's is stale.
	nowNs := now.UnixNano()
	for ; b.seen.len() > 0; b.seen.pop() {
		r := b.seen.at(0)
		if sinceNs(nowNs, r.at) <= b.horizon {
			break
		}
		e := r.dsts
		if e == nil {
			// A device's record: stale, without a lookup in its
			// cohort's devices, once its entry has a later time (most
			// are: a device is seen window after window). An entry not
			// held any more was deleted at its time: the one held is a
			// newer entry of the device, which this record is not of.
			if cd := r.cd; cd.at == r.at {
				if devs := cd.co.devs; devs[r.device] == cd {
					delete(devs, r.device)
				}
			}
			continue
		}
		if e.gone {
			// Forgotten, and its key perhaps set anew since: the
			// record is of the entry of its key now.
			if e = e.co.dsts.get(dstHash(b.seed, e.dst), e.dst); e == nil {
				continue
			}
		}
		if e.expire(r.device, r.at) && e.n == 0 {
			e.co.dsts.Remove(dstHash(b.seed, e.dst), e)
			e.gone = true
		}
	}
}
