package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	wm "github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/middleware"
)

// Store is what the live pipeline needs from the event log
// (natsstore.Store).
type Store interface {
	events.Store
	// Position is the last position acknowledged under a subscription name.
	Position(ctx context.Context, name string) (uint64, error)
	deadLetterer
}

// InputTypes are the event types the pipeline consumes.
var InputTypes = []events.Type{
	events.TypeConnOpened, events.TypeConnClosed, events.TypeConnBlocked, events.TypeTxObserved, events.TypeAuthFailed,
	events.TypeClockTick, events.TypePolicyChanged, events.TypeInterventionLifted,
	events.TypeTenantCreated, events.TypeTokenAdded, events.TypeDeviceEnrolled, events.TypeDeviceRevoked,
	events.TypeModelDeployed, // an operator's deployment; the pipeline's own are outputs
}

// leaser is a store that leases names to one process at a time
// (natsstore.Store.Lease).
type leaser interface {
	Lease(ctx context.Context, name string, wait time.Duration) (release func(), lost <-chan struct{}, err error)
}

// leaseWait is how long a starting pipeline waits for the lease of its
// name: a pipeline that crashed holds it for natsstore.LeaseTTL (6 s) at
// most. A variable for tests.
var leaseWait = 8 * time.Second

// errLeaseLost ends a pipeline whose lease another process took.
var errLeaseLost = errors.New("pipeline: another process took its lease while it ran (its log unreachable for longer than the lease): stopped, so as not to share its subscription")

// Live is the pipeline running against the log.
type Live struct {
	cfg    Config
	store  Store
	logger *slog.Logger
	proc   *Processor
	reg    prometheus.Registerer

	mu      sync.Mutex
	lastSeq uint64         // last log position processed
	lastOut []events.Event // outputs of lastSeq, re-sent if it comes again
	known   map[events.ID]struct{}
	warmTo  uint64

	activeMu sync.Mutex
	active   map[int]time.Time // partition → wall time of its last event

	processed  prometheus.Counter
	lag        prometheus.Gauge
	outputs    *prometheus.CounterVec
	duplicates prometheus.Counter
	ready      chan struct{}
}

// NewLive prepares the pipeline; Run starts it.
func NewLive(cfg Config, store Store, reg prometheus.Registerer, logger *slog.Logger) (*Live, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	proc, err := NewProcessor(cfg)
	if err != nil {
		return nil, err
	}
	cfg = proc.cfg
	l := &Live{cfg: cfg, store: store, logger: logger, proc: proc, reg: reg, known: map[events.ID]struct{}{}, ready: make(chan struct{}), active: map[int]time.Time{},
		processed: prometheus.NewCounter(prometheus.CounterOpts{Name: "halo_pipeline_events_total", Help: "Events the pipeline processed."}),
		outputs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "halo_pipeline_outputs_total",
			Help: "Events the pipeline wrote, by type."}, []string{"type"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "halo_pipeline_duplicates_total", Help: "Repeated event ids dropped."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "halo_pipeline_lag_seconds",
			Help: "How long the last processed delivery waited in the log (now minus the time the log recorded it)."}),
	}
	if reg != nil {
		reg.MustRegister(l.processed, l.outputs, l.duplicates, l.lag,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "halo_pipeline_late_events_total",
				Help: "Events dropped because their window had already closed on their partition."}, func() float64 { return float64(l.Stats().LateEvents) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "halo_pipeline_held_windows",
				Help: "Closed windows waiting for a slower partition before the detectors see them (in (start, partition) order)."}, func() float64 { return float64(l.Stats().HeldWindows) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "halo_pipeline_model_errors_total",
				Help: "Model trainings and deployments that failed (the last error is logged)."}, func() float64 { return float64(l.Stats().ModelErrors) }))
	}
	return l, nil
}

// Ready is closed once the pipeline has rebuilt its state and consumes live.
func (l *Live) Ready() <-chan struct{} { return l.ready }

