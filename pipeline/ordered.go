package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/pipeline/window"
)

// stageDepth is how many windows (and jobs) may wait between the stages of
// ProcessAll, and stageRows how many events the windows closed but not yet
// emitted may hold (a window larger than that goes alone). While a cohort
// model trains (several milliseconds), the other stages go on with the
// windows after it: with room for 64 windows they soon had nothing left
// to do (BenchmarkReplay over the Zeek logs, 16 events a window: 200 ms
// with 64, 165 with 1024).
const (
	stageDepth = 1024
	stageRows  = 1 << 18
)

// outChunk is about how many outputs ProcessAll gathers in one slice (a
// variable for the tests).
var outChunk = 4096

// ProcessAll processes evs in order, skipping those skip reports (when not
// nil), then closes the last windows (Flush), and returns every output: the
// outputs Process and Flush would return, concatenated, in the same order
// (TestProcessAllMatchesProcess). It stops with ctx's error when ctx ends
// (the windows closed but not yet through every stage are then skipped by
// the stages that have not reached them: a processor stopped so misses
// them) and calls progress, when not nil, with the number of events consumed so
// far every 4096 events, from the calling goroutine. A detector that panics
// gives an error instead (after the other windows are done).
//
// It uses more than one core: the calling goroutine runs the event
// detectors and assembles the windows; one goroutine runs the window
// detectors on each closed window, another computes its features, a third
// runs the vector detectors on them; a fourth emits their findings in the
// order Process would. Each stage handles windows one at a time, in order, and keeps to its own
// state, so the outputs do not depend on the scheduling. An event that
// changes what the stages decide by (a policy, the registry, an operator's
// model) waits for every stage to finish what came before it.
//
// The observer (ObserveWindows) is called from the vector detectors'
// stage's goroutine, in window order, before they see each window (it
// takes their scores). The processor must not be used concurrently
// meanwhile; afterwards it can go on with Process.
func (p *Processor) ProcessAll(ctx context.Context, evs []events.Event, skip func(*events.Event) bool, progress func(done int)) ([]events.Event, error) {
	return p.ProcessSeq(ctx, events.Values(evs), skip, progress)
}

// ProcessSeq is ProcessAll over a sequence of events (a sorted merge read
// from disk, say, for a range larger than memory); it stops at the first
// error of seq.
func (p *Processor) ProcessSeq(ctx context.Context, seq iter.Seq2[events.Event, error], skip func(*events.Event) bool, progress func(done int)) ([]events.Event, error) {
	var chunks [][]events.Event
	n := 0
	if err := p.ProcessSeqTo(ctx, seq, skip, progress, func(c []events.Event) error {
		chunks = append(chunks, c)
		n += len(c)
		return nil
	}); err != nil {
		return nil, err
	}
	// Copied once into one slice, not regrown.
	all := make([]events.Event, 0, n)
	for _, c := range chunks {
		all = append(all, c...)
	}
	return all, nil
}

// ProcessSeqTo is ProcessSeq handing the outputs to sink as they are made,
// in order, in chunks of about 4096 events (the last one shorter), instead
// of returning them all: a replay then holds what it keeps of them, not
// every output of the range. sink is called from one goroutine at a time
// and owns each chunk; the first error it returns stops the processing
// and is returned.
func (p *Processor) ProcessSeqTo(ctx context.Context, seq iter.Seq2[events.Event, error], skip func(*events.Event) bool, progress func(done int), sink func([]events.Event) error) error {
	// The events gathered in batches of seqRun (one copy of each).
	batches := func(yield func([]events.Event, error) bool) {
		b := make([]events.Event, 0, seqRun)
		for e, err := range seq {
			if err != nil {
				if len(b) > 0 && !yield(b, nil) {
					return
				}
				yield(nil, err)
				return
			}
			if b = append(b, e); len(b) == cap(b) {
				if !yield(b, nil) {
					return
				}
				clear(b) // nothing keeps a pointer to them past their turn
				b = b[:0]
			}
		}
		if len(b) > 0 {
			yield(b, nil)
		}
	}
	return p.ProcessBatchesTo(ctx, batches, skip, progress, sink)
}

