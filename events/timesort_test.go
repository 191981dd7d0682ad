package events_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// shuffledEvents returns n traffic events over a few minutes, with repeated
// times and a few exact (time, id) duplicates, in a seeded random order.
func shuffledEvents(n int) []events.Event {
	rng := rand.New(rand.NewPCG(1, 2))
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = events.Event{ID: events.NewID(), Schema: events.SchemaVersion, Tenant: "t", Device: "d" + string(rune('a'+i%7)),
			Time: sampleBase.Add(time.Duration(rng.IntN(300)) * time.Second), Seq: uint64(i + 1),
			Payload: &events.ConnOpened{ConnId: "c", DstHost: "h.example", DstPort: uint32(i)}}
		if i%50 == 49 { // an exact duplicate of an earlier event: stability decides
			evs[i] = evs[i-1]
			evs[i].Seq = uint64(i + 1)
		}
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	return evs
}

// SortByTime is a stable sort by (time, id): the same order as the
// standard library's stable sort.
func TestSortByTimeIsStable(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 100, 5000} {
		evs := shuffledEvents(n)
		want := append([]events.Event(nil), evs...)
		slices.SortStableFunc(want, func(a, b events.Event) int {
			if c := a.Time.Compare(b.Time); c != 0 {
				return c
			}
			return a.ID.Compare(b.ID)
		})
		events.SortByTime(evs)
		for i := range evs {
			if evs[i].ID != want[i].ID || evs[i].Seq != want[i].Seq {
				t.Fatalf("n %d: position %d holds seq %d, want seq %d", n, i, evs[i].Seq, want[i].Seq)
			}
		}
		for i := 1; i < len(evs); i++ {
			a, b := &evs[i-1], &evs[i]
			if c := events.CompareTime(a, b); c > 0 || (c == 0 && a.ID != b.ID) {
				t.Fatalf("n %d: CompareTime orders positions %d and %d %d", n, i-1, i, c)
			} else if a.Time.Equal(b.Time) && c != strings.Compare(a.ID.String(), b.ID.String()) {
				t.Fatalf("n %d: CompareTime disagrees with the ids' text at %d", n, i)
			}
		}
		events.SortByTime(evs) // sorted already
		for i := range evs {
			if evs[i].Seq != want[i].Seq {
				t.Fatalf("n %d: sorting sorted events moved position %d", n, i)
			}
		}
	}
}

func TestTimeSorterMatchesSortByTime(t *testing.T) {
	for _, max := range []int{1, 7, 100, 10_000} { // spills every event … fits in memory
		evs := shuffledEvents(2000)
		dir := t.TempDir()
		s := events.NewTimeSorter(dir, max)
		for _, ev := range evs {
			if err := s.Add(ev); err != nil {
				t.Fatal(err)
			}
		}
		checkSortedLike(t, fmt.Sprintf("max %d", max), s, evs)
		if spilled := s.Runs() > 0; spilled != (max < len(evs)) {
			t.Fatalf("max %d: %d runs", max, s.Runs())
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Fatalf("max %d: Close left %v", max, left)
		}
	}
}

