package window

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/strhash"
)

// Assembler cuts traffic events into event-time windows per partition and
// builds each closed window into an Arrow record batch. See the package
// documentation for the rules and the layout; it is not safe for concurrent
// use.
type Assembler struct {
	cfg                     Config
	size, lateness, horizon int64
	idle                    int64
	top                     int64 // the largest watermark of any partition
	topNext                 int64 // at most the end of top's window (see raiseTop)
	mem                     memory.Allocator
	dicts                   *dictionaries
	nulls                   nullArrays   // all-null columns, shared by windows
	tenantCols              tenantArrays // the tenant columns of windows of one tenant, shared
	parts                   []partition
	closed                  []*Window // closed but not yet released by Closed: see there
	stats                   Stats
	released                bool
	seed                    uint64 // of devHash
	lastTenant, lastDevice  string // the ids of the previous Add, as it gave them
	lastDev                 *devState
	tenant                  *tenantID            // the last tenant looked up
	tenants                 map[string]*tenantID // every tenant seen
	devs                    devTable             // every device, of every partition
	early                   int                  // see Add
	free                    []*pending           // closed windows, emptied, for new ones
	order, pos, perm        []int32              // build's scratch
	spans                   []uint64             // build's too (see stringSpans)
	keys                    []devKey
	cols                    columns          // and its columns
	batchMem                memory.Allocator // what batches are allocated from: mem, or slabs
	slabs                   *slabPool        // with Config.Recycle
}

// spares holds the emptied pending windows (their column slices) of
// released Assemblers for the next ones (a replay or a test makes one
// after another): Go memory that no window exposes, held until the
// garbage collector clears the pool.
var spares sync.Pool

// Stats counts what an Assembler did.
type Stats struct {
	// Added counts the events that became rows.
	Added uint64
	// Late counts the events dropped because their window had already
	// closed on their partition.
	Late uint64
	// Ignored counts the events that are not traffic (or have no payload, or
	// an event time at or before the Unix epoch).
	Ignored uint64
	// OpenWindows is the number of (partition, window) pairs holding rows
	// that have not closed yet.
	OpenWindows int
	// ClosedWindows counts the windows closed so far.
	ClosedWindows uint64
	// Joined counts the conn.closed rows that found their conn.opened;
	// Unjoined those that did not (opened before the log range, forgotten by
	// the horizon, or never recorded).
	Joined, Unjoined uint64
	// OpenConns is the number of connections waiting for their conn.closed.
	OpenConns int
	// ForgottenConns counts the open connections dropped unjoined by
	// JoinHorizon or MaxOpenPerDevice.
	ForgottenConns uint64
	// Oversize counts the events dropped because their window's strings
	// would pass 2 GiB (Arrow utf8 offsets are int32): about 20 million
	// events in one partition and window.
	Oversize uint64
}

type partition struct {
	id        int
	wm        int64 // watermark; math.MinInt64 until the first event or tick
	open      []*pending
	devs      []*devState // the devices of the partition, in no particular order
	openConns int
	hint      int         // rows of the last window closed: the next one's first reservation
	strHint   [numStr]int // and the bytes of its string columns
	latest    int64       // the start of the window of its latest event (see add)
}

// devState is what an Assembler remembers of one device of a partition:
// 320 bytes, five cache lines, which AddBatch asks the memory system for
// ahead of add (prefetchDev; TestPrefetchSpan). The first line holds what
// the device lookup compares (the tenant, and a copy of a short device id,
// so that the lookup reads no other memory: the id's own bytes would be
// one more cache miss an event); the second the device's slots in its open
// windows (inline: a slice of its own would be another miss, as would the
// window's group, whose counts the slot keeps while the window is open);
// the connection table's count and first connection follow; the device id
// is last (build reads it, add does not).
type devState struct {
	short   [shortDev]byte // the device id, zero-padded, when at most shortDev bytes
	dlen    int32          // len(device)
	part    int32          // partition
	tenant  *tenantID
	last    int64   // start of the latest window the device had rows in
	slots   []slot  // the open windows holding rows of the device: slotBuf's,
	slotBuf [2]slot // unless Lateness spans more than two windows
	conns   connTable
	device  string // owned copy
}

// devKey is a device's ids, as build sorts them.
type devKey struct{ tenant, device string }

// shortDev is the longest device id a devState holds a copy of: the
// synthetic ids, IPv4 addresses (the Zeek hosts) and most serial numbers.
const shortDev = 16

