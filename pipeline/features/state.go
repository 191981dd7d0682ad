package features

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// ErrInvalidConfig wraps every problem StateConfig.Validate finds.
var ErrInvalidConfig = errors.New("features: invalid state config")

// StateConfig bounds what a State remembers. The zero value is valid.
type StateConfig struct {
	// Forget is how long a destination or fingerprint is remembered after
	// the last window it was seen in: one last seen more than Forget before
	// a window's start is new again in that window. Default 30 days.
	Forget time.Duration
	// MaxPerDevice bounds the destinations remembered per device. Default 256.
	MaxPerDevice int
	// MaxPerCohort bounds the destinations, and separately the TLS
	// fingerprints, remembered per cohort. Default 65536.
	MaxPerCohort int
}

// Defaults of StateConfig.
const (
	DefaultForget       = 30 * 24 * time.Hour
	DefaultMaxPerDevice = 256
	DefaultMaxPerCohort = 65536
)

func (c *StateConfig) setDefaults() {
	if c.Forget == 0 {
		c.Forget = DefaultForget
	}
	if c.MaxPerDevice == 0 {
		c.MaxPerDevice = DefaultMaxPerDevice
	}
	if c.MaxPerCohort == 0 {
		c.MaxPerCohort = DefaultMaxPerCohort
	}
}

// Validate reports every problem of c (after defaults); errors wrap
// ErrInvalidConfig.
func (c StateConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Forget < 0 {
		errs = append(errs, fmt.Errorf("%w: Forget %v must not be negative", ErrInvalidConfig, c.Forget))
	}
	if c.MaxPerDevice < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxPerDevice %d must not be negative", ErrInvalidConfig, c.MaxPerDevice))
	}
	if c.MaxPerCohort < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxPerCohort %d must not be negative", ErrInvalidConfig, c.MaxPerCohort))
	}
	return errors.Join(errs...)
}

// State is what the novelty features remember across windows: per device,
// the destinations it contacted; per cohort (tenant + cohort name), the
// destinations and the TLS ClientHello fingerprints its devices presented.
// Each remembered value is a 64-bit hash with the first and last window
// start it was seen in.
//
// Memory is bounded three ways: a value not seen for Forget is forgotten
// (judged new again at once, dropped by a sweep every Forget/8 of event
// time, with the devices and cohorts left empty); a device remembers at most
// MaxPerDevice destinations and a cohort MaxPerCohort destinations and as
// many fingerprints — when a set is full, the eighth with the oldest last
// window (then the smallest hash) is dropped. So memory is at most about
// 48 bytes × (MaxPerDevice × devices active within Forget + 2 ×
// MaxPerCohort × cohorts): 5000 devices with the defaults, 61 MB in the
// worst case; a payment terminal talking to ten hosts uses 500 bytes.
//
// Novelty is judged against the windows that start before the one being
// computed: a value first seen in a window with the same start (another
// partition's window, or this one) is still new. So the devices of one
// window, and the windows of one start on different partitions, do not
// depend on each other's order; only evictions of full sets do.
//
// A State is not safe for concurrent use. It is rebuilt on restart by
// computing the windows of the log again (from Forget back).
type State struct {
	cfg       StateConfig
	forget    int64
	devices   map[stateKey]*memo
	cohorts   map[stateKey]*cohortMemo
	nextSweep int64
	evicted   uint64
	sc        scratch
	evictBuf  []aged   // evict's scratch
	seed      uint64   // of the memos' slots (see memo)
	looks     []looked // novelty's
	// The cohort last asked for (see cohort); forgotten when a sweep
	// drops it.
	lastCohort *cohortMemo
}

type stateKey struct{ tenant, name string }

type cohortMemo struct {
	dsts, tls memo
	key       stateKey // its key in State.cohorts
}

// seen is the first and last window start (Unix ns) a value was seen in.
type seen struct{ first, last int64 }

