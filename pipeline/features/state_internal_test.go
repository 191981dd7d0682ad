package features

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"unsafe"
)

// TestSelectOldestIsSortPrefix checks the selection against a full sort on
// sets of many sizes and shapes: a[:n] holds the same elements as the
// first n of the sorted set, and the whole is a permutation of the input.
func TestSelectOldestIsSortPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	shapes := map[string]func(i, size int) int64{
		"random":     func(int, int) int64 { return rng.Int64N(1 << 40) },
		"few-lasts":  func(int, int) int64 { return rng.Int64N(3) },
		"one-last":   func(int, int) int64 { return 42 },
		"ascending":  func(i, _ int) int64 { return int64(i) },
		"descending": func(i, size int) int64 { return int64(size - i) },
		"organ-pipe": func(i, size int) int64 { return int64(min(i, size-i)) },
	}
	for name, last := range shapes {
		for _, size := range []int{1, 2, 3, 8, 15, 16, 17, 31, 100, 256, 257, 1000, 1024, 1025, 4096} {
			for round := range 4 {
				a := make([]aged, size)
				seen := map[uint64]bool{}
				for i := range a {
					k := rng.Uint64() >> uint(rng.IntN(60)) // small and large hashes
					for seen[k] {
						k++
					}
					seen[k] = true
					a[i] = aged{k: k, last: last(i, size)}
				}
				if round == 3 { // hashes in order too
					slices.SortFunc(a, func(x, y aged) int { return compareAged(aged{last: 0, k: x.k}, aged{last: 0, k: y.k}) })
				}
				want := slices.Clone(a)
				slices.SortFunc(want, compareAged)
				for _, n := range []int{0, 1, size / 8, size / 2, size - 1, size} {
					got := slices.Clone(a)
					selectOldest(got, n)
					sorted := slices.Clone(got)
					slices.SortFunc(sorted, compareAged)
					if !slices.Equal(sorted, want) {
						t.Fatalf("%s size %d n %d: not a permutation of the input", name, size, n)
					}
					if n <= 0 || n > size {
						continue
					}
					head := slices.Clone(got[:n])
					slices.SortFunc(head, compareAged)
					if !slices.Equal(head, want[:n]) {
						t.Fatalf("%s size %d n %d: the first n are not the n oldest", name, size, n)
					}
				}
			}
		}
	}
}

// TestEvictDropsOldestEighth fills a device's set past its bound again and
// again and checks that each eviction drops exactly what sorting the set by
// (last, hash) and dropping its first eighth drops.
func TestEvictDropsOldestEighth(t *testing.T) {
	st, err := NewState(StateConfig{MaxPerDevice: 256})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 5))
	m := st.device("acme", "d")
	for step := range 5000 {
		k := 1 + rng.Uint64N(1<<63)
		start := int64(step / 10) // ten values a window: many equal lasts
		if m.len() >= 256 {
			if _, ok := m.get(k); !ok {
				all := make([]aged, 0, m.len())
				for key, e := range m.contents() {
					all = append(all, aged{key, e.last})
				}
				slices.SortFunc(all, compareAged)
				want := map[uint64]bool{}
				for _, e := range all[len(all)/8:] {
					want[e.k] = true
				}
				before := st.evicted
				st.note(m, k, start, 256)
				m.remove(k)
				if m.len() != len(want) || st.evicted-before != uint64(len(all)/8) {
					t.Fatalf("step %d: %d values left, want %d", step, m.len(), len(want))
				}
				for key := range m.contents() {
					if !want[key] {
						t.Fatalf("step %d: kept %x, which the sort drops", step, key)
					}
				}
				m.set(k, seen{start, start})
				continue
			}
		}
		st.note(m, k, start, 256)
	}
	if st.evicted == 0 {
		t.Fatal("no eviction happened")
	}
}

func BenchmarkEvict(b *testing.B) {
	st, _ := NewState(StateConfig{})
	m := st.device("acme", "d")
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for i := range b.N {
		for m.len() < 256 {
			k := 1 + rng.Uint64N(1<<63)
			m.set(k, seen{int64(i), int64(i) + rng.Int64N(64)})
		}
		st.evict(m)
	}
}

