package replay

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/replay/zeek"
)

// openLog opens an embedded log on disk and appends each of parts to it,
// one Append after the other (zeek.Append sorts each part).
func openLog(t *testing.T, parts ...[]events.Event) *natsstore.Store {
	t.Helper()
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, p := range parts {
		if err := zeek.Append(ctx, store, append([]events.Event(nil), p...)); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// serialReplay is the replay after the read: ReadInto a sorter that drops
// repeats, then RunSortedTo over its output, into Outputs.
func serialReplay(t *testing.T, store events.Store) (*Outputs, pipeline.Stats, int) {
	t.Helper()
	ctx := context.Background()
	s := events.NewTimeSorter(t.TempDir(), 0)
	s.DropRepeats = true
	defer s.Close()
	if err := ReadInto(ctx, store, events.Query{}, s, nil); err != nil {
		t.Fatal(err)
	}
	o := NewOutputs(time.Time{})
	st, err := RunSortedTo(ctx, s.Sorted(), pipeline.Config{}, nil, o.Add)
	if err != nil {
		t.Fatal(err)
	}
	return o, st, s.Repeats()
}

func sameOutputs(t *testing.T, got, want *Outputs) {
	t.Helper()
	if len(want.Raised) < 50 {
		t.Fatalf("%d alerts: the log should raise many", len(want.Raised))
	}
	if !reflect.DeepEqual(got.Raised, want.Raised) || !bytes.Equal(got.Interventions, want.Interventions) || len(got.Candidate()) != len(want.Candidate()) {
		t.Fatalf("%d alerts raised, %d candidate events; want %d, %d", len(got.Raised), len(got.Candidate()), len(want.Raised), len(want.Candidate()))
	}
	gc, wc := got.Candidate(), want.Candidate()
	for i := range wc {
		if a, b := gc[i].AppendJSON(nil), wc[i].AppendJSON(nil); !bytes.Equal(a, b) {
			t.Fatalf("candidate event %d: %s, want %s", i, a, b)
		}
	}
	for _, r := range want.Raised {
		a, _ := got.Set.Get(r[0], r[1])
		b, _ := want.Set.Get(r[0], r[1])
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("alert %s folds to %+v, want %+v", r[1], a, b)
		}
	}
}

// TestReadRunMatchesReadThenReplay: a replay during the read gives what
// the replay after the read gives (outputs, stats, repeats dropped), on a
// log in time order (the replay runs during the read), with a repeat of
// its last event, and on one whose second half was appended first (an
// import of older history: the replay during the read is abandoned, the
// range replayed after the read); the sink sees nothing of an abandoned
// run and nothing before the read ends.
func TestReadRunMatchesReadThenReplay(t *testing.T) {
	evs, _ := importLog(t, "008-zeek-mixed/data/conn.log.labeled")
	half := len(evs) / 2
	// A label after the traffic (the latest event the pipeline counts)
	// and an alert of an earlier run after it (which it skips): the
	// replay during the read counts the order-free events itself.
	last := evs[len(evs)-1]
	late := []events.Event{
		{ID: events.DerivedID("late", "label"), Schema: events.SchemaVersion, Tenant: last.Tenant, Device: last.Device, Time: last.Time.Add(time.Hour),
			Payload: &events.LabelRecorded{Label: "Benign", Start: last.Time.UnixNano(), End: last.Time.Add(time.Hour).UnixNano()}},
		{ID: events.DerivedID("late", "alert"), Schema: events.SchemaVersion, Tenant: last.Tenant, Device: last.Device, Time: last.Time.Add(2 * time.Hour),
			Payload: &events.AlertRaised{AlertId: "earlier-run", Detector: "scan"}},
	}
	for _, c := range []struct {
		name    string
		parts   [][]events.Event
		buffer  int // the sorter's
		overlap bool
	}{
		{"in order", [][]events.Event{evs, evs[len(evs)-1:]}, 0, true},
		{"older history appended later", [][]events.Event{evs[half:], evs[:half]}, 0, false},
		{"in order, a label and an earlier run's alert last", [][]events.Event{evs, evs[len(evs)-1:], late}, 0, true},
		// Larger than the sorter's memory: it lets go of the range
		// during the read; abandoned, the range is read again.
		{"in order, larger than the sort buffer", [][]events.Event{evs, evs[len(evs)-1:]}, 1000, true},
		{"older history appended later, larger than the sort buffer", [][]events.Event{evs[half:], evs[:half]}, 1000, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := openLog(t, c.parts...)
			want, wantSt, wantRepeats := serialReplay(t, store)
			dir := t.TempDir()
			s := events.NewTimeSorter(dir, c.buffer)
			s.DropRepeats = true
			defer s.Close()
			got := NewOutputs(time.Time{})
			read, readDone, sinkBeforeDone := 0, false, false
			r := ReadRun{Sorter: s, Config: pipeline.Config{},
				Each:     func(*events.Event) { read++ },
				ReadDone: func(int) { readDone = true },
				Sink: func(chunk []events.Event) error {
					if !readDone {
						sinkBeforeDone = true
					}
					return got.Add(chunk)
				},
			}
			st, err := r.Run(context.Background(), store)
			if err != nil {
				t.Fatal(err)
			}
			if st.Overlapped != c.overlap || sinkBeforeDone {
				t.Fatalf("overlapped %v, want %v; sink called before the read ended: %v", st.Overlapped, c.overlap, sinkBeforeDone)
			}
			inLog := 0
			for _, p := range c.parts {
				inLog += len(p)
			}
			if st.Read != read || read != inLog || st.Repeats != wantRepeats || !reflect.DeepEqual(st.Stats, wantSt) {
				t.Fatalf("read %d (each %d, %d in the log), %d repeats; stats %+v; want %d repeats, stats %+v", st.Read, read, inLog, st.Repeats, st.Stats, wantRepeats, wantSt)
			}
			if c.overlap && wantRepeats != 1 {
				t.Fatalf("%d repeats dropped, want 1", wantRepeats)
			}
			if c.buffer > 0 && half <= c.buffer || c.overlap && s.Runs() > 0 {
				t.Fatalf("%d events in a buffer of %d: %d runs on disk", half, c.buffer, s.Runs())
			}
			sameOutputs(t, got, want)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("runs left behind: %v", left)
			}
		})
	}
}