// ProcessBatchesTo is ProcessSeqTo over the events of batches, in order,
// each batch taken where it is: a caller that gathers the events in
// batches anyway (a replay during the read) saves copying each into the
// sequence and again into the assembler's runs. A batch is the caller's
// again once yield returns (nothing keeps a pointer into it), unchanged.
func (p *Processor) ProcessBatchesTo(ctx context.Context, batches iter.Seq2[[]events.Event, error], skip func(*events.Event) bool, progress func(done int), sink func([]events.Event) error) error {
	s := p.startStages(ctx)
	s.sink = sink
	stopped := false
	defer func() {
		if !stopped {
			s.stop() // this goroutine panicked: let the stages end
		}
	}()
	var (
		err error
		n   int // events taken
		// Traffic events are handed in runs to the assembler's AddBatch,
		// which overlaps their cache misses. Each event's detectors run
		// right after its Add, and the windows it closed go to the stages
		// after its findings, as in the order of Process: the event
		// detectors do not read the assembler, nor it them.
		run  []events.Event
		each = func(i int, _ bool) {
			s.eventFindings(p, &run[i])
			s.windows(p.windows.Closed())
		}
		add = func(r []events.Event) {
			if len(r) > 0 {
				run = r
				p.windows.AddBatch(run, each)
				run = nil
			}
		}
	)
	// batch takes b's events in order, those from lo on in a run of
	// traffic not yet added.
	batch := func(b []events.Event) error {
		lo := 0
		for j := range b {
			if n%4096 == 0 {
				if err := cmp.Or(ctx.Err(), s.sinkError()); err != nil {
					add(b[lo:j])
					return err
				}
				if progress != nil && n > 0 {
					progress(n)
				}
			}
			n++
			ev := &b[j]
			if skip != nil && skip(ev) {
				add(b[lo:j])
				lo = j + 1
				continue
			}
			p.count(ev)
			if isWindowed(ev) {
				if j+1-lo == seqRun {
					add(b[lo : j+1])
					lo = j + 1
				}
				continue
			}
			add(b[lo:j])
			lo = j + 1
			if isStateEvent(ev) {
				s.barrier()
				p.applyState(ev)
				continue
			}
			s.eventFindings(p, ev)
			p.window(ev)
			s.windows(p.windows.Closed())
		}
		add(b[lo:])
		return nil
	}
	for b, berr := range batches {
		if berr != nil {
			err = berr
			break
		}
		if err = batch(b); err != nil {
			break
		}
	}
	if err == nil {
		p.windows.Flush()
		s.windows(p.windows.Closed())
	}
	serr := s.stop()
	stopped = true
	return cmp.Or(err, serr)
}

// seqRun is the most traffic events ProcessSeqTo hands the assembler at
// once (AddBatch; a variable for the tests).
var seqRun = 256

// eventFindings runs the event detectors on ev and gathers copies of
// their findings (the detectors reuse their memory: EventDetector) for
// the emitting stage, which takes them with the next job: most events
// find nothing, and the imported logs' inbound connections one each,
// where a job per finding cost its sending and a wake-up of the stage.
func (s *stages) eventFindings(p *Processor, ev *events.Event) {
	for _, d := range p.eventDets {
		fs := d.Event(ev)
		for i := range fs {
			s.addEventFinding(&fs[i])
		}
	}
}

// evFinding is an event detector's finding, copied, with the memory of
// its evidence (the event detectors' have one or two ids).
type evFinding struct {
	f  detect.Finding
	ev [2]events.ID
}

// evChunk is how many findings a chunk of stages.evFs holds.
const evChunk = 256

// evFreeChunks is how many chunks of findings the emitting stage keeps for
// reuse: the read runs ahead of the windows' stages, with some twenty
// chunks of event findings (80 KB each) waiting in the jobs in the Zeek
// replay. With room for four, the others went to the collector as the
// stage caught up, and new ones were made: 2.6 MB a replay, 1.7 with 32.
const evFreeChunks = 32

// addEventFinding copies f into s.evFs, sending the chunk once full.
func (s *stages) addEventFinding(f *detect.Finding) {
	if s.evFs == nil {
		select {
		case c := <-s.evFree:
			s.evFs = c
		default:
			s.evFs = make([]evFinding, 0, evChunk)
		}
	}
	// Copied in place (the chunk's memory, zero or cleared by the stage):
	// an evFinding built on the stack and appended was copied twice.
	s.evFs = s.evFs[:len(s.evFs)+1]
	e := &s.evFs[len(s.evFs)-1]
	e.f = *f
	if n := len(f.Evidence); n > len(e.ev) {
		e.f.Evidence = slices.Clone(f.Evidence)
	} else if n > 0 {
		copy(e.ev[:], f.Evidence)
		e.f.Evidence = e.ev[:n:n]
	}
	if len(s.evFs) == cap(s.evFs) {
		s.jobs <- s.takeEventFindings(stageJob{})
	}
}

