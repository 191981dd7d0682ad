package features

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
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
		for _, size := range []int{1, 2, 3, 8, 15, 16, 17, 31, 100, 256, 257, 1000, 4096} {
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
		k := rng.Uint64()
		start := int64(step / 10) // ten values a window: many equal lasts
		if len(m.m) >= 256 {
			if _, ok := m.m[k]; !ok {
				all := make([]aged, 0, len(m.m))
				for key, e := range m.m {
					all = append(all, aged{key, e.last})
				}
				slices.SortFunc(all, compareAged)
				want := map[uint64]bool{}
				for _, e := range all[len(all)/8:] {
					want[e.k] = true
				}
				before := st.evicted
				st.note(m, k, start, 256)
				delete(m.m, k)
				if len(m.m) != len(want) || st.evicted-before != uint64(len(all)/8) {
					t.Fatalf("step %d: %d values left, want %d", step, len(m.m), len(want))
				}
				for key := range m.m {
					if !want[key] {
						t.Fatalf("step %d: kept %x, which the sort drops", step, key)
					}
				}
				m.m[k] = seen{start, start}
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
		for len(m.m) < 256 {
			k := rng.Uint64()
			m.m[k] = seen{int64(i), int64(i) + rng.Int64N(64)}
		}
		st.evict(m)
	}
}

// refNovelty is novelty as it was before it kept its judging lookups for
// the recording: every value looked up again when recorded.
func (st *State) refNovelty(tenant, device, cohort string, start int64, v []float64) {
	sc := &st.sc
	if sc.dsts.n == 0 && sc.tls.n == 0 {
		return
	}
	dm := st.device(tenant, device)
	cm := st.cohort(tenant, cohort)
	newDev, newCohort, newTLS := 0, 0, 0
	for _, k := range sc.dsts.slots {
		if k != 0 {
			if st.isNew(dm, k, start) {
				newDev++
			}
			if st.isNew(&cm.dsts, k, start) {
				newCohort++
			}
		}
	}
	for _, k := range sc.tls.slots {
		if k != 0 && st.isNew(&cm.tls, k, start) {
			newTLS++
		}
	}
	for _, k := range sc.dsts.slots {
		if k != 0 {
			st.note(dm, k, start, st.cfg.MaxPerDevice)
			st.note(&cm.dsts, k, start, st.cfg.MaxPerCohort)
		}
	}
	for _, k := range sc.tls.slots {
		if k != 0 {
			st.note(&cm.tls, k, start, st.cfg.MaxPerCohort)
		}
	}
	v[NewDstsDevice] = float64(newDev)
	v[NewDstsCohort] = float64(newCohort)
	v[NewTLSFpsCohort] = float64(newTLS)
}

// TestNoveltyMatchesReference: novelty judges and records exactly as
// refNovelty on random windows of a few devices and cohorts with small
// bounds, so that sets fill and evict in the middle of a device's values
// (values judged present, then evicted before they are recorded), values
// repeat across windows and sets, and some are forgotten.
func TestNoveltyMatchesReference(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 99))
		cfg := StateConfig{Forget: 40, MaxPerDevice: 1 + rng.IntN(12), MaxPerCohort: 1 + rng.IntN(24)}
		got, _ := NewState(cfg)
		want, _ := NewState(cfg)
		start := int64(0)
		evictedMid := false
		for step := range 3000 {
			start += int64(rng.IntN(3)) // windows of one start, and later ones
			device := fmt.Sprint("d", rng.IntN(6))
			cohort := fmt.Sprint("c", rng.IntN(2))
			universe := uint64(4 + rng.IntN(60))
			fill := func(s *set, n int) []uint64 {
				s.reset(n)
				var keys []uint64
				for range n {
					k := 1 + rng.Uint64N(universe)
					if s.add(k) {
						keys = append(keys, k)
					}
				}
				return keys
			}
			nd, nt := rng.IntN(20), rng.IntN(8)
			dsts, tls := fill(&got.sc.dsts, nd), fill(&got.sc.tls, nt)
			want.sc.dsts.reset(nd)
			want.sc.tls.reset(nt)
			for _, k := range dsts {
				want.sc.dsts.add(k)
			}
			for _, k := range tls {
				want.sc.tls.add(k)
			}
			vg, vw := make([]float64, NumFeatures), make([]float64, NumFeatures)
			before := got.evicted
			got.novelty("acme", device, cohort, start, vg)
			if got.evicted != before && len(dsts)+len(tls) > 1 {
				evictedMid = true
			}
			want.refNovelty("acme", device, cohort, start, vw)
			if !slices.Equal(vg, vw) {
				t.Fatalf("seed %d step %d: %v, want %v", seed, step, vg, vw)
			}
			if got.evicted != want.evicted || !reflect.DeepEqual(got.devices, want.devices) || !reflect.DeepEqual(got.cohorts, want.cohorts) {
				t.Fatalf("seed %d step %d: states differ", seed, step)
			}
		}
		if !evictedMid {
			t.Fatalf("seed %d: no eviction while recording a device's values", seed)
		}
	}
}