// NewState returns an empty State.
func NewState(cfg StateConfig) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &State{
		cfg: cfg, forget: int64(cfg.Forget),
		devices: make(map[stateKey]*memo), cohorts: make(map[stateKey]*cohortMemo),
		seed: rand.Uint64(),
	}, nil
}

// StateStats describes what a State holds.
type StateStats struct {
	Devices, Cohorts int    // devices and cohorts remembered
	Values           int    // values remembered, all sets together
	Evicted          uint64 // values dropped because their set was full
}

// Stats counts what s holds.
func (s *State) Stats() StateStats {
	st := StateStats{Devices: len(s.devices), Cohorts: len(s.cohorts), Evicted: s.evicted}
	for _, m := range s.devices {
		st.Values += m.len()
	}
	for _, c := range s.cohorts {
		st.Values += c.dsts.len() + c.tls.len()
	}
	return st
}

func (s *State) device(tenant, device string) *memo {
	m := s.devices[stateKey{tenant, device}]
	if m == nil {
		m = &memo{seed: s.seed}
		s.devices[stateKey{strings.Clone(tenant), strings.Clone(device)}] = m
	}
	return m
}

// cohort returns the memo of a cohort, made when new. The last one asked
// is kept: a window's devices are mostly of one cohort (all of a tenant's
// unenrolled devices are), and two string compares cost less than the map's
// hash of both.
//
// The last one is compared by its own key (cloned, as the map's): the
// strings asked with may be views into a window's memory, recycled once the
// window is released.
func (s *State) cohort(tenant, cohort string) *cohortMemo {
	if c := s.lastCohort; c != nil && c.key.tenant == tenant && c.key.name == cohort {
		return c
	}
	c := s.cohorts[stateKey{tenant, cohort}]
	if c == nil {
		k := stateKey{strings.Clone(tenant), strings.Clone(cohort)}
		c = &cohortMemo{dsts: memo{seed: s.seed}, tls: memo{seed: s.seed}, key: k}
		s.cohorts[k] = c
	}
	s.lastCohort = c
	return c
}

// looked is what a memo held for a value: e when ok, in slot i of a table
// of size slots (i: the empty slot it would go to when not ok; see
// memo.put).
type looked struct {
	e       seen
	i, size int32
	ok      bool
}

func (s *State) lookup(m *memo, k uint64) looked {
	i, ok := m.find(k)
	l := looked{i: int32(i), size: int32(len(m.slots)), ok: ok}
	if ok {
		l.e = m.slots[i].seen
	}
	return l
}

// isNew reports whether k counts as new in the window starting at start.
func (s *State) isNew(m *memo, k uint64, start int64) bool {
	return s.isNewSeen(s.lookup(m, k), start)
}

// isNewSeen is isNew of a value whose lookup gave l.
func (s *State) isNewSeen(l looked, start int64) bool {
	return !l.ok || l.e.first >= start || l.e.last < start-s.forget
}

// note records k as seen in the window starting at start.
func (s *State) note(m *memo, k uint64, start int64, limit int) {
	s.noteSeen(m, k, s.lookup(m, k), start, limit)
}

// noteSeen is note of a value whose lookup gave l (m unchanged since, but
// for other values than k added: none removed).
func (s *State) noteSeen(m *memo, k uint64, l looked, start int64, limit int) {
	switch e := l.e; {
	case !l.ok:
		if m.len() >= limit {
			s.evict(m)
			m.set(k, seen{start, start})
			return
		}
		m.put(int(l.i), int(l.size), false, k, seen{start, start})
	case e.last < start-s.forget:
		m.put(int(l.i), int(l.size), true, k, seen{start, start})
	default:
		m.put(int(l.i), int(l.size), true, k, seen{min(e.first, start), max(e.last, start)})
	}
}

