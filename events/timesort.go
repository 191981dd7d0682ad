package events

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
)

// TimeSorter orders any number of events by (event time, id), stably (as
// SortByTime), in bounded memory: it holds up to a set number of events,
// and when that fills it sorts them and spills them to a run file in a
// temporary directory; Sorted then merges the runs. A range that fits is
// sorted in memory, with no file. A replay of a month of history uses it:
// the log is in append order, which an import of old history breaks.
//
// Add, Sorted and Close are not safe for concurrent use.
type TimeSorter struct {
	// DropRepeats makes Sorted yield an event once when it was added more
	// than once (the same id and event time: a repeat in the log, read with
	// Query.Repeats), keeping the first added, as a log reader drops
	// repeats; Repeats counts the ones dropped. Set it before Sorted.
	DropRepeats bool
	repeats     int
	dir         string // where run files go; created on the first spill
	parent      string
	max         int
	// The events held, in chunks of sortChunk (the last one filling), so
	// that adding one never copies the ones before it; sorted tells
	// whether they were added in order (then they need no sort). keys
	// holds their sort keys once sortHeld has made them, at once (a key
	// appended per event as they came grew the slice again and again:
	// BenchmarkTimeSorter took 0.56x the bytes without). last is the key
	// of the last one added.
	chunks  [][]Event
	free    [][]Event // chunks emptied by a spill, reused
	held    int
	keys    []SortKey
	sorted  bool
	last    SortKey
	runs    []string
	counts  []int // events per run
	n       int
	spilled int
	scratch []byte
}

// DefaultSortEvents is the number of events a TimeSorter holds in memory by
// default: about 400 MiB of decoded events (about 370 bytes each). A range
// that fits is sorted in memory, faster than in runs on disk
// (BenchmarkTimeSorter: 1M shuffled events at 1.0 M/s in memory, 0.88 M/s
// in runs of 262k; a replay of a fleet's 600k events 1.3× faster; since
// session 5, with events held in chunks and only keys sorted, 1.9 M/s in
// memory, and none sorted for events added in order). It was
// 262k until session 4, chosen on a measurement of a sorter that spilled
// when its buffer filled, even by the last event: "in memory" had been
// sorted on disk.
const DefaultSortEvents = 1 << 20

// NewTimeSorter returns a sorter that holds up to maxEvents events in
// memory (DefaultSortEvents when maxEvents < 1) and spills runs to a new
// temporary directory under dir (created when needed; the system's when dir
// is "").
func NewTimeSorter(dir string, maxEvents int) *TimeSorter {
	if maxEvents < 1 {
		maxEvents = DefaultSortEvents
	}
	return &TimeSorter{parent: dir, max: maxEvents}
}

// sortChunk is the number of events in one of a TimeSorter's chunks (a
// power of two: an index splits into chunk and position with a shift).
const (
	sortChunkBits = 12
	sortChunk     = 1 << sortChunkBits
)

// Add adds ev (its Seq is kept). It fails only when a run cannot be
// written.
func (s *TimeSorter) Add(ev Event) error {
	// Spill when an event arrives for a full buffer, not when the buffer
	// fills: a range of exactly the buffer's size stays in memory.
	if s.held >= s.max {
		if err := s.spill(); err != nil {
			return err
		}
	}
	c := s.held >> sortChunkBits
	if c == len(s.chunks) {
		var chunk []Event
		if n := len(s.free); n > 0 {
			chunk, s.free = s.free[n-1], s.free[:n-1]
		} else {
			chunk = make([]Event, 0, min(sortChunk, s.max))
		}
		s.chunks = append(s.chunks, chunk)
	}
	s.chunks[c] = append(s.chunks[c], ev)
	k := KeyOf(&ev, s.held)
	switch {
	case s.held == 0:
		s.sorted = true
	case s.sorted:
		s.sorted = s.last.Compare(&k) < 0
	}
	s.last = k
	s.held++
	s.n++
	return nil
}

// at is the held event added at position i.
func (s *TimeSorter) at(i int) *Event {
	return &s.chunks[i>>sortChunkBits][i&(sortChunk-1)]
}