// contents returns what m holds, as a map.
func (m *memo) contents() map[uint64]seen {
	out := make(map[uint64]seen, m.n)
	for _, s := range m.slots {
		if s.k != 0 {
			out[s.k] = s.seen
		}
	}
	return out
}

// TestMemoMatchesMap: a memo holds what a Go map holds after the same
// random sets, removals and drops of a few hundred keys, up to 3/4 of the
// table (probe runs, removals in the middle of them, wrapping around the
// table's end), through growth and shrinking, with several seeds.
func TestMemoMatchesMap(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 1))
		m := memo{seed: rng.Uint64()}
		want := map[uint64]seen{}
		universe := 4 + rng.IntN(300)
		key := func() uint64 {
			// Low bits from a small set, as fixed hashes made up to collide.
			return uint64(1+rng.IntN(universe))<<20 | uint64(rng.IntN(5))
		}
		for step := range 20000 {
			switch r := rng.IntN(10); {
			case r < 5:
				k, e := key(), seen{int64(step), int64(step + rng.IntN(9))}
				m.set(k, e)
				want[k] = e
			case r < 8:
				k := key()
				m.remove(k)
				delete(want, k)
			case r < 9:
				k := key()
				e, ok := m.get(k)
				if w, wok := want[k]; ok != wok || e != w {
					t.Fatalf("seed %d step %d: get %x = %v %v, want %v %v", seed, step, k, e, ok, w, wok)
				}
			default:
				cut := int64(step - rng.IntN(2000))
				m.dropIf(func(e seen) bool { return e.last < cut })
				for k, e := range want {
					if e.last < cut {
						delete(want, k)
					}
				}
			}
			if m.len() != len(want) || 4*m.n > 3*len(m.slots) {
				t.Fatalf("seed %d step %d: %d values in %d slots, want %d", seed, step, m.n, len(m.slots), len(want))
			}
		}
		if got := m.contents(); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: contents differ", seed)
		}
	}
}

// TestMemoPutMatchesSet: a batch of values looked up, then stored with
// put in the same order (as novelty records what it judged), with sets of
// other values and growth in between, leaves what set would: a value
// found in a slot, a new value whose empty slot another took, and tables
// grown since the lookup among them (colliding keys make probe runs).
func TestMemoPutMatchesSet(t *testing.T) {
	var direct, fallback int
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 2))
		m := memo{seed: rng.Uint64()}
		want := map[uint64]seen{}
		universe := 4 + rng.IntN(400)
		key := func() uint64 { return uint64(1+rng.IntN(universe))<<20 | uint64(rng.IntN(5)) }
		for step := range 3000 {
			type look struct {
				k       uint64
				i, size int
				ok      bool
			}
			var batch []look
			for range 1 + rng.IntN(12) {
				k := key()
				if slices.ContainsFunc(batch, func(l look) bool { return l.k == k }) {
					continue // a batch's values are distinct, as a set's
				}
				i, ok := m.find(k)
				batch = append(batch, look{k, i, len(m.slots), ok})
			}
			for _, l := range batch {
				if rng.IntN(3) == 0 { // another value added in between
					k := key()
					if !slices.ContainsFunc(batch, func(l look) bool { return l.k == k }) {
						e := seen{int64(step), int64(step)}
						m.set(k, e)
						want[k] = e
					}
				}
				e := seen{int64(step), int64(step + rng.IntN(9))}
				before := len(m.slots)
				if l.size == before && l.i >= 0 && (l.ok || m.slots[l.i].k == 0) {
					direct++
				} else {
					fallback++
				}
				m.put(l.i, l.size, l.ok, l.k, e)
				want[l.k] = e
				if got, ok := m.get(l.k); !ok || got != e {
					t.Fatalf("seed %d step %d: %x = %v %v after put, want %v", seed, step, l.k, got, ok, e)
				}
			}
			if m.len() != len(want) || 4*m.n > 3*len(m.slots) {
				t.Fatalf("seed %d step %d: %d values in %d slots, want %d", seed, step, m.n, len(m.slots), len(want))
			}
			if step%64 == 0 { // keep the table from only growing
				cut := int64(step - rng.IntN(500))
				m.dropIf(func(e seen) bool { return e.last < cut })
				for k, e := range want {
					if e.last < cut {
						delete(want, k)
					}
				}
			}
		}
		if got := m.contents(); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: contents differ", seed)
		}
	}
	if direct == 0 || fallback == 0 {
		t.Fatalf("put stored %d values in place and %d through set: want both paths", direct, fallback)
	}
}