// TestReadRunStops: the context's end and the sink's first error stop the
// read and the replay, and are returned.
func TestReadRunStops(t *testing.T) {
	evs, _ := importLog(t, "008-zeek-mixed/data/conn.log.labeled")
	store := openLog(t, evs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := events.NewTimeSorter(t.TempDir(), 0)
	defer s.Close()
	n := 0
	r := ReadRun{Sorter: s, Each: func(*events.Event) {
		if n++; n == len(evs)/2 {
			cancel()
		}
	}, Sink: func([]events.Event) error { return nil }}
	if _, err := r.Run(ctx, store); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled halfway: %v", err)
	}
	boom := errors.New("disk full")
	s2 := events.NewTimeSorter(t.TempDir(), 0)
	defer s2.Close()
	calls := 0
	r = ReadRun{Sorter: s2, Sink: func([]events.Event) error { calls++; return boom }}
	if _, err := r.Run(context.Background(), store); !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("a failing sink: %v after %d calls, want %v after 1", err, calls, boom)
	}
}

// TestReadRunRereadChecksTheLog: reading the range again (after the
// sorter let go of it) gives an error, not another range, when the log no
// longer holds the events read the first time (fewer of them, or others).
func TestReadRunRereadChecksTheLog(t *testing.T) {
	evs, _ := importLog(t, "008-zeek-mixed/data/conn.log.labeled")
	store := openLog(t, evs)
	ctx := context.Background()
	var sum readSum
	n := 0
	for ev, err := range store.Read(ctx, events.Query{Repeats: true}) {
		if err != nil {
			t.Fatal(err)
		}
		sum.add(&ev)
		n++
	}
	for _, c := range []struct {
		n    int
		sum  readSum
		fail bool
	}{{n, sum, false}, {n + 1, sum, true}, {n, sum + 1, true}, {0, 0, false}} {
		s := events.NewTimeSorter(t.TempDir(), 0)
		r := ReadRun{Sorter: s}
		err := r.reread(ctx, store, events.Query{Repeats: true}, c.n, c.sum)
		if (err != nil) != c.fail || !c.fail && s.Len() != c.n {
			t.Fatalf("reading %d events again (sum %x): %v, %d in the sorter", c.n, c.sum, err, s.Len())
		}
		s.Close()
	}
}