func TestTimeSorterStopsEarlyAndReportsCorruptRuns(t *testing.T) {
	dir := t.TempDir()
	s := events.NewTimeSorter(dir, 10)
	defer s.Close()
	for _, ev := range shuffledEvents(100) {
		if err := s.Add(ev); err != nil {
			t.Fatal(err)
		}
	}
	// Break the second run in the middle of a record.
	sub, _ := os.ReadDir(dir)
	if len(sub) != 1 {
		t.Fatalf("want one temporary directory, got %v", sub)
	}
	run := filepath.Join(dir, sub[0].Name(), "run-000001")
	b, err := os.ReadFile(run)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(run, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	var got error
	for _, err := range s.Sorted() {
		if err != nil {
			got = err
			break
		}
		n++
	}
	if !errors.Is(got, events.ErrCorrupt) || n >= 100 {
		t.Fatalf("a run truncated at a record boundary gave %d events and error %v, want ErrCorrupt", n, got)
	}
	// Cut inside a record.
	if err := os.WriteFile(run, b[:len(b)/2+3], 0o600); err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, err := range s.Sorted() {
		if err != nil {
			got = err
			break
		}
	}
	if got == nil {
		t.Fatal("a run cut inside a record gave no error")
	}
	// Garbage inside a record is ErrCorrupt.
	s2 := events.NewTimeSorter(dir, 10)
	defer s2.Close()
	for _, ev := range shuffledEvents(30) {
		s2.Add(ev)
	}
	sub2, _ := filepath.Glob(filepath.Join(dir, "halo-sort-*", "run-000000"))
	for _, p := range sub2 {
		b, _ := os.ReadFile(p)
		if len(b) > 40 {
			for i := 2; i < 40; i++ {
				b[i] = 0xff
			}
			os.WriteFile(p, b, 0o600)
		}
	}
	got = nil
	for _, err := range s2.Sorted() {
		if err != nil {
			got = err
			break
		}
	}
	if got == nil {
		t.Fatal("a corrupt run gave no error")
	}
	// Stopping early closes every run; Close removes them.
	s3 := events.NewTimeSorter(dir, 5)
	for _, ev := range shuffledEvents(50) {
		s3.Add(ev)
	}
	for range s3.Sorted() {
		break
	}
	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkTimeSorter: 1M shuffled events sorted by (time, id) with
// SortByTime in memory (the baseline), and through a TimeSorter that fits
// them in memory or spills runs of 100k events to disk and merges them.
//
//	go test ./events -run '^$' -bench TimeSorter -benchtime 3x
func BenchmarkTimeSorter(b *testing.B) {
	const n = 1_000_000
	evs := shuffledEvents(n)
	b.Run("SortByTime", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			cp := append([]events.Event(nil), evs...)
			b.StartTimer()
			events.SortByTime(cp)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	for _, max := range []int{n, events.DefaultSortEvents, 100_000} {
		b.Run(fmt.Sprintf("buffer=%d", max), func(b *testing.B) {
			dir := b.TempDir()
			for b.Loop() {
				s := events.NewTimeSorter(dir, max)
				for i := range evs {
					if err := s.Add(evs[i]); err != nil {
						b.Fatal(err)
					}
				}
				k := 0
				for _, err := range s.Sorted() {
					if err != nil {
						b.Fatal(err)
					}
					k++
				}
				if k != n {
					b.Fatalf("%d events out", k)
				}
				s.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// TestTimeSorterDropRepeats: with DropRepeats an event added again (same id
// and time) comes out once, the first added; an id seen at another time is
// not a repeat; the same in memory and through runs on disk.
func TestTimeSorterDropRepeats(t *testing.T) {
	base := shuffledEvents(500)
	var in []events.Event
	for i, ev := range base {
		in = append(in, ev)
		if i%7 == 0 {
			r := ev
			r.Seq = 1_000_000 + uint64(i) // a later copy in the log
			in = append(in, r)
		}
	}
	odd := base[3]
	odd.Time = odd.Time.Add(time.Hour) // the same id at another time: kept
	odd.Seq = 2_000_000
	in = append(in, odd)
	// What must come out: each (time, id) once, the first added (the
	// shuffled events hold exact duplicates of their own too).
	type key struct {
		t  int64
		id events.ID
	}
	first := map[key]uint64{}
	for _, ev := range in {
		k := key{ev.Time.UnixNano(), ev.ID}
		if _, ok := first[k]; !ok {
			first[k] = ev.Seq
		}
	}
	for _, max := range []int{1, 13, 10_000} {
		s := events.NewTimeSorter(t.TempDir(), max)
		s.DropRepeats = true
		for _, ev := range in {
			if err := s.Add(ev); err != nil {
				t.Fatal(err)
			}
		}
		i := 0
		seen := map[key]bool{}
		var prev events.Event
		for ev, err := range s.Sorted() {
			if err != nil {
				t.Fatal(err)
			}
			k := key{ev.Time.UnixNano(), ev.ID}
			if seq, ok := first[k]; !ok || seq != ev.Seq || seen[k] {
				t.Fatalf("max %d: event %d (%v, seq %d): not the first added of its (time, id), or out twice", max, i, ev.ID, ev.Seq)
			}
			seen[k] = true
			if i > 0 && (ev.Time.Before(prev.Time) || ev.Time.Equal(prev.Time) && ev.ID.Compare(prev.ID) < 0) {
				t.Fatalf("max %d: event %d out of order", max, i)
			}
			prev = ev
			i++
		}
		if i != len(first) || s.Repeats() != len(in)-len(first) || !seen[key{odd.Time.UnixNano(), odd.ID}] {
			t.Fatalf("max %d: %d events out, want %d; %d repeats dropped, want %d", max, i, len(first), s.Repeats(), len(in)-len(first))
		}
		s.Close()
	}
}

// TestTimeSorterInOrderAndAfter: events added in order need no sort (the
// sorter keeps no keys for them) and come out as added; events in order
// for a while (several of the sorter's chunks) and then earlier ones come
// out sorted, stably, in memory and through runs on disk.
func TestTimeSorterInOrderAndAfter(t *testing.T) {
	sorted := shuffledEvents(9000)
	events.SortByTime(sorted)
	late := append(append([]events.Event(nil), sorted[:8000]...), shuffledEvents(1000)...)
	for i := 8000; i < len(late); i++ {
		late[i].Seq += 100_000
	}
	for name, evs := range map[string][]events.Event{"in order": sorted, "in order, then earlier": late} {
		for _, max := range []int{1000, 20_000} {
			s := events.NewTimeSorter(t.TempDir(), max)
			for _, ev := range evs {
				if err := s.Add(ev); err != nil {
					t.Fatal(err)
				}
			}
			checkSortedLike(t, fmt.Sprintf("%s, max %d", name, max), s, evs)
			s.Close()
		}
	}
}

// checkSortedLike checks that s, holding evs, yields them as SortByTime
// orders them: every field and Seq, and all of them.
func checkSortedLike(t *testing.T, what string, s *events.TimeSorter, evs []events.Event) {
	t.Helper()
	want := append([]events.Event(nil), evs...)
	events.SortByTime(want)
	i := 0
	for ev, err := range s.Sorted() {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if i >= len(want) {
			t.Fatalf("%s: more than the %d events added", what, len(want))
		}
		if d := diffEvent(ev, want[i]); d != "" || ev.Seq != want[i].Seq {
			t.Fatalf("%s: event %d: %s (seq %d, want %d)", what, i, d, ev.Seq, want[i].Seq)
		}
		i++
	}
	if i != len(want) || s.Len() != len(want) {
		t.Fatalf("%s: %d events out, %d in (Len %d)", what, i, len(want), s.Len())
	}
}