// refState is State's novelty memory as Go maps, with evictions by a full
// sort: the reference novelty is checked against.
type refState struct {
	cfg     StateConfig
	devices map[stateKey]map[uint64]seen
	cohorts map[stateKey]*[2]map[uint64]seen // destinations, fingerprints
	evicted uint64
}

func (r *refState) isNew(m map[uint64]seen, k uint64, start int64) bool {
	e, ok := m[k]
	return !ok || e.first >= start || e.last < start-int64(r.cfg.Forget)
}

func (r *refState) note(m map[uint64]seen, k uint64, start int64, limit int) {
	e, ok := m[k]
	switch {
	case !ok:
		if len(m) >= limit {
			all := make([]aged, 0, len(m))
			for key, e := range m {
				all = append(all, aged{key, e.last})
			}
			slices.SortFunc(all, compareAged)
			n := max(1, len(all)/8)
			for _, e := range all[:n] {
				delete(m, e.k)
			}
			r.evicted += uint64(n)
		}
		m[k] = seen{start, start}
	case e.last < start-int64(r.cfg.Forget):
		m[k] = seen{start, start}
	default:
		m[k] = seen{min(e.first, start), max(e.last, start)}
	}
}

// novelty judges the values of dsts and tls (nonzero slots, in slot
// order, as State's sets hold them), then records them, as State.novelty
// was first written.
func (r *refState) novelty(tenant, device, cohort string, dsts, tls []uint64, start int64, v []float64) {
	if slices.IndexFunc(dsts, func(k uint64) bool { return k != 0 }) < 0 && slices.IndexFunc(tls, func(k uint64) bool { return k != 0 }) < 0 {
		return
	}
	dk, ck := stateKey{tenant, device}, stateKey{tenant, cohort}
	if r.devices[dk] == nil {
		r.devices[dk] = map[uint64]seen{}
	}
	if r.cohorts[ck] == nil {
		r.cohorts[ck] = &[2]map[uint64]seen{{}, {}}
	}
	dm, cm := r.devices[dk], r.cohorts[ck]
	newDev, newCohort, newTLS := 0, 0, 0
	for _, k := range dsts {
		if k != 0 {
			if r.isNew(dm, k, start) {
				newDev++
			}
			if r.isNew(cm[0], k, start) {
				newCohort++
			}
		}
	}
	for _, k := range tls {
		if k != 0 && r.isNew(cm[1], k, start) {
			newTLS++
		}
	}
	for _, k := range dsts {
		if k != 0 {
			r.note(dm, k, start, r.cfg.MaxPerDevice)
			r.note(cm[0], k, start, r.cfg.MaxPerCohort)
		}
	}
	for _, k := range tls {
		if k != 0 {
			r.note(cm[1], k, start, r.cfg.MaxPerCohort)
		}
	}
	v[NewDstsDevice] = float64(newDev)
	v[NewDstsCohort] = float64(newCohort)
	v[NewTLSFpsCohort] = float64(newTLS)
}

// same reports whether st holds what r holds.
func (r *refState) same(st *State) bool {
	if st.evicted != r.evicted || len(st.devices) != len(r.devices) || len(st.cohorts) != len(r.cohorts) {
		return false
	}
	for k, m := range st.devices {
		if !reflect.DeepEqual(m.contents(), r.devices[k]) {
			return false
		}
	}
	for k, c := range st.cohorts {
		w := r.cohorts[k]
		if w == nil || !reflect.DeepEqual(c.dsts.contents(), w[0]) || !reflect.DeepEqual(c.tls.contents(), w[1]) {
			return false
		}
	}
	return true
}