// newDevState returns the state of a new device. Its slots slice points
// into the state itself (slotBuf), so a devState is never copied: only
// pointers to it are passed around.
func newDevState(tenant *tenantID, device string, part int) *devState {
	d := &devState{dlen: int32(len(device)), part: int32(part), tenant: tenant, device: strings.Clone(device)}
	d.slots = d.slotBuf[:0]
	if len(device) <= shortDev {
		copy(d.short[:], device)
	}
	return d
}

// is reports whether d is the state of (tenant, device).
func (d *devState) is(tenant *tenantID, device string) bool {
	if d.tenant != tenant || int(d.dlen) != len(device) {
		return false
	}
	if len(device) > shortDev {
		return d.device == device
	}
	return eqShort(&d.short, device)
}

// eqShort reports whether s (at most shortDev bytes) is the start of b,
// with at most four loads a side instead of a call to compare memory:
// from 8 bytes on, the first and the last eight (overlapping), below the
// same with four, then single bytes (as strhash.String reads a tail).
func eqShort(b *[shortDev]byte, s string) bool {
	switch n := len(s); {
	case n >= 8:
		return strhash.LE64(s) == binary.LittleEndian.Uint64(b[:]) && strhash.LE64(s[n-8:]) == binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		return strhash.LE32(s) == uint64(binary.LittleEndian.Uint32(b[:])) && strhash.LE32(s[n-4:]) == uint64(binary.LittleEndian.Uint32(b[n-4:]))
	case n > 0:
		return s[0] == b[0] && s[n/2] == b[n/2] && s[n-1] == b[n-1]
	}
	return true
}

// hash returns d's hash in the device table.
func (a *Assembler) hash(d *devState) uint64 {
	return keyHash(d.tenant.h, devHash(a.seed, d.device))
}

// slot is a device's group in an open window, and the group's counts
// until the window closes (close copies them into the group).
type slot struct {
	w     *pending
	lastT int64 // time of the latest row
	g     int32 // index in w.groups
	n     int32 // rows
	last  int32 // the latest row
	// unsorted: some row arrived before one that precedes it in (time,
	// id) order, so build must sort the device's rows. Noted as the rows
	// arrive, where the previous row's time is at hand, instead of by a
	// pass over the window's rows at close that reads them scattered.
	unsorted bool
}

// pending is an open (partition, window): its rows in arrival order.
type pending struct {
	rows
	part       int
	start, end int64
	strTotal   int // string bytes, all columns together
	groups     []group
}

// devIdleWindows is how many windows a device that holds nothing is kept
// after its last rows (see sweep).
const devIdleWindows = 4

// group is one device of a pending window; its counts are the device's
// slot's until the window closes.
type group struct {
	dev      *devState
	n        int32 // rows
	unsorted bool  // see slot
}

// addRow counts row i, with time t, in s.
func (s *slot) addRow(r *rows, i int32, t int64) {
	if s.n > 0 && (t < s.lastT || t == s.lastT && r.cmpRows(s.last, i) > 0) {
		s.unsorted = true
	}
	s.n++
	s.last, s.lastT = i, t
}

// New returns an Assembler for a log of the given number of partitions
// (events.Partition(device, partitions) places events). A nil mem means
// memory.DefaultAllocator.
func New(cfg Config, partitions int, mem memory.Allocator) (*Assembler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if partitions < 1 {
		return nil, fmt.Errorf("%w: %d partitions, need at least 1", ErrPartition, partitions)
	}
	cfg.setDefaults()
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	a := &Assembler{
		cfg: cfg, size: int64(cfg.Size), lateness: int64(cfg.Lateness), horizon: int64(cfg.JoinHorizon),
		idle: int64(cfg.Idle), top: math.MinInt64, topNext: math.MinInt64, mem: mem, dicts: newDictionaries(), parts: make([]partition, partitions),
		seed: rand.Uint64(), batchMem: mem,
	}
	for i := range a.parts {
		a.parts[i] = partition{id: i, wm: math.MinInt64}
	}
	// The current tenant starts as "", so its hash must be the one "" gets
	// when looked up again later: otherwise the devices of events without
	// a tenant would be found under two hashes (two groups of one device).
	a.lookupTenant("")
	if cfg.Recycle {
		a.slabs = newSlabPool(mem)
		a.batchMem = a.slabs
	}
	return a, nil
}

// Config returns the configuration in use, defaults applied.
func (a *Assembler) Config() Config { return a.cfg }