// takeEventFindings returns j with the event findings gathered and not yet
// sent, for the emitting stage to emit before the rest of j. The chunk is
// appended to after them until full, then goes with its last findings,
// for the stage to return to s.evFree once done with it.
func (s *stages) takeEventFindings(j stageJob) stageJob {
	j.evFs = s.evFs[s.evSent:len(s.evFs):len(s.evFs)]
	s.evSent = len(s.evFs)
	if len(s.evFs) == cap(s.evFs) {
		j.evChunk = s.evFs
		s.evFs, s.evSent = nil, 0
	}
	return j
}

// stageJob is one step of the emitting stage, in order: findings of the
// event detectors, then (when w is set) a closed window whose results the
// other stages deliver in window order, or a barrier to close.
type stageJob struct {
	evFs    []evFinding
	evChunk []evFinding // the chunk of evFs, when they are its last: to reuse
	w       *window.Window
	rows    int // w's, in the row budget
	barrier chan struct{}
}

type stages struct {
	rows    rowBudget
	jobs    chan stageJob
	toWin   chan *window.Window
	toVec   chan *window.Window
	fromWin chan [][]detect.Finding
	fromVec chan vectorResult
	wg      sync.WaitGroup
	// The event detectors' findings (eventFindings), in a chunk, from
	// evSent on not yet sent; chunks the emitting stage is done with.
	evFs   []evFinding
	evSent int
	evFree chan []evFinding
	// The outputs, handed to the sink in chunks of about outChunk events
	// (sinkErr: its first error, after which the outputs are dropped).
	out     []events.Event
	sink    func([]events.Event) error
	sinkMu  sync.Mutex
	sinkErr error
	// panics of the stages, reported once they have all stopped.
	mu     sync.Mutex
	panics []any
}

// startStages starts the stages; once ctx ends they skip the work of the
// windows still coming (the processing ends with ctx's error: nothing
// waits for those windows' findings).
func (p *Processor) startStages(ctx context.Context) *stages {
	s := &stages{
		jobs:    make(chan stageJob, stageDepth),
		toWin:   make(chan *window.Window, stageDepth),
		toVec:   make(chan *window.Window, stageDepth),
		fromWin: make(chan [][]detect.Finding, stageDepth),
		fromVec: make(chan vectorResult, stageDepth),
		evFree:  make(chan []evFinding, evFreeChunks),
	}
	s.rows.cond.L = &s.rows.mu
	vectors := p.vectors()
	// A stage that panics on one window goes on with the next ones (with
	// nothing found in that one), so that no stage waits for ever; stop
	// reports the panic once all have stopped.
	s.wg.Go(func() {
		defer close(s.fromWin)
		for w := range s.toWin {
			var fs [][]detect.Finding
			if ctx.Err() == nil {
				s.guard(func() { fs = p.windowFindings(w) })
			}
			s.fromWin <- fs
		}
	})
	// The features and the vector detectors are two stages: a model's
	// training (the anomaly detector's) overlaps the features of the
	// windows after it.
	toDet := make(chan windowVectors, stageDepth)
	s.wg.Go(func() {
		defer close(toDet)
		for w := range s.toVec {
			var vecs []features.Vector
			if vectors && ctx.Err() == nil {
				s.guard(func() { vecs = p.computeVectors(w) })
			}
			toDet <- windowVectors{w, vecs}
		}
	})
	s.wg.Go(func() {
		defer close(s.fromVec)
		for wv := range toDet {
			var r vectorResult
			if vectors && ctx.Err() == nil {
				s.guard(func() { r = p.detectVectors(wv.w, wv.vecs) })
			}
			s.fromVec <- r
		}
	})
	s.wg.Go(func() {
		for j := range s.jobs {
			s.guard(func() {
				for i := range j.evFs {
					s.emit(p, &j.evFs[i].f)
				}
			})
			clear(j.evFs)
			if c := j.evChunk; c != nil {
				select {
				case s.evFree <- c[:0]:
				default:
				}
			}
			if j.w != nil {
				winFs, vr := <-s.fromWin, <-s.fromVec
				s.guard(func() { s.finishWindow(p, j.w, winFs, vr) })
				s.rows.release(j.rows)
			}
			if len(s.out) >= outChunk {
				s.flush()
			}
			if j.barrier != nil {
				close(j.barrier)
			}
		}
	})
	return s
}