// The reorder buffer's two parts (a run of keys that came in order, a heap
// of the others) give back every key, smallest first, however they came.
func TestAheadKeysComeOutInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 200 {
		var a ahead
		var out []aheadKey
		n := 1 + rng.IntN(2000)
		for i := range n {
			tm := int64(i) * 10
			switch rng.IntN(10) {
			case 0:
				tm -= int64(rng.IntN(250)) // out of order, within the holdback
			case 1:
				tm = int64(i-1) * 10 // a tie
			}
			a.push(aheadKey{SortKey: events.SortKey{T: tm, I: i}})
			for a.buffered() > 0 && a.first().T < int64(i)*10-300 {
				out = append(out, a.pop())
			}
		}
		for a.buffered() > 0 {
			first := *a.first()
			if k := a.pop(); k != first {
				t.Fatalf("trial %d: first %+v, popped %+v", trial, first, k)
			}
			out = append(out, first)
		}
		sorted := slices.IsSortedFunc(out, func(x, y aheadKey) int { return x.Compare(&y.SortKey) })
		seen := map[int]bool{}
		for _, k := range out {
			seen[k.I] = true
		}
		if len(out) != n || len(seen) != n || !sorted {
			t.Fatalf("trial %d: %d keys out of %d (%d distinct), in order: %v", trial, len(out), n, len(seen), sorted)
		}
	}
}

// eachFree yields the order-free events as the replay after the read
// takes them: in the order of events.SortByTime over them all, the
// repeats of the one before dropped (when asked), across several chunks,
// in order or not.
func TestEachFreeIsSortByTime(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		n       int
		ordered bool
		spread  bool // times mostly apart: runs of one time of one event, some of several
	}{{0, false, false}, {1, false, false}, {3*freeChunk + 17, false, false}, {2 * freeChunk, true, false}, {freeChunk + 1, false, false}, {3 * freeChunk, false, true}} {
		var all []events.Event
		for i := range c.n {
			// Few times and ids: ties of time, and repeats (the same id
			// and time), some of them apart.
			at := t0.Add(time.Duration(r.IntN(50)) * time.Second)
			if c.ordered {
				at = t0.Add(time.Duration(i/3) * time.Second)
			}
			if c.spread {
				at = t0.Add(time.Duration(r.IntN(2*c.n)) * time.Millisecond)
			}
			id := events.DerivedID("label", string(rune('a'+r.IntN(40))))
			all = append(all, events.Event{ID: id, Time: at, Seq: uint64(i + 1)})
		}
		var free [][]freeEvent
		for i := 0; i < len(all); i += freeChunk {
			var c []freeEvent
			for j := i; j < min(i+freeChunk, len(all)); j++ {
				c = append(c, freeEvent{key: events.KeyOf(&all[j], j), at: all[j].Time})
			}
			free = append(free, c)
		}
		for _, drop := range []bool{false, true} {
			want := slices.Clone(all)
			events.SortByTime(want)
			wantRepeats := 0
			if drop {
				kept := want[:0:0]
				for i := range want {
					if i > 0 && want[i].ID == want[i-1].ID && want[i].Time.Equal(want[i-1].Time) {
						wantRepeats++
						continue
					}
					kept = append(kept, want[i])
				}
				want = kept
			}
			var got []events.Event
			repeats := eachFree(free, drop, func(e *freeEvent) bool {
				got = append(got, all[e.key.I])
				return true
			})
			if repeats != wantRepeats || len(got) != len(want) {
				t.Fatalf("%d events (drop %v): %d yielded, %d repeats; want %d, %d", c.n, drop, len(got), repeats, len(want), wantRepeats)
			}
			for i := range want {
				if got[i].Seq != want[i].Seq {
					t.Fatalf("%d events (drop %v): event %d is the %dth read, want the %dth", c.n, drop, i, got[i].Seq, want[i].Seq)
				}
			}
			if drop && c.n > freeChunk && wantRepeats == 0 {
				t.Fatalf("%d events: no repeats to drop", c.n)
			}
		}
	}
	// yield's false stops it.
	free := [][]freeEvent{{{key: events.SortKey{ID: events.DerivedID("a")}, at: t0}, {key: events.SortKey{ID: events.DerivedID("b"), I: 1}, at: t0}}}
	n := 0
	eachFree(free, true, func(*freeEvent) bool { n++; return false })
	if n != 1 {
		t.Fatalf("%d events yielded after a false", n)
	}
}