// Add appends ev as a row of its (partition, window) and reports whether it
// did: it is false for an event whose window has already closed on its
// partition (counted in Stats.Late) and for events that are not traffic
// (conn.opened, conn.closed, conn.blocked, tx.observed, auth.failed) or have
// no payload or an event time at or before 1970 (Stats.Ignored). Adding an
// event raises its partition's watermark and closes the windows it passes;
// collect them with Closed. The assembler keeps references to the strings of
// conn.opened payloads until the connection closes or is forgotten.
func (a *Assembler) Add(ev *events.Event) bool { return a.add(ev, 0, false) }

// add is Add; when hashed is set, h is keyHash of ev's tenant and device
// (AddBatch computes it ahead).
func (a *Assembler) add(ev *events.Event, h uint64, hashed bool) bool {
	if ev == nil || ev.Payload == nil || a.released {
		a.stats.Ignored++
		return false
	}
	// The payload is read here, before the device lookup: it is mostly out
	// of cache, and the processor can wait for it and the device at once.
	// Besides the connection id, one field of each further cache line a
	// payload spans is read (into a.early, so that the read stays).
	var connID string
	switch pl := ev.Payload.(type) {
	case *events.ConnOpened:
		connID = pl.ConnId
		a.early += len(pl.TlsFp)
	case *events.ConnClosed:
		connID = pl.ConnId
		a.early += len(pl.State)
	case *events.ConnBlocked:
		connID = pl.ConnId
	case *events.TxObserved:
		connID = pl.ConnId
		a.early += len(pl.StrictFp) + int(pl.Status)
	case *events.AuthFailed:
	default:
		a.stats.Ignored++
		return false
	}
	t := ev.Time.UnixNano()
	if t <= 0 {
		a.stats.Ignored++
		return false
	}
	d := a.lastDev
	if d == nil || !sameString(ev.Device, a.lastDevice) || !sameString(ev.Tenant, a.lastTenant) {
		// Not the same strings as the previous event's (equal ones are
		// looked up).
		if ev.Tenant != a.tenant.name {
			a.lookupTenant(ev.Tenant)
		}
		if !hashed {
			h = keyHash(a.tenant.h, devHash(a.seed, ev.Device))
		}
		d = a.devs.find(h, a.tenant, ev.Device)
		if d == nil {
			d = newDevState(a.tenant, ev.Device, events.Partition(ev.Device, len(a.parts)))
			a.devs.Insert(h, d)
			q := &a.parts[d.part]
			q.devs = append(q.devs, d)
		}
		a.lastTenant, a.lastDevice, a.lastDev = ev.Tenant, ev.Device, d
	}
	p := &a.parts[d.part]
	// Most events of a partition fall in the window of its event before:
	// a division (tens of cycles, each event) only for one that does not.
	start := p.latest
	if t < start || t-start >= a.size {
		start = t - t%a.size
		p.latest = start
	}
	if start+a.size <= p.wm {
		a.stats.Late++
		return false
	}
	w := a.window(p, start)
	d.last = max(d.last, start)
	// A window's strings must stay below 2 GiB; one event's are far below
	// 1 GiB (a log batch is at most 1 MiB), so only a window past half of
	// that needs the exact check.
	if w.strTotal > maxStrBytes/2 && a.oversize(w, d, ev) {
		a.stats.Oversize++
		return false
	}
	var dst dest
	switch pl := ev.Payload.(type) {
	case *events.ConnOpened:
		a.remember(p, d, pl, t)
	case *events.ConnClosed:
		var joined bool
		if dst, joined = d.conns.take(connID); joined {
			p.openConns--
			a.stats.Joined++
		} else {
			a.stats.Unjoined++
		}
	}
	s := w.slot(d)
	r, i := w.add(s.g, t, &ev.ID)
	s.addRow(&w.rows, int32(i), t)
	w.fill(i, r, ev, connID, &dst)
	w.strTotal += len(d.tenant.name) + int(d.dlen) // the tenant and device columns
	a.stats.Added++
	if t-a.lateness > p.wm {
		a.advance(p, t-a.lateness)
		a.raiseTop(p.wm)
	}
	return true
}

