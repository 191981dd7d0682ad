package replay

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
)

// ReadRun reads a range of the log and replays it, as ReadInto into a
// TimeSorter and then RunSortedTo over its Sorted output do, with the same
// outputs, stats and sink calls, but without waiting for the read to end
// when it need not: the log is in append order, which for most ranges is
// event-time order give or take the store's batch span, so the replay
// starts on the events as they are read, through a small reorder buffer
// (events are held until the log has gone aheadSpan of event time past
// them, at most aheadMax of them). Should an event come that the replay
// should have had before one it already took (an import of older history
// appended later, say), that run is abandoned, its outputs dropped unseen,
// and the range is replayed from the sorter after the read, as before:
// the sorter takes the events read before that one, read again (the log
// is append-only), then it and the rest. The read and the replay then
// share the cores instead of taking turns.
//
// The sink sees nothing before the read has ended (outputs made meanwhile
// are held until then): a run abandoned gives it nothing.
type ReadRun struct {
	// Query is the range read; Query.Repeats is set from the sorter's
	// DropRepeats, as ReadInto does.
	Query events.Query
	// Sorter takes the events read for the replay after the read, when
	// the one during the read is abandoned (only then: holding every
	// event read, for nothing when the replay during the read goes
	// through, was 4% of the Zeek replay's CPU, in the collector mostly).
	// Its DropRepeats drops repeated events in both.
	Sorter *events.TimeSorter
	// Each, when not nil, is called with every event read, in log order,
	// on the calling goroutine, once (not when read again).
	Each func(*events.Event)
	// ReadDone, when not nil, is called with the number of events read
	// once the read has ended without error, on the calling goroutine,
	// before Progress is first called.
	ReadDone func(read int)
	// Config is the pipeline's configuration.
	Config pipeline.Config
	// Progress, when not nil, is called after the read with the number of
	// events the replay has consumed, every 4096 events, one call at a
	// time (not on the calling goroutine when the replay ran during the
	// read, whose count holds the order-free events from the first call:
	// see ahead.free).
	Progress func(done int)
	// Sink takes the replay's outputs in order, in chunks, one call at a
	// time (RunSortedTo).
	Sink func([]events.Event) error
}

// ReadRunStats is what ReadRun.Run reports.
type ReadRunStats struct {
	pipeline.Stats
	// Read is the number of events read from the log (repeats included
	// when the sorter drops them).
	Read int
	// Repeats is the number of repeated events dropped (the sorter's
	// DropRepeats).
	Repeats int
	// Overlapped tells that the replay ran during the read; false when it
	// was replayed from the sorter after the read.
	Overlapped bool
}

const (
	// aheadSpan is how far in event time the read must have gone past an
	// event before the replay during the read takes it: the log keeps
	// within the store's batch span (a second by default) of event-time
	// order across partitions.
	aheadSpan = int64(60e9)
	// aheadMax is the most events held for aheadSpan.
	aheadMax = 1 << 16
	// aheadBatch is how many events go to the replay at once, and
	// aheadQueue how many batches may wait for it (32 k events): the read
	// goes on while the replay is busy, and an out-of-order log is found
	// out sooner (BenchmarkReplay's log out of order: 258 -> 194 ms with
	// 64 batches queued instead of 8; nothing gained beyond).
	aheadBatch = 512
	aheadQueue = 64
	// freeChunk is how many order-free events a chunk of ahead.free holds.
	freeChunk = 4096
)

// errAbandoned stops the replay run during the read.
var errAbandoned = errors.New("replay: the log is out of event-time order; replaying after the read")