// evict drops the oldest eighth of a full set: the values with the
// smallest (last, hash), hashes being unique, so the set dropped is the
// same whatever order the map gives them in. They are found by selection
// (selectOldest) in a reused buffer, not by sorting the whole set.
func (s *State) evict(m *memo) {
	// Every slot is written and only the held ones counted: about half
	// the slots are empty, in no order, so a branch on each mispredicted
	// half the time.
	if cap(s.evictBuf) < len(m.slots) {
		s.evictBuf = make([]aged, len(m.slots))
	}
	all := s.evictBuf[:len(m.slots)]
	j := 0
	for _, sl := range m.slots {
		all[j] = aged{sl.k, sl.last}
		if sl.k != 0 {
			j++
		}
	}
	all = all[:j]
	n := max(1, len(all)/8)
	selectOldest(all, n)
	for _, e := range all[:n] {
		m.remove(e.k)
	}
	s.evicted += uint64(n)
}

// aged is a remembered value's hash and last window start.
type aged struct {
	k    uint64
	last int64
}

func (x aged) before(y aged) bool {
	return x.last < y.last || x.last == y.last && x.k < y.k
}

// selectOldest reorders a (whose hashes are unique) so that a[:n] holds
// its n smallest elements by (last, k), in no particular order:
// quickselect with a median-of-three pivot, falling back to sorting a
// range that keeps splitting badly, so it is O(len(a)) on average and
// O(len(a)·log len(a)) at worst. Its partition has no branch on the
// comparison, which mispredicted about half the time: on a device's 256
// values an eviction took about twice as long (BenchmarkEvict).
func selectOldest(a []aged, n int) {
	if n <= 0 || n >= len(a) {
		return
	}
	lo, hi := 0, len(a) // the n-th smallest (index n-1) lies in a[lo:hi]
	budget := 2 * bits.Len(uint(len(a)))
	for hi-lo > 16 {
		if budget == 0 {
			slices.SortFunc(a[lo:hi], compareAged)
			return
		}
		budget--
		// Median of three to a[lo], then Lomuto-style partition around it.
		mid := lo + (hi-lo)/2
		if a[mid].before(a[lo]) {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi-1].before(a[mid]) {
			a[hi-1], a[mid] = a[mid], a[hi-1]
			if a[mid].before(a[lo]) {
				a[mid], a[lo] = a[lo], a[mid]
			}
		}
		a[lo], a[mid] = a[mid], a[lo]
		p := a[lo]
		i := lo
		for j := lo + 1; j < hi; j++ {
			// Branch-free: swap always, advance i when a[j] < p.
			x := a[j]
			a[j] = a[i+1]
			a[i+1] = x
			i += lessAged(x, p)
		}
		a[lo], a[i] = a[i], a[lo]
		// a[lo:i] < p = a[i] < a[i+1:hi]
		switch {
		case i == n-1 || i == n:
			return
		case i < n-1:
			lo = i + 1
		default:
			hi = i
		}
	}
	slices.SortFunc(a[lo:hi], compareAged)
}

// lessAged is 1 when x is before y, else 0, without branches.
func lessAged(x, y aged) int {
	return b2i(x.last < y.last) | b2i(x.last == y.last)&b2i(x.k < y.k)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func compareAged(x, y aged) int {
	return cmp.Or(cmp.Compare(x.last, y.last), cmp.Compare(x.k, y.k))
}

// advance sweeps forgotten values when the window starting at start is
// Forget/8 past the previous sweep.
func (s *State) advance(start int64) {
	if start < s.nextSweep {
		return
	}
	s.nextSweep = start + max(s.forget/8, 1)
	cut := start - s.forget
	forgotten := func(e seen) bool { return e.last < cut }
	sweep := func(m *memo) { m.dropIf(forgotten) }
	for k, m := range s.devices {
		sweep(m)
		if m.len() == 0 {
			delete(s.devices, k)
		}
	}
	for k, c := range s.cohorts {
		sweep(&c.dsts)
		sweep(&c.tls)
		if c.dsts.len() == 0 && c.tls.len() == 0 {
			delete(s.cohorts, k)
			if c == s.lastCohort {
				s.lastCohort = nil
			}
		}
	}
}