// sortHeld makes the keys of the events held and sorts them (stably, by
// position); held in order already, they need none.
func (s *TimeSorter) sortHeld() {
	if !s.sorted {
		s.keys = slices.Grow(s.keys[:0], s.held)
		for i := range s.held {
			s.keys = append(s.keys, KeyOf(s.at(i), i))
		}
		slices.SortFunc(s.keys, func(a, b SortKey) int { return a.Compare(&b) })
	}
}

// order yields the positions of the events held in (time, id, position)
// order, once sortHeld has run.
func (s *TimeSorter) order() iter.Seq[int] {
	return func(yield func(int) bool) {
		if s.sorted {
			for i := range s.held {
				if !yield(i) {
					return
				}
			}
			return
		}
		for _, k := range s.keys {
			if !yield(k.I) {
				return
			}
		}
	}
}

// release empties the buffer, keeping its chunks for the next events.
func (s *TimeSorter) release() {
	for _, c := range s.chunks {
		clear(c)
		s.free = append(s.free, c[:0])
	}
	s.chunks = s.chunks[:0]
	s.keys = s.keys[:0]
	s.held = 0
}

// Max is the number of events the sorter holds in memory: more are sorted
// in runs on disk.
func (s *TimeSorter) Max() int { return s.max }

// Len is the number of events added.
func (s *TimeSorter) Len() int { return s.n }

// Runs is the number of run files written so far.
func (s *TimeSorter) Runs() int { return len(s.runs) }

// Spilled is the number of events written to run files.
func (s *TimeSorter) Spilled() int { return s.spilled }

// Repeats is the number of repeated events Sorted dropped (DropRepeats).
func (s *TimeSorter) Repeats() int { return s.repeats }

// A run file is a sequence of records: uvarint(seq), uvarint(len), the
// event's Encode. Seq is not part of the encoding.
func (s *TimeSorter) spill() error {
	if s.held == 0 {
		return nil
	}
	if s.dir == "" {
		if s.parent != "" {
			if err := os.MkdirAll(s.parent, 0o700); err != nil {
				return fmt.Errorf("sorting events: %w", err)
			}
		}
		d, err := os.MkdirTemp(s.parent, fmt.Sprintf("%s%d-", sortDirPrefix, os.Getpid()))
		if err != nil {
			return fmt.Errorf("sorting events: %w", err)
		}
		s.dir = d
	}
	s.sortHeld()
	path := filepath.Join(s.dir, fmt.Sprintf("run-%06d", len(s.runs)))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("sorting events: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var head [2 * binary.MaxVarintLen64]byte
	for i := range s.order() {
		ev := s.at(i)
		body, err := AppendEncode(s.scratch[:0], ev)
		if err != nil {
			f.Close()
			return fmt.Errorf("sorting events: %w", err)
		}
		s.scratch = body
		h := binary.AppendUvarint(head[:0], ev.Seq)
		h = binary.AppendUvarint(h, uint64(len(body)))
		if _, err := w.Write(h); err != nil {
			f.Close()
			return fmt.Errorf("sorting events: writing a run: %w", err)
		}
		if _, err := w.Write(body); err != nil {
			f.Close()
			return fmt.Errorf("sorting events: writing a run: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("sorting events: writing a run: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sorting events: writing a run: %w", err)
	}
	s.runs = append(s.runs, path)
	s.counts = append(s.counts, s.held)
	s.spilled += s.held
	s.release()
	return nil
}

// Sorted yields every added event in (time, id) order; events equal in
// both come in the order they were added. Call it once, after the last Add.
// With runs on disk the events held in memory are spilled too, and the runs
// are merged, reading each sequentially.
func (s *TimeSorter) Sorted() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		// With DropRepeats, an event equal in (time, id) to the one
		// before it is a repeat: the sort is stable, so repeats follow
		// the first one added.
		var (
			prevT  int64
			prevID ID
			seen   bool
		)
		emit := func(ev *Event) bool {
			if s.DropRepeats {
				t := ev.Time.UnixNano()
				if seen && t == prevT && ev.ID == prevID {
					s.repeats++
					return true
				}
				prevT, prevID, seen = t, ev.ID, true
			}
			return yield(*ev, nil)
		}
		if len(s.runs) == 0 {
			// In memory: in key order, each event read where it was
			// added, none moved.
			s.sortHeld()
			for i := range s.order() {
				if !emit(s.at(i)) {
					return
				}
			}
			return
		}
		if err := s.spill(); err != nil {
			yield(Event{}, err)
			return
		}
		h := make(runHeap, 0, len(s.runs))
		for i, path := range s.runs {
			f, err := os.Open(path)
			if err != nil {
				h.close()
				yield(Event{}, fmt.Errorf("sorting events: %w", err))
				return
			}
			r := &runReader{f: f, r: bufio.NewReaderSize(f, 256<<10), idx: i, want: s.counts[i]}
			if err := r.next(); err != nil {
				f.Close()
				if errors.Is(err, io.EOF) {
					continue
				}
				h.close()
				yield(Event{}, err)
				return
			}
			h = append(h, r)
		}
		defer h.close()
		heap.Init(&h)
		for len(h) > 0 {
			r := h[0]
			if !emit(&r.ev) {
				return
			}
			switch err := r.next(); {
			case errors.Is(err, io.EOF):
				r.f.Close()
				heap.Pop(&h)
			case err != nil:
				yield(Event{}, err)
				return
			default:
				heap.Fix(&h, 0)
			}
		}
	}
}

// Values yields the events of evs in order, as a sequence with no errors:
// what functions that take a TimeSorter's output accept for a slice.
func Values(evs []Event) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for i := range evs {
			if !yield(evs[i], nil) {
				return
			}
		}
	}
}