// raiseTop records wm as a partition's new watermark and, when it raises the
// largest watermark into a new window, closes the windows of the partitions
// that have fallen more than Idle behind it (see Config.Idle). The quiet
// partitions' watermarks move to a window boundary, so where they land does
// not depend on which event crossed it.
//
// Below topNext, a watermark above top is in top's window: no division
// (two a watermark raised, tens of cycles each, for most events) tells
// that. topNext is at most the end of top's window (Flush raises top
// without it, which only lowers it relative to that end), and the least
// int64 where that end would overflow or top is unset, which leaves the
// divisions to decide.
func (a *Assembler) raiseTop(wm int64) {
	if wm <= a.top {
		return
	}
	if wm < a.topNext {
		a.top = wm
		return
	}
	crossed := a.top == math.MinInt64 || floorDiv(wm, a.size) != floorDiv(a.top, a.size)
	a.top = wm
	a.topNext = math.MinInt64
	if q := floorDiv(wm, a.size); q < math.MaxInt64/a.size {
		a.topNext = (q + 1) * a.size
	}
	if !crossed {
		return
	}
	cut := floorDiv(wm-a.idle, a.size) * a.size
	for i := range a.parts {
		q := &a.parts[i]
		if len(q.open) > 0 && q.open[0].end <= cut && q.wm < cut {
			a.advance(q, cut)
		}
	}
}

func floorDiv(x, y int64) int64 {
	d := x / y
	if x%y != 0 && (x < 0) != (y < 0) {
		d--
	}
	return d
}

// oversize reports whether ev's strings would take w's past maxStrBytes.
func (a *Assembler) oversize(w *pending, d *devState, ev *events.Event) bool {
	var dst dest
	if cl, ok := ev.Payload.(*events.ConnClosed); ok {
		dst, _ = d.conns.get(cl.ConnId)
	}
	return w.strTotal+rowSize(ev, &dst) > maxStrBytes
}

// Tick raises partition p's watermark to t − Lateness when that is higher
// (a clock.tick of the log: the partition has seen no event for a while) and
// closes the windows it passes.
func (a *Assembler) Tick(p int, t time.Time) error {
	if p < 0 || p >= len(a.parts) {
		return fmt.Errorf("%w: tick for partition %d of %d", ErrPartition, p, len(a.parts))
	}
	if wm := t.UnixNano() - a.lateness; wm > a.parts[p].wm {
		a.advance(&a.parts[p], wm)
		a.raiseTop(wm)
	}
	return nil
}

// Closed returns the closed windows that no partition can precede any more,
// in (start, partition) order. A window closes on its partition when that
// partition's watermark reaches its end, but it is released here only once
// every partition that still has an open window has its watermark at or
// past that end too: from then on no partition can close an earlier window
// (as long as events arrive at most Lateness out of event-time order across
// partitions, which the edge's timestamps and the importers' time-ordered
// batches give). So the order of the windows, and of whatever state their
// consumer carries from one window to the next across partitions (cohort
// baselines, cohort models), is a function of the events alone, not of how
// the partitions interleave in the log, and the concatenation of the
// results of several calls does not depend on when they were made. Flush
// releases everything. The caller owns the windows and must Release them.
func (a *Assembler) Closed() []*Window {
	if len(a.closed) == 0 {
		return nil
	}
	frontier := int64(math.MaxInt64)
	for i := range a.parts {
		if q := &a.parts[i]; len(q.open) > 0 && q.wm < frontier {
			frontier = q.wm
		}
	}
	// out is the caller's, in one allocation; the windows kept stay in
	// a.closed's own array, which the next windows closed append to
	// (it was a new one each call, grown from nothing).
	var out []*Window
	kept := a.closed[:0]
	for _, w := range a.closed {
		if w.End.UnixNano() <= frontier {
			if out == nil {
				out = make([]*Window, 0, len(a.closed))
			}
			out = append(out, w)
		} else {
			kept = append(kept, w)
		}
	}
	if len(out) == 0 {
		return nil
	}
	clear(a.closed[len(kept):]) // the array keeps no window handed out alive
	a.closed = kept
	slices.SortStableFunc(out, func(x, y *Window) int {
		return cmp.Or(x.Start.Compare(y.Start), cmp.Compare(x.Partition, y.Partition))
	})
	return out
}

// Held is the number of closed windows waiting for a slower partition (see
// Closed).
func (a *Assembler) Held() int { return len(a.closed) }

// Flush closes every open window, in (start, partition) order (the end of a
// replay), and raises each partition's watermark to the end of its last
// window, so that later events for those windows are late.
func (a *Assembler) Flush() {
	var all []*pending
	for i := range a.parts {
		all = append(all, a.parts[i].open...)
	}
	slices.SortFunc(all, func(x, y *pending) int {
		return cmp.Or(cmp.Compare(x.start, y.start), cmp.Compare(x.part, y.part))
	})
	for _, w := range all {
		p := &a.parts[w.part]
		p.wm = max(p.wm, w.end)
		a.top = max(a.top, p.wm)
		a.close(p, w)
	}
	for i := range a.parts {
		clear(a.parts[i].open) // the closed windows are reused
		a.parts[i].open = a.parts[i].open[:0]
		a.sweep(&a.parts[i])
	}
}