// emit appends the outputs of a finding (Processor.emit) to s.out, first
// handing the outputs gathered to the sink should they not fit: appending
// past the chunk's capacity copied it whole (a window with many findings;
// 1.4% of the Zeek replay's allocation). The first chunk is made here too:
// grown from nil, it was handed over at its first output, a chunk of one,
// and a whole new chunk made for the rest (with the last's, 1.2 MB of the
// Zeek replay's allocation).
func (s *stages) emit(p *Processor, f *detect.Finding) {
	if len(s.out)+maxFindingOutputs > cap(s.out) {
		if len(s.out) > 0 {
			s.flush()
		} else {
			s.out = make([]events.Event, 0, outChunk+outChunk/4)
		}
	}
	s.out = p.emit(s.out, f)
}

// maxFindingOutputs is the most outputs a finding makes, but for a policy
// rule that lists an action twice: its alert event and an intervention
// per kind (more is still right, only a copy).
const maxFindingOutputs = 4

// finishWindow is Processor.finishWindow appending to s.out, through emit.
func (s *stages) finishWindow(p *Processor, w *window.Window, winFs [][]detect.Finding, vr vectorResult) {
	p.stats.Windows++
	for _, fs := range winFs {
		for i := range fs {
			s.emit(p, &fs[i])
		}
	}
	for _, fs := range vr.findings {
		for i := range fs {
			s.emit(p, &fs[i])
		}
	}
	s.out = append(s.out, vr.deployed...)
	p.endWindow(w, vr)
}

// windowVectors is a closed window with its feature vectors.
type windowVectors struct {
	w    *window.Window
	vecs []features.Vector
}

func (s *stages) guard(f func()) {
	defer func() {
		if r := recover(); r != nil {
			s.mu.Lock()
			s.panics = append(s.panics, r)
			s.mu.Unlock()
		}
	}()
	f()
}

// windows hands closed windows to the stages, the event findings
// gathered before them with the first.
func (s *stages) windows(ws []*window.Window) {
	for _, w := range ws {
		n := 0
		if w.Batch != nil {
			n = int(w.Batch.NumRows())
		}
		s.rows.acquire(n)
		s.toWin <- w
		s.toVec <- w
		s.jobs <- s.takeEventFindings(stageJob{w: w, rows: n})
	}
}

// rowBudget bounds the events held by the windows in flight between the
// stages (stageRows).
type rowBudget struct {
	mu   sync.Mutex
	cond sync.Cond
	used int
}

// acquire waits until n more rows fit, or none are held.
func (b *rowBudget) acquire(n int) {
	b.mu.Lock()
	for b.used > 0 && b.used+n > stageRows {
		b.cond.Wait()
	}
	b.used += n
	b.mu.Unlock()
}

func (b *rowBudget) release(n int) {
	b.mu.Lock()
	b.used -= n
	b.cond.Broadcast()
	b.mu.Unlock()
}

// barrier waits until every stage has finished with everything sent so far.
func (s *stages) barrier() {
	done := make(chan struct{})
	s.jobs <- s.takeEventFindings(stageJob{barrier: done})
	<-done
}

// flush hands the outputs gathered so far to the sink, with a new chunk
// for the next.
func (s *stages) flush() {
	out := s.out
	s.out = make([]events.Event, 0, outChunk+outChunk/4)
	s.hand(out)
}

// hand gives out to the sink, unless it failed before.
func (s *stages) hand(out []events.Event) {
	if s.sinkError() != nil {
		return
	}
	if err := s.sink(out); err != nil {
		s.sinkMu.Lock()
		s.sinkErr = err
		s.sinkMu.Unlock()
	}
}

func (s *stages) sinkError() error {
	s.sinkMu.Lock()
	defer s.sinkMu.Unlock()
	return s.sinkErr
}

// stop lets the stages finish and hands the last outputs to the sink; it
// returns the first panic of a stage, or the sink's first error.
func (s *stages) stop() error {
	if len(s.evFs) > s.evSent {
		s.jobs <- s.takeEventFindings(stageJob{})
	}
	close(s.toWin)
	close(s.toVec)
	close(s.jobs)
	s.wg.Wait()
	if len(s.panics) > 0 {
		return fmt.Errorf("pipeline: a detector panicked: %v", s.panics[0])
	}
	if len(s.out) > 0 { // the last: no new chunk after it (650 KB)
		out := s.out
		s.out = nil
		s.hand(out)
	}
	return s.sinkError()
}