// Close removes the run files. The sorter is empty afterwards, its counts
// back to zero, and can take events again.
func (s *TimeSorter) Close() error {
	s.chunks, s.free, s.keys, s.held = nil, nil, nil, 0
	s.runs, s.counts = nil, nil
	s.n, s.spilled, s.repeats = 0, 0, 0
	if s.dir == "" {
		return nil
	}
	err := os.RemoveAll(s.dir)
	s.dir = ""
	return err
}

type runReader struct {
	f         *os.File
	r         *bufio.Reader
	idx       int // the run's index: ties go to the earlier run (stability)
	want, got int // events written to the run, and read so far
	ev        Event
	b         []byte
}

func (r *runReader) next() error {
	seq, err := binary.ReadUvarint(r.r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			if r.got != r.want {
				return fmt.Errorf("%w: sorting events: run %d ended after %d of its %d events", ErrCorrupt, r.idx, r.got, r.want)
			}
			return io.EOF
		}
		return fmt.Errorf("%w: sorting events: reading run %d: %v", ErrCorrupt, r.idx, err)
	}
	n, err := binary.ReadUvarint(r.r)
	if err != nil || n > MaxEventSize {
		return fmt.Errorf("%w: sorting events: run %d has a bad record", ErrCorrupt, r.idx)
	}
	r.b = slices.Grow(r.b[:0], int(n))[:n]
	if _, err := io.ReadFull(r.r, r.b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) { // a header without its record: never a clean end
			return fmt.Errorf("%w: sorting events: run %d ends inside a record", ErrCorrupt, r.idx)
		}
		return fmt.Errorf("sorting events: reading run %d: %v", r.idx, err)
	}
	ev, err := Decode(r.b)
	if err != nil {
		return fmt.Errorf("sorting events: run %d: %w", r.idx, err)
	}
	ev.Seq = seq
	r.ev = ev
	r.got++
	return nil
}

type runHeap []*runReader

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	a, b := &h[i].ev, &h[j].ev
	if c := a.Time.Compare(b.Time); c != 0 {
		return c < 0
	}
	if c := a.ID.Compare(b.ID); c != 0 {
		return c < 0
	}
	return h[i].idx < h[j].idx
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (h runHeap) close() {
	for _, r := range h {
		r.f.Close()
	}
}
