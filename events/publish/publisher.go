package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halo-sec/halo/events"
)

// Publisher buffers events in memory and appends them to an events.Store in
// batches, spooling them to local disk while the store is unreachable. See
// the package documentation for its guarantees.
//
// Emit, Stats, Spooling and SpoolFull are safe for concurrent use; Run is
// called once; Close is safe to call twice and from any goroutine.
type Publisher struct {
	cfg    Config
	store  events.Store
	logger *slog.Logger
	spool  *spool

	// Emit side, guarded by mu (innermost lock). Events are buffered in
	// blocks of MaxBatch: cur is being filled, ready are full; the flusher
	// takes them all and returns blocks it is done with to free.
	mu       sync.Mutex
	cur      []events.Event
	ready    [][]events.Event
	free     [][]events.Event
	buffered int
	closed   bool
	emitted  uint64

	kick    chan struct{} // MaxBatch reached: flush now
	full    atomic.Bool   // Emit refuses with ErrSpoolFull
	refused atomic.Uint64

	// Flush side, guarded by flushMu (outermost lock).
	flushMu    sync.Mutex
	held       []chunk // cut from the buffer, not yet appended nor spooled, in order
	heldEvents atomic.Int64
	unhealthy  bool // last flush failed to spool; log the recovery

	appended, drained, appendErrors atomic.Uint64
	lastFlush, lastFlushEvents      atomic.Int64

	// Lifecycle.
	runMu    sync.Mutex
	running  bool
	stopping bool
	runDone  chan struct{}
	stop     chan struct{}
	hardCtx  context.Context // parent of every Append; cancelled when Close runs out of time
	hardStop context.CancelFunc

	closeOnce sync.Once
	closeErr  error
}

// Stats counts what a Publisher has done since New.
type Stats struct {
	Emitted uint64 // events accepted by Emit
	Refused uint64 // Emit calls refused with ErrSpoolFull or ErrBufferFull

	Appended     uint64 // events acknowledged by the log, directly or from the spool
	Drained      uint64 // of Appended, events appended from the spool
	AppendErrors uint64 // appends that failed or timed out

	SpooledEvents  uint64 // events written to the spool
	SpooledBatches uint64 // spool files written
	SpooledBytes   uint64 // bytes written to the spool

	SpoolFiles int   // spool files waiting to be drained now
	SpoolBytes int64 // their size

	Corrupt  uint64 // spool files that did not decode, moved to SpoolDir/corrupt/
	Rejected uint64 // events the log refused as invalid, saved in SpoolDir/rejected/

	Buffered        int           // events in memory now, neither appended nor spooled
	LastFlush       time.Duration // how long the last flush took (append or spool write)
	LastFlushEvents int           // events in the last flush

	Spooling  bool // new batches go to the spool until it is drained
	SpoolFull bool // Emit refuses with ErrSpoolFull
}

// New returns a publisher of events to store, spooling to cfg.SpoolDir. It
// locks the spool directory (ErrSpoolInUse if another publisher holds it)
// and takes stock of spool files left by an earlier run, which Run drains
// before any new event. logger may be nil.
func New(cfg Config, store events.Store, logger *slog.Logger) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, fmt.Errorf("%w: no event store", ErrConfig)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sp, err := openSpool(cfg.SpoolDir, cfg.SpoolMaxBytes, cfg.MaxBatch, logger)
	if err != nil {
		return nil, err
	}
	p := &Publisher{
		cfg:    cfg,
		store:  store,
		logger: logger,
		spool:  sp,
		cur:    make([]events.Event, 0, cfg.MaxBatch),
		free:   [][]events.Event{make([]events.Event, 0, cfg.MaxBatch)},
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	p.hardCtx, p.hardStop = context.WithCancel(context.Background())
	return p, nil
}

// Emit validates ev and buffers it; Run appends it within FlushInterval. It
// never waits for the network. It fails with the validation error (wrapping
// events.ErrInvalidEvent, ErrInvalidTenant or ErrInvalidDevice), with
// ErrSpoolFull while the log is unreachable and the spool full, with
// ErrBufferFull when MaxBuffered events already wait, and with ErrClosed
// after Close. Callers refuse new work on ErrSpoolFull and ErrBufferFull.
func (p *Publisher) Emit(ev events.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	if ev.Time.UnixNano() > time.Now().UnixNano()+int64(p.cfg.MaxFutureSkew) {
		return fmt.Errorf("%w %s: event time %s is more than %v ahead of this clock",
			events.ErrInvalidEvent, ev.ID, ev.Time.Format(time.RFC3339Nano), p.cfg.MaxFutureSkew)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.full.Load() {
		p.mu.Unlock()
		p.refused.Add(1)
		return ErrSpoolFull
	}
	if p.buffered >= p.cfg.MaxBuffered {
		p.mu.Unlock()
		p.refused.Add(1)
		return ErrBufferFull
	}
	if len(p.cur) == cap(p.cur) && cap(p.cur) > 0 {
		p.ready = append(p.ready, p.cur)
		p.cur = p.newBlock()
	}
	p.cur = append(p.cur, ev)
	p.buffered++
	p.emitted++
	kick := len(p.cur) == p.cfg.MaxBatch
	p.mu.Unlock()
	if kick {
		select {
		case p.kick <- struct{}{}:
		default:
		}
		// Once per block: let the flusher run now rather than at the next
		// preemption, up to 10 ms away when every CPU is busy emitting
		// (long enough to fill MaxBuffered in a tight loop).
		runtime.Gosched()
	}
	return nil
}

// newBlock returns an empty buffer block, recycled when possible. p.mu is
// held.
func (p *Publisher) newBlock() []events.Event {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return b
	}
	return make([]events.Event, 0, p.cfg.MaxBatch)
}