// TestNoveltyMatchesReference: novelty judges and records exactly as the
// Go-map reference on random windows of a few devices and cohorts with
// small bounds, so that sets fill and evict in the middle of a device's
// values (values judged present, then evicted before they are recorded),
// values repeat across windows and sets, and some are forgotten; and, the
// reference recording in the sets' slot order, that novelty's recording in
// the order the values came, when nothing is evicted, leaves the same.
func TestNoveltyMatchesReference(t *testing.T) {
	otherOrder := 0
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 99))
		cfg := StateConfig{Forget: 40, MaxPerDevice: 1 + rng.IntN(12), MaxPerCohort: 1 + rng.IntN(24)}
		got, _ := NewState(cfg)
		want := &refState{cfg: got.cfg, devices: map[stateKey]map[uint64]seen{}, cohorts: map[stateKey]*[2]map[uint64]seen{}}
		start := int64(0)
		evictedMid := false
		for step := range 3000 {
			start += int64(rng.IntN(3)) // windows of one start, and later ones
			device := fmt.Sprint("d", rng.IntN(6))
			cohort := fmt.Sprint("c", rng.IntN(2))
			universe := uint64(4 + rng.IntN(60))
			fill := func(s *set, n int) int {
				s.reset(n)
				for range n {
					s.add(1 + rng.Uint64N(universe))
				}
				return s.n
			}
			nd, nt := fill(&got.sc.dsts, rng.IntN(20)), fill(&got.sc.tls, rng.IntN(8))
			vg, vw := make([]float64, NumFeatures), make([]float64, NumFeatures)
			want.novelty("acme", device, cohort, slices.Clone(got.sc.dsts.slots), slices.Clone(got.sc.tls.slots), start, vw)
			before := got.evicted
			got.novelty("acme", device, cohort, start, vg)
			if got.evicted != before && nd+nt > 1 {
				evictedMid = true
			}
			if got.evicted == before && !slices.Equal(got.sc.dsts.vals, nonZero(got.sc.dsts.slots)) {
				otherOrder++
			}
			if !slices.Equal(vg, vw) {
				t.Fatalf("seed %d step %d: %v, want %v", seed, step, vg, vw)
			}
			if !want.same(got) {
				t.Fatalf("seed %d step %d: states differ", seed, step)
			}
		}
		if !evictedMid {
			t.Fatalf("seed %d: no eviction while recording a device's values", seed)
		}
	}
	if otherOrder < 20 {
		t.Fatalf("%d windows' values recorded in another order than the slots'", otherOrder)
	}
}

func nonZero(s []uint64) []uint64 {
	return slices.DeleteFunc(slices.Clone(s), func(k uint64) bool { return k == 0 })
}

// TestCohortLastAsked: the cohort kept from the last call is the map's for
// the names asked, whatever was asked before (same tenant or name, another
// of either), also once a sweep dropped it, and the strings asked with
// may change after the call (a window's memory recycled).
func TestCohortLastAsked(t *testing.T) {
	st, _ := NewState(StateConfig{Forget: 100})
	rng := rand.New(rand.NewPCG(4, 4))
	for step := range 2000 {
		buf := []byte(fmt.Sprint("t", rng.IntN(3)))
		tenant := unsafe.String(unsafe.SliceData(buf), len(buf))
		name := fmt.Sprint("c", rng.IntN(3))
		c := st.cohort(tenant, name)
		if want := st.cohorts[stateKey{tenant, name}]; c != want || c == nil {
			t.Fatalf("step %d: cohort %s/%s is not the map's", step, tenant, name)
		}
		if rng.IntN(2) == 0 {
			c.dsts.set(uint64(1+step), seen{int64(step), int64(step)})
		}
		for i := range buf {
			buf[i] = 0xA5 // the caller's memory reused
		}
		if step%50 == 0 {
			st.advance(int64(step) + 1000) // drops every cohort
			if len(st.cohorts) != 0 || st.lastCohort != nil {
				t.Fatalf("step %d: %d cohorts after a sweep, last kept %v", step, len(st.cohorts), st.lastCohort != nil)
			}
		}
	}
}