// Run reads r.Query's range from store and replays it (see ReadRun).
func (r *ReadRun) Run(ctx context.Context, store events.Store) (ReadRunStats, error) {
	r.Config = r.Config.OfLog(store)
	s := r.Sorter
	q := r.Query
	q.Repeats = s.DropRepeats
	var st ReadRunStats
	sp := r.startAhead(ctx)
	defer sp.stop()
	var (
		cur     events.Event // one copy on the heap, not one per event
		n       int
		sorting bool // the replay during the read was abandoned: the events go to the sorter
		sum     readSum
	)
	for ev, err := range store.Read(ctx, q) {
		if err != nil {
			return st, fmt.Errorf("reading the log after %d events: %w", n, err)
		}
		cur = ev
		n++
		if r.Each != nil {
			r.Each(&cur)
		}
		before := sum
		sum.add(&cur)
		if !sorting {
			if err := sp.add(&cur); err != nil {
				return st, err
			}
			if sp.running() {
				continue
			}
			// Abandoned at this event: the sorter takes the events
			// read before it, read again, then it and the rest: in
			// log order, which its ties keep (of a repeat, the
			// first added is kept).
			sorting = true
			if err := r.reread(ctx, store, q, n-1, before); err != nil {
				return st, err
			}
		}
		if err := s.Add(cur); err != nil {
			return st, err
		}
	}
	cur = events.Event{}
	st.Read = n
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if sp.running() {
		if err := sp.finish(); err != nil {
			return st, err
		}
		if r.ReadDone != nil {
			r.ReadDone(n)
		}
		sp.commit()
		sp.readDone.Store(true)
		res := sp.wait()
		st.Stats, st.Repeats, st.Overlapped = res.st, sp.repeats, true
		st.Stats.Events += sp.freeCounted
		if sp.freeLast.After(st.Stats.LastEventTime) {
			st.Stats.LastEventTime = sp.freeLast
		}
		return st, res.err
	}
	if r.ReadDone != nil {
		r.ReadDone(n)
	}
	ps, err := RunSortedTo(ctx, s.Sorted(), r.Config, r.Progress, r.Sink)
	st.Stats, st.Repeats = ps, s.Repeats()
	return st, err
}

// reread reads the first n events of q's range again into the sorter,
// which did not take them: the log is append-only, so they are the ones
// read before (sum checks it: a log trimmed meanwhile by its retention
// limits gives an error).
func (r *ReadRun) reread(ctx context.Context, store events.Store, q events.Query, n int, want readSum) error {
	if n == 0 {
		return nil
	}
	var sum readSum
	k := 0
	for ev, err := range store.Read(ctx, q) {
		if err != nil {
			return fmt.Errorf("reading the log again after %d events: %w", k, err)
		}
		sum.add(&ev)
		if err := r.Sorter.Add(ev); err != nil {
			return err
		}
		if k++; k == n {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if k != n || sum != want {
		return fmt.Errorf("replay: the log changed while the range was read (%d events read, %d the second time): replay again", n, k)
	}
	return nil
}

// readSum is a checksum of events read: their position in the log and id,
// in order (FNV-1a over 64-bit words, not bytes: a byte at a time was 1%
// of a replay). Each step is a bijection of the sum for a given word and
// of the word for a given sum, so one position or id read differently
// always changes the sum.
type readSum uint64

func (h *readSum) add(ev *events.Event) {
	const prime = 1099511628211
	x := uint64(*h)
	if x == 0 {
		x = 14695981039346656037
	}
	x = (x ^ ev.Seq) * prime
	x = (x ^ binary.LittleEndian.Uint64(ev.ID[:8])) * prime
	x = (x ^ binary.LittleEndian.Uint64(ev.ID[8:])) * prime
	*h = readSum(x)
}

// ahead is the replay during the read: a reorder buffer (keys in order
// and a heap of the others, the events in slots) feeding a pipeline run
// on another goroutine.
type ahead struct {
	r        *ReadRun
	cancel   context.CancelFunc
	feed     chan []events.Event // batches of events in order; closed at the end
	reuse    chan []events.Event // batches to reuse
	done     chan struct{}       // closed when the run has ended
	res      aheadResult
	readDone atomic.Bool // Progress is passed on once set
	aborted  atomic.Bool // the run is to stop at once
	abandon  bool        // the run was abandoned (or ended early)
	stopped  bool

	// Guards the sink: outputs are held until the read has ended.
	mu        sync.Mutex
	committed bool
	dropped   bool // abandoned: the run's outputs are dropped
	held      [][]events.Event
	sinkErr   error

	// The order-free events (pipeline.OrderFree), in chunks of
	// freeChunk: the labels of an imported log are a fifth of its
	// events, and a slice that doubled as they came copied them again and
	// again (a twentieth of a replay's allocation). The pipeline would
	// only count the labels and skip its outputs (pipeline.OrderFree):
	// they are not passed on, but counted at the end (finish), as it
	// would count them last, into freeCounted and freeLast, which Run
	// adds to the run's stats (passing them on was about 3% of the Zeek
	// replay's CPU).
	free        [][]freeEvent
	freeCounted uint64
	freeLast    time.Time
	nfree       int

	run     []aheadKey // keys that came in order, from runHead on
	runHead int
	heap    []aheadKey // the others
	slots   []events.Event
	vacant  []int32
	n       int   // events added
	maxT    int64 // the latest event time read
	last    aheadKey
	started bool // last is set
	repeats int
	batch   []events.Event
}

// aheadKey is an event's sort key (its position: the order it was read
// in, so that ties keep the sorter's stability) and the slot it waits in.
type aheadKey struct {
	events.SortKey
	slot int32
}

func (a *aheadKey) less(b *aheadKey) bool { return a.Compare(&b.SortKey) < 0 }

type aheadResult struct {
	st  pipeline.Stats
	err error
}

func (r *ReadRun) startAhead(ctx context.Context) *ahead {
	ctx, cancel := context.WithCancel(ctx)
	a := &ahead{r: r, cancel: cancel, feed: make(chan []events.Event, aheadQueue), reuse: make(chan []events.Event, 16), done: make(chan struct{})}
	a.batch = make([]events.Event, 0, aheadBatch)
	// The batches are taken where they are (ProcessBatchesTo), not
	// yielded event by event and copied again into the assembler's runs.
	batches := func(yield func([]events.Event, error) bool) {
		for b := range a.feed {
			if b == nil || a.aborted.Load() {
				yield(nil, errAbandoned)
				return
			}
			if !yield(b, nil) {
				return
			}
			clear(b)
			select {
			case a.reuse <- b[:0]:
			default:
			}
		}
	}
	progress := func(done int) {
		if r.Progress != nil && a.readDone.Load() {
			// The order-free events are not passed to the run but were
			// all read by now (nfree is written before readDone): counted
			// as consumed, so that the progress reaches the events read.
			r.Progress(done + a.nfree)
		}
	}
	go func() {
		defer close(a.done)
		a.res.st, a.res.err = runBatchesTo(ctx, batches, r.Config, progress, a.sink)
	}()
	return a
}

// sink holds the outputs until the read has ended, then hands them on.
func (a *ahead) sink(c []events.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.dropped:
		return errAbandoned
	case a.sinkErr != nil:
		return a.sinkErr
	case !a.committed:
		a.held = append(a.held, c)
		return nil
	}
	a.sinkErr = a.r.Sink(c)
	return a.sinkErr
}

// commit hands the outputs held to the sink: the read has ended, the run
// will not be abandoned.
func (a *ahead) commit() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.committed = true
	for i, c := range a.held {
		a.held[i] = nil
		if a.sinkErr == nil {
			a.sinkErr = a.r.Sink(c)
		}
	}
	a.held = nil
}