// readSum tells a range read from another: one event's position or id
// changed (any bit of it), or two events swapped.
func TestReadSumChanges(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	evs := make([]events.Event, 100)
	for i := range evs {
		evs[i].Seq = r.Uint64()
		binary.LittleEndian.PutUint64(evs[i].ID[:8], r.Uint64())
		binary.LittleEndian.PutUint64(evs[i].ID[8:], r.Uint64())
	}
	sumOf := func(evs []events.Event) readSum {
		var s readSum
		for i := range evs {
			s.add(&evs[i])
		}
		return s
	}
	want := sumOf(evs)
	for i := range evs {
		for bit := range 64 {
			ev := evs[i]
			evs[i].Seq ^= 1 << bit
			if sumOf(evs) == want {
				t.Fatalf("event %d's position with bit %d flipped: the same sum", i, bit)
			}
			evs[i] = ev
		}
		for bit := range 128 {
			ev := evs[i]
			evs[i].ID[bit/8] ^= 1 << (bit % 8)
			if sumOf(evs) == want {
				t.Fatalf("event %d's id with bit %d flipped: the same sum", i, bit)
			}
			evs[i] = ev
		}
		if j := r.IntN(len(evs)); j != i {
			evs[i], evs[j] = evs[j], evs[i]
			if sumOf(evs) == want {
				t.Fatalf("events %d and %d swapped: the same sum", i, j)
			}
			evs[i], evs[j] = evs[j], evs[i]
		}
	}
	if sumOf(evs[:99]) == want {
		t.Fatal("one event fewer: the same sum")
	}
}

// BenchmarkEachFree: the labels of six logs imported one after the other
// (each in time order, their spans overlapping), as a replay of them
// counts them at its end.
func BenchmarkEachFree(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var free [][]freeEvent
	n := 0
	for range 6 {
		at := t0.Add(time.Duration(r.IntN(3600)) * time.Second)
		for range 2400 {
			at = at.Add(time.Duration(r.IntN(2e9)))
			id := events.DerivedID("label", fmt.Sprint(n))
			if l := len(free); l == 0 || len(free[l-1]) == freeChunk {
				free = append(free, make([]freeEvent, 0, freeChunk))
			}
			free[len(free)-1] = append(free[len(free)-1], freeEvent{key: events.SortKey{T: at.UnixNano(), ID: id, I: n}, at: at, counted: true})
			n++
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		eachFree(free, true, func(*freeEvent) bool { return true })
	}
}

// mergeRuns sorts as slices.SortFunc by time and position does: random
// pairs, runs in order of random lengths, sorted, reversed, empty.
func TestMergeRunsIsSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 500 {
		n := r.IntN(300)
		if trial%50 == 0 {
			n = r.IntN(20000)
		}
		ps := make([]freePos, n)
		runLen := 1 + r.IntN(n+1)
		var at int64
		for i := range ps {
			if i%runLen == 0 {
				at = int64(r.IntN(1000)) // a new run, from anywhere
			}
			switch trial % 4 {
			case 0:
				at = int64(r.IntN(50)) // no runs to speak of, many ties of time
			case 1:
				at += int64(r.IntN(3)) // runs of runLen, with ties
			case 2:
				at = int64(n - i) // reversed
			case 3:
				at = int64(i) // sorted
			}
			ps[i] = freePos{at, i}
		}
		want := slices.Clone(ps)
		slices.SortFunc(want, func(x, y freePos) int {
			if x.t != y.t {
				return cmp.Compare(x.t, y.t)
			}
			return cmp.Compare(x.i, y.i)
		})
		if got := mergeRuns(ps); !slices.Equal(got, want) {
			t.Fatalf("trial %d (%d pairs, runs of %d): mergeRuns differs from the sort", trial, n, runLen)
		}
	}
}