// Stats returns the processor's counters.
func (l *Live) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.proc.Stats()
}

// Run rebuilds the pipeline's state from the log (warm-up), then consumes
// live until ctx ends.
func (l *Live) Run(ctx context.Context) (err error) {
	// One pipeline of a name at a time: two would split the durable
	// subscription's deliveries between them, each seeing part of every
	// device's events (partial windows, missed and doubled alerts).
	if ls, ok := l.store.(leaser); ok {
		release, lost, err := ls.Lease(ctx, "pipeline."+l.cfg.Name, leaseWait)
		if errors.Is(err, events.ErrLeaseHeld) {
			return fmt.Errorf("another pipeline named %q runs on this log (%w): one runs per log, and halo up runs one; stop it first", l.cfg.Name, err)
		}
		if err != nil {
			return fmt.Errorf("pipeline %q: taking its lease, so that no other pipeline of its name shares its subscription: %w", l.cfg.Name, err)
		}
		defer release()
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		go func() {
			select {
			case <-lost:
				cancel(errLeaseLost)
			case <-ctx.Done():
			}
		}()
		defer func() {
			if errors.Is(context.Cause(ctx), errLeaseLost) {
				err = errLeaseLost
			}
		}()
	}
	pos, err := l.store.Position(ctx, l.cfg.Name)
	if err != nil {
		return err
	}
	if err := l.warmUp(ctx, pos); err != nil {
		return err
	}
	// Replays, incident timelines and exports of these events take the
	// settings from the log to give the same windows and alerts. Without
	// them they need the flags: worth a warning, not a stopped pipeline.
	if err := l.recordSettings(ctx); err != nil && ctx.Err() == nil {
		l.logger.Warn("pipeline: could not record its settings in the log (a replay of its events will need its --window, --lateness and --detector-option flags)", "error", err)
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(l.logger.With("component", "pipeline"), map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wlog)
	if err != nil {
		return err
	}
	dead, err := middleware.DeadLetters(&dlq{to: l.store, logger: l.logger}, "pipeline")
	if err != nil {
		return err
	}
	metrics := middleware.NewMetrics(l.reg, "halo_pipeline")
	router.AddMiddleware(
		metrics.Middleware,
		middleware.Dedup(1<<20, middleware.EventsFunc{
			Get: EventsOf,
			Set: func(m *message.Message, evs []events.Event) {
				m.SetContext(context.WithValue(m.Context(), eventsKey{}, evs))
			},
		}, func(n int) { l.duplicates.Add(float64(n)) }),
		dead,
		middleware.Retry(l.cfg.Retries, 100*time.Millisecond, wlog),
		wm.Recoverer,
	)
	src := &source{store: l.store, logger: l.logger, opts: events.SubscribeOptions{Name: l.cfg.Name, Types: InputTypes, StartSeq: pos + 1}}
	router.AddHandler("pipeline", "halo", src, "halo", &sink{store: l.store, timeout: 30 * time.Second}, l.handle)
	go func() {
		<-router.Running()
		close(l.ready)
		l.logger.Info("pipeline consuming the log", "from_seq", pos+1)
	}()
	tickCtx, stopTicks := context.WithCancel(ctx)
	defer stopTicks()
	go l.tick(tickCtx)
	return router.Run(ctx)
}

// tick appends a clock.tick for every partition that had events recently
// but none for TickInterval, so its windows close on time. The ticks are
// log events: the processor advances watermarks only when it reads them, so
// a replay closes the same windows at the same points.
func (l *Live) tick(ctx context.Context) {
	t := time.NewTicker(l.cfg.TickInterval)
	defer t.Stop()
	keep := 2 * (l.cfg.WindowSize + l.cfg.Lateness)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var ticks []events.Event
			l.activeMu.Lock()
			for p, last := range l.active {
				idle := now.Sub(last)
				if idle > keep {
					delete(l.active, p)
					continue
				}
				if idle >= l.cfg.TickInterval {
					ticks = append(ticks, events.Event{ID: events.NewID(), Schema: events.SchemaVersion, Time: now.UTC(),
						Payload: &events.ClockTick{Partition: uint32(p), Partitions: uint32(l.cfg.Partitions)}})
				}
			}
			l.activeMu.Unlock()
			if len(ticks) == 0 {
				continue
			}
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := l.store.Append(actx, ticks...); err != nil && ctx.Err() == nil {
				l.logger.Warn("pipeline: recording clock ticks failed", "error", err)
			}
			cancel()
		}
	}
}