// Stats returns the counters.
func (a *Assembler) Stats() Stats {
	s := a.stats
	for i := range a.parts {
		s.OpenWindows += len(a.parts[i].open)
		s.OpenConns += a.parts[i].openConns
	}
	return s
}

// Watermark returns partition p's watermark (the zero time before its first
// event or tick).
func (a *Assembler) Watermark(p int) time.Time {
	if p < 0 || p >= len(a.parts) || a.parts[p].wm == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, a.parts[p].wm).UTC()
}

// Release frees the Arrow memory of the closed windows not yet collected
// (open windows hold none: their rows are Go memory until they close) and
// drops everything else; the Assembler must not be used afterwards.
func (a *Assembler) Release() {
	if a.released {
		return
	}
	a.released = true
	a.devs = devTable{}
	for i := range a.parts {
		a.parts[i].open = nil
		a.parts[i].devs = nil
	}
	for _, w := range a.closed {
		w.Release()
	}
	a.closed = nil
	a.nulls.release()
	a.tenantCols.release()
	a.lastDev = nil
	for _, w := range a.free {
		spares.Put(w)
	}
	a.free = nil
	if a.slabs != nil {
		a.slabs.close()
	}
}

// window finds or opens the pending window of p starting at start.
func (a *Assembler) window(p *partition, start int64) *pending {
	for i := len(p.open) - 1; i >= 0; i-- {
		switch w := p.open[i]; {
		case w.start == start:
			return w
		case w.start < start:
			return p.insert(i+1, a.newPending(p.id, start))
		}
	}
	return p.insert(0, a.newPending(p.id, start))
}

func (a *Assembler) newPending(part int, start int64) *pending {
	p := &a.parts[part]
	var w *pending
	if n := len(a.free); n > 0 {
		w = a.free[n-1]
		a.free[n-1] = nil
		a.free = a.free[:n-1]
	} else if sp, ok := spares.Get().(*pending); ok {
		w = sp
	} else {
		w = new(pending)
	}
	// An emptied window (see close): rows reset, groups cleared. Its
	// fields are set one by one: a whole pending written back (rows
	// and all) went through a bulk write barrier of its dozen slices
	// while the garbage collector marks.
	w.groups = w.groups[:0]
	w.part, w.start, w.end, w.strTotal = part, start, start+a.size, 0
	// Size the columns for the partition's previous window (closed, or
	// still open: the one before this) and a quarter more, so that the
	// steady state allocates nothing and a new window seldom grows.
	hint, strHint := p.hint, p.strHint
	if k := len(p.open); k > 0 {
		prev := p.open[k-1]
		hint = max(hint, prev.n)
		for s := range strHint {
			strHint[s] = max(strHint[s], len(prev.data[s]))
		}
	}
	if w.cap < hint {
		w.resize(hint + hint/4)
	}
	// And copyPad bytes more, which build's copies may read past a
	// column's last value (see copyString).
	for s, h := range strHint {
		if cap(w.data[s]) < h+copyPad {
			w.data[s] = make([]byte, 0, h+h/4+copyPad)
		}
	}
	return w
}

func (p *partition) insert(i int, w *pending) *pending {
	p.open = slices.Insert(p.open, i, w)
	return w
}

// slot returns d's slot of w, adding a group when new. The pointer is
// good until d's slots change.
func (w *pending) slot(d *devState) *slot {
	for i := range d.slots {
		if d.slots[i].w == w {
			return &d.slots[i]
		}
	}
	g := int32(len(w.groups))
	w.groups = append(w.groups, group{dev: d})
	// Field by field, and the slice's length alone when it has room: a
	// whole slot stored went through a bulk write barrier while the
	// garbage collector marks, for each device of every window.
	n := len(d.slots)
	if n < cap(d.slots) {
		d.slots = d.slots[:n+1]
	} else {
		d.slots = append(d.slots, slot{})
	}
	s := &d.slots[n]
	s.w, s.lastT, s.g, s.n, s.last, s.unsorted = w, 0, g, 0, 0, false
	return s
}