// Run flushes buffered events every FlushInterval (sooner when MaxBatch
// are buffered) and drains the spool every RetryInterval, starting with the
// files an earlier run left. It returns nil when ctx ends or Close is
// called, after the append in progress, if any, has finished (at most
// AppendTimeout); events still buffered then are flushed by Close. It
// returns ErrClosed after Close, and an error when called twice.
func (p *Publisher) Run(ctx context.Context) error {
	p.runMu.Lock()
	if p.stopping {
		p.runMu.Unlock()
		return ErrClosed
	}
	if p.running {
		p.runMu.Unlock()
		return errors.New("publish: Run called twice")
	}
	p.running = true
	p.runDone = make(chan struct{})
	p.runMu.Unlock()
	defer close(p.runDone)

	var wg sync.WaitGroup
	wg.Go(func() { p.drainLoop(ctx) })
	p.flushLoop(ctx)
	wg.Wait()
	return nil
}

// Close stops accepting events (Emit returns ErrClosed), stops Run, and
// flushes what is buffered: to the log, or to the spool when the log is
// unreachable, is being drained, or does not answer before ctx ends (the
// spool may then exceed SpoolMaxBytes rather than lose events). It returns
// nil when every event Emit accepted is in the log or the spool; an error
// only when the log and the spool both failed, naming how many events are
// lost. It does not close the store, and it does not wait for the spool to
// drain: the next Publisher on SpoolDir does that. Safe to call twice.
func (p *Publisher) Close(ctx context.Context) error {
	p.closeOnce.Do(func() { p.closeErr = p.close(ctx) })
	return p.closeErr
}

func (p *Publisher) close(ctx context.Context) error {
	defer p.spool.close()
	defer p.hardStop()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()

	p.runMu.Lock()
	p.stopping = true
	close(p.stop)
	running, done := p.running, p.runDone
	p.runMu.Unlock()
	if running {
		select {
		case <-done:
		case <-ctx.Done():
			// Abort the append in progress: its batch goes to the spool.
			p.hardStop()
			<-done
		}
	}
	if err := p.flush(ctx, true); err != nil {
		return err
	}
	st := p.Stats()
	p.logger.Info("event publisher closed", "appended", st.Appended, "spooled_events", st.SpooledEvents,
		"spool_files", st.SpoolFiles, "corrupt_spool_files", st.Corrupt, "rejected", st.Rejected)
	return nil
}

// Stats returns the publisher's counters and state.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	emitted, buffered := p.emitted, p.buffered
	p.mu.Unlock()
	s := p.spool
	return Stats{
		Emitted:         emitted,
		Refused:         p.refused.Load(),
		Appended:        p.appended.Load(),
		Drained:         p.drained.Load(),
		AppendErrors:    p.appendErrors.Load(),
		SpooledEvents:   s.spooledEvents.Load(),
		SpooledBatches:  s.spooledFiles.Load(),
		SpooledBytes:    s.spooledBytes.Load(),
		SpoolFiles:      int(s.files.Load()),
		SpoolBytes:      s.bytes.Load(),
		Corrupt:         s.corrupt.Load(),
		Rejected:        s.rejected.Load(),
		Buffered:        buffered + int(p.heldEvents.Load()),
		LastFlush:       time.Duration(p.lastFlush.Load()),
		LastFlushEvents: int(p.lastFlushEvents.Load()),
		Spooling:        s.spooling.Load(),
		SpoolFull:       p.full.Load(),
	}
}

// Spooling reports whether new batches go to the spool: the log was
// unreachable and the spool is not yet drained.
func (p *Publisher) Spooling() bool { return p.spool.spooling.Load() }

// SpoolFull reports whether Emit refuses events with ErrSpoolFull.
func (p *Publisher) SpoolFull() bool { return p.full.Load() }