// warmUp replays the history before pos without emitting, and remembers the
// outputs already in the log so they are not written twice.
func (l *Live) warmUp(ctx context.Context, pos uint64) error {
	start := time.Now()
	from := start.Add(-l.cfg.Warmup)
	n := 0
	for ev, err := range l.store.Read(ctx, events.Query{From: from}) {
		if err != nil {
			return fmt.Errorf("pipeline warm-up: %w", err)
		}
		if IsPipelineOutput(&ev) {
			l.known[ev.ID] = struct{}{}
			continue
		}
		if ev.Seq <= pos {
			l.proc.Process(&ev)
			l.lastSeq = ev.Seq
			n++
		}
		if ev.Seq > l.warmTo {
			l.warmTo = ev.Seq
		}
	}
	l.lastSeq = pos
	l.logger.Info("pipeline state rebuilt from the log", "events", n, "known_outputs", len(l.known), "resume_seq", pos+1, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// handle processes one delivery. A delivery it has already processed (a
// retry or a redelivery after a failed append) is not processed again: its
// outputs are sent again, and the log de-duplicates them by id.
func (l *Live) handle(msg *message.Message) ([]*message.Message, error) {
	seq, err := strconv.ParseUint(msg.Metadata.Get(MetaSeq), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("message without a log position: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var outs []events.Event
	switch {
	case seq < l.lastSeq:
		return nil, nil
	case seq == l.lastSeq:
		outs = l.lastOut
	default:
		evs, err := EventsOf(msg)
		if err != nil {
			return nil, fmt.Errorf("decoding delivery %d: %w", seq, err)
		}
		now := time.Now()
		if len(evs) > 0 && !evs[len(evs)-1].Recorded.IsZero() {
			l.lag.Set(now.Sub(evs[len(evs)-1].Recorded).Seconds())
		}
		l.activeMu.Lock()
		for i := range evs {
			if isWindowed(&evs[i]) {
				l.active[events.Partition(evs[i].Device, l.cfg.Partitions)] = now
			}
		}
		l.activeMu.Unlock()
		modelErrs := l.proc.stats.ModelErrors
		for i := range evs {
			if IsPipelineOutput(&evs[i]) {
				continue
			}
			outs = append(outs, l.proc.Process(&evs[i])...)
			l.processed.Inc()
		}
		if st := l.proc.stats; st.ModelErrors > modelErrs {
			l.logger.Warn("pipeline: a model training or deployment failed", "errors", st.ModelErrors-modelErrs, "last", st.LastModelErr)
		}
		if seq <= l.warmTo {
			kept := outs[:0]
			for _, o := range outs {
				if _, done := l.known[o.ID]; !done {
					kept = append(kept, o)
				}
			}
			outs = kept
		} else if len(l.known) > 0 {
			l.known = map[events.ID]struct{}{}
		}
		l.lastSeq, l.lastOut = seq, outs
	}
	if len(outs) == 0 {
		return nil, nil
	}
	for _, o := range outs {
		l.outputs.WithLabelValues(string(o.Type())).Inc()
	}
	out, err := NewMessage(outs, seq)
	if err != nil {
		return nil, err
	}
	return []*message.Message{out}, nil
}