// remember records an open connection for the join.
func (a *Assembler) remember(p *partition, d *devState, pl *events.ConnOpened, t int64) {
	if pl.ConnId == "" {
		return
	}
	if d.conns.len() >= a.cfg.MaxOpenPerDevice {
		if _, ok := d.conns.take(pl.ConnId); ok {
			p.openConns--
		} else {
			a.forgetOldest(p, d)
		}
	}
	if d.conns.put(pl.ConnId, t, &dest{
		host: pl.DstHost, ip: pl.DstIp, port: pl.DstPort, mode: enumIndex(int32(pl.Mode), ModeNames), hasMode: true,
		sni: pl.Sni, tlsFp: pl.TlsFp, ok: true,
	}) {
		p.openConns++
	}
}

// forgetOldest drops the oldest eighth (at least one) of d's open
// connections, by open time then id, so the choice does not depend on map
// order.
func (a *Assembler) forgetOldest(p *partition, d *devState) {
	all := d.conns.all()
	slices.SortFunc(all, func(x, y openConn) int { return cmp.Or(cmp.Compare(x.opened, y.opened), cmpID(&x, &y)) })
	n := max(1, len(all)/8)
	for i := range all[:n] {
		d.conns.take(all[i].id())
	}
	p.openConns -= n
	a.stats.ForgottenConns += uint64(n)
}

// advance raises p's watermark to wm and closes the windows it passes.
func (a *Assembler) advance(p *partition, wm int64) {
	p.wm = wm
	n := 0
	for n < len(p.open) && p.open[n].end <= wm {
		a.close(p, p.open[n])
		n++
	}
	if n > 0 {
		k := len(p.open)
		p.open = append(p.open[:0], p.open[n:]...)
		clear(p.open[len(p.open):k]) // the closed windows are reused
		a.sweep(p)
	}
}

// close builds w and queues it for Closed.
func (a *Assembler) close(p *partition, w *pending) {
	for k := range w.groups {
		g := &w.groups[k]
		d := g.dev
		for i, s := range d.slots {
			if s.w == w {
				g.n, g.unsorted = s.n, s.unsorted
				d.slots = slices.Delete(d.slots, i, i+1)
				break
			}
		}
	}
	p.hint = w.n
	for s := range p.strHint {
		p.strHint[s] = len(w.data[s])
	}
	a.closed = append(a.closed, a.build(w))
	// Keep the window, emptied, for the next one (beyond one per
	// partition, for the garbage collector or the next Assembler: see
	// spares). Nothing refers to it any more: its partition drops it
	// from open, and its devices' slots are gone.
	clear(w.groups) // no devState kept alive by a spare
	w.groups = w.groups[:0]
	w.reset()
	if len(a.free) < len(a.parts)+1 {
		a.free = append(a.free, w)
	} else {
		spares.Put(w)
	}
	a.stats.ClosedWindows++
}

// sweep forgets the open connections of p older than the join horizon and
// the devices that hold nothing any more and had no rows for devIdleWindows
// windows (a sparse device comes back: keeping it a while saves making it
// again). It runs when windows close, so what it forgets is a function of
// the events alone.
func (a *Assembler) sweep(p *partition) {
	cut := p.wm - a.horizon
	idle := p.wm - devIdleWindows*a.size
	kept := p.devs[:0]
	for _, d := range p.devs {
		if n := d.conns.dropOlder(cut); n > 0 {
			p.openConns -= n
			a.stats.ForgottenConns += uint64(n)
		}
		if d.conns.len() == 0 && len(d.slots) == 0 && d.last < idle {
			if d == a.lastDev {
				a.lastDev = nil
			}
			a.devs.Remove(a.hash(d), d)
		} else {
			kept = append(kept, d)
		}
	}
	clear(p.devs[len(kept):])
	p.devs = kept
}

// sameString reports whether x and y are the same bytes in memory (which
// equal strings need not be).
func sameString(x, y string) bool {
	return len(x) == len(y) && unsafe.StringData(x) == unsafe.StringData(y)
}

// lookupTenant makes tenant the current one.
func (a *Assembler) lookupTenant(tenant string) {
	if a.tenants == nil {
		a.tenants = make(map[string]*tenantID)
	}
	id := a.tenants[tenant]
	if id == nil {
		id = &tenantID{name: strings.Clone(tenant)}
		id.h = devHash(a.seed, id.name)
		a.tenants[id.name] = id
	}
	a.tenant = id
}

// tenantID is the Assembler's copy of a tenant id, and its hash: one per
// tenant, so that devStates compare their tenants by address.
type tenantID struct {
	name string
	h    uint64
}