func (a *ahead) running() bool { return !a.abandon }

// add takes an event read.
func (a *ahead) add(ev *events.Event) error {
	if pipeline.OrderFree(ev) {
		if n := len(a.free); n == 0 || len(a.free[n-1]) == freeChunk {
			a.free = append(a.free, make([]freeEvent, 0, freeChunk))
		}
		c := &a.free[len(a.free)-1]
		*c = append(*c, freeEvent{key: events.KeyOf(ev, a.nfree), at: ev.Time, counted: !pipeline.IsPipelineOutput(ev)})
		a.nfree++
		return nil
	}
	k := aheadKey{SortKey: events.KeyOf(ev, a.n)}
	a.n++
	if a.started {
		if k.T == a.last.T && k.ID == a.last.ID && a.r.Sorter.DropRepeats {
			a.repeats++ // a repeat of the event the run took last
			return nil
		}
		if k.less(&a.last) {
			a.giveUp()
			return nil
		}
	}
	if k.I == 0 || k.T > a.maxT {
		a.maxT = k.T
	}
	if n := len(a.vacant); n > 0 {
		k.slot, a.vacant = a.vacant[n-1], a.vacant[:n-1]
		a.slots[k.slot] = *ev
	} else {
		k.slot = int32(len(a.slots))
		a.slots = append(a.slots, *ev)
	}
	a.push(k)
	for a.buffered() > 0 && (a.first().T < a.maxT-aheadSpan || a.buffered() > aheadMax) {
		if !a.release() {
			return a.ended()
		}
	}
	return nil
}

// release passes the earliest event held to the run; false when the run
// has ended.
func (a *ahead) release() bool {
	k := a.pop()
	ev := &a.slots[k.slot]
	if a.started && k.T == a.last.T && k.ID == a.last.ID && a.r.Sorter.DropRepeats {
		a.repeats++
	} else {
		a.batch = append(a.batch, *ev)
		a.last, a.started = k, true
	}
	// The slot is not cleared: the next event to wait in it overwrites it
	// (it only keeps what a slot held at the most until then, or the run's
	// end).
	a.vacant = append(a.vacant, k.slot)
	if len(a.batch) == cap(a.batch) {
		return a.send()
	}
	return true
}

// send hands the batch to the run; false when the run has ended.
func (a *ahead) send() bool {
	select {
	case a.feed <- a.batch:
	case <-a.done:
		return false
	}
	select {
	case a.batch = <-a.reuse:
	default:
		a.batch = make([]events.Event, 0, aheadBatch)
	}
	return true
}

// ended is the run having ended before the read: its error, unless it
// was abandoned.
func (a *ahead) ended() error {
	<-a.done
	a.abandon = true
	a.mu.Lock()
	dropped := a.dropped
	a.mu.Unlock()
	if a.res.err != nil && !dropped {
		return a.res.err
	}
	return cmp.Or(a.res.err, errors.New("replay: the run during the read ended early"))
}

// giveUp abandons the run: its outputs are dropped; the range is replayed
// after the read.
func (a *ahead) giveUp() {
	a.mu.Lock()
	a.dropped = true
	a.held = nil
	a.mu.Unlock()
	a.abandon = true
	a.stop()
	a.heap, a.run, a.slots, a.vacant, a.batch, a.free = nil, nil, nil, nil, nil, nil
}

// finish passes the events still held to the run and ends its input, and
// counts the order-free ones as the run would have counted them after the
// others (repeats dropped as the sorter drops them): Events, and
// LastEventTime, which an event's time replaces when after it.
func (a *ahead) finish() error {
	for a.buffered() > 0 {
		if !a.release() {
			return a.ended()
		}
	}
	a.repeats += eachFree(a.free, a.r.Sorter.DropRepeats, func(e *freeEvent) bool {
		if e.counted {
			a.freeCounted++
			if e.at.After(a.freeLast) {
				a.freeLast = e.at
			}
		}
		return true
	})
	a.free = nil
	if len(a.batch) > 0 && !a.send() {
		return a.ended()
	}
	a.stopped = true
	close(a.feed)
	return nil
}

// freePos is an order-free event's time and position (eachFree).
type freePos struct {
	t int64
	i int
}

func (p freePos) less(o freePos) bool { return p.t < o.t || p.t == o.t && p.i < o.i }

// mergeRuns sorts ps by time and position: it merges the runs of ps
// already in order, two by two, until one is left (a natural merge sort;
// the positions are distinct, so that any sort gives the same order). It
// returns ps sorted, or another slice of the same length.
func mergeRuns(ps []freePos) []freePos {
	n := len(ps)
	var ends []int // where each run of ps ends
	for i := 1; i <= n; i++ {
		if i == n || ps[i].less(ps[i-1]) {
			ends = append(ends, i)
		}
	}
	if len(ends) <= 1 {
		return ps
	}
	buf := make([]freePos, n)
	for len(ends) > 1 {
		var next []int
		lo := 0
		for k := 0; k < len(ends); k += 2 {
			if k+1 == len(ends) { // the last run, alone
				copy(buf[lo:], ps[lo:ends[k]])
				next = append(next, ends[k])
				break
			}
			mid, hi := ends[k], ends[k+1]
			i, j, o := lo, mid, lo
			for i < mid && j < hi {
				if ps[j].less(ps[i]) {
					buf[o] = ps[j]
					j++
				} else {
					buf[o] = ps[i]
					i++
				}
				o++
			}
			o += copy(buf[o:], ps[i:mid])
			copy(buf[o:], ps[j:hi])
			next = append(next, hi)
			lo = hi
		}
		ps, buf, ends = buf, ps, next
	}
	return ps
}

// freeEvent is what ahead keeps of an order-free event: its sort key
// (its position among them), its time, and whether the pipeline counts
// it (a label) or skips it (its own output).
type freeEvent struct {
	key     events.SortKey
	at      time.Time
	counted bool
}

// eachFree calls yield with the events of free (ahead.free: chunks of
// freeChunk but the last, each event's key.I its position in them) in the
// order of events.SortByTime over them, but for the repeats of the one
// before (same id and time) when dropRepeats, until yield returns false.
// It returns the number of repeats dropped.
func eachFree(free [][]freeEvent, dropRepeats bool, yield func(*freeEvent) bool) (repeats int) {
	n := 0
	sorted := true
	var prev *freeEvent
	for _, c := range free {
		for i := range c {
			if prev != nil && prev.key.Compare(&c[i].key) >= 0 {
				sorted = false
			}
			prev = &c[i]
		}
		n += len(c)
	}
	// Their order, when they are not sorted: by time and position first
	// (16-byte pairs), then the few runs of one time by the rest of their
	// keys. Sorting the whole keys, compared by time, id and position, was
	// 1% of the Zeek replay, whose labels come file by file, each file's
	// in time order: a merge of those runs (mergeRuns) takes a few
	// comparisons an event.
	var order []freePos
	if !sorted {
		order = make([]freePos, 0, n)
		for _, c := range free {
			for i := range c {
				order = append(order, freePos{c[i].key.T, c[i].key.I})
			}
		}
		order = mergeRuns(order)
		at := func(p freePos) *events.SortKey { return &free[p.i/freeChunk][p.i%freeChunk].key }
		for lo := 0; lo < n; {
			hi := lo + 1
			for hi < n && order[hi].t == order[lo].t {
				hi++
			}
			if hi-lo > 1 {
				slices.SortFunc(order[lo:hi], func(x, y freePos) int { return at(x).Compare(at(y)) })
			}
			lo = hi
		}
	}
	prev = nil
	for j := range n {
		var e *freeEvent
		if sorted {
			e = &free[j/freeChunk][j%freeChunk]
		} else {
			i := order[j].i
			e = &free[i/freeChunk][i%freeChunk]
		}
		repeat := prev != nil && dropRepeats && e.key.ID == prev.key.ID && e.at.Equal(prev.at)
		if prev = e; repeat {
			repeats++
			continue
		}
		if !yield(e) {
			break
		}
	}
	return repeats
}

// wait waits for the run to end.
func (a *ahead) wait() aheadResult {
	<-a.done
	return a.res
}

// stop ends the run, if it has not been ended, and waits for it.
func (a *ahead) stop() {
	if a.stopped {
		<-a.done
		return
	}
	a.stopped = true
	// The run stops at its next batch, with errAbandoned, and its stages
	// skip the windows still queued (its context ends).
	a.aborted.Store(true)
	a.cancel()
	select {
	case a.feed <- nil:
	case <-a.done:
	}
	close(a.feed)
	<-a.done
}

// The keys held are in two sorted parts: a run of the keys that came in
// order (most), appended, and a heap of the others.

func (a *ahead) buffered() int { return len(a.run) - a.runHead + len(a.heap) }

// first is the smallest key held (buffered() > 0).
func (a *ahead) first() *aheadKey {
	if a.runHead == len(a.run) || len(a.heap) > 0 && a.heap[0].less(&a.run[a.runHead]) {
		return &a.heap[0]
	}
	return &a.run[a.runHead]
}

func (a *ahead) push(k aheadKey) {
	if n := len(a.run); n == a.runHead || a.run[n-1].less(&k) {
		if a.runHead > 0 && a.runHead >= n/2 { // reuse the room taken out
			n = copy(a.run, a.run[a.runHead:])
			a.run, a.runHead = a.run[:n], 0
		}
		a.run = append(a.run, k)
		return
	}
	a.pushHeap(k)
}

func (a *ahead) pop() aheadKey {
	if a.runHead == len(a.run) || len(a.heap) > 0 && a.heap[0].less(&a.run[a.runHead]) {
		return a.popHeap()
	}
	k := a.run[a.runHead]
	a.runHead++
	return k
}

func (a *ahead) pushHeap(k aheadKey) {
	h := append(a.heap, k)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].less(&h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	a.heap = h
}

func (a *ahead) popHeap() aheadKey {
	h := a.heap
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].less(&h[l]) {
			m = r
		}
		if !h[m].less(&h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	a.heap = h
	return top
}
