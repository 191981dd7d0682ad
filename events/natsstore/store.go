package natsstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/fsutil"
)

// metaPartitions is the stream metadata key holding P.
const metaPartitions = "halo.partitions"

// Stats counts what a Store has done and skipped since it was opened.
type Stats struct {
	Appended   uint64 // events acknowledged by the log
	Messages   uint64 // log messages published (one carries one or more events)
	Corrupt    uint64 // log messages that did not decode, skipped by readers
	Unknown    uint64 // events of types this build does not know, skipped
	Duplicates uint64 // repeated event ids dropped by readers
	ReadStalls uint64 // reads failed because pending events never came
	// Restarts of the embedded server after its storage failed a write
	// (heal).
	StorageRestarts uint64
}

// Store is events.Store on NATS JetStream.
type Store struct {
	cfg        Config
	logger     *slog.Logger
	emb        *embedded
	nc         *nats.Conn
	js         jetstream.JetStream
	stream     jetstream.Stream
	partitions int
	url        string

	appended, messages, corrupt, unknown, duplicates, readStalls, restarts atomic.Uint64

	closed    atomic.Bool
	handover  atomic.Pointer[error] // why the store closed, once handed over (Config.Yield)
	embMu     sync.Mutex            // guards emb against heal's restarts
	healStop  chan struct{}         // closed by Close; nil when heal does not run
	healEvery time.Duration         // healInterval when opened
	healDone  chan struct{}
	dlqReady  atomic.Bool
	closeOnce sync.Once
	bufs      sync.Pool
}

var _ events.Store = (*Store)(nil)

// Open connects to (or starts) the event log described by cfg and makes sure
// its stream exists. logger may be nil.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, logger: logger}
	if err := s.connect(ctx); err != nil {
		s.Close()
		return nil, err
	}
	js, err := jetstream.New(s.nc,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxPending),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("opening JetStream: %w", err)
	}
	s.js = js
	if err := s.ensureStream(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.emb != nil && cfg.Mode == ModeAuto && cfg.Yield {
		if err := s.listenForHandover(); err != nil {
			s.Close()
			return nil, err
		}
	}
	if s.emb != nil && cfg.Mode == ModeServe {
		s.healStop, s.healDone, s.healEvery = make(chan struct{}), make(chan struct{}), healInterval
		go func() {
			defer close(s.healDone)
			s.heal(s.healStop)
		}()
	}
	return s, nil
}

// closedErr is the error of an operation on the closed store: ErrHandedOver
// (wrapping events.ErrClosed) when it closed to hand its data directory
// over, else events.ErrClosed.
func (s *Store) closedErr() error {
	if err := s.handover.Load(); err != nil {
		return *err
	}
	return events.ErrClosed
}

// listenForHandover makes the store, whose process started the data
// directory's server for itself, hand the directory over when a ModeServe
// process asks for it (takeOver): it closes at once, what it was doing
// fails with ErrHandedOver, and the server stops, which releases the
// directory.
func (s *Store) listenForHandover() error {
	_, err := s.nc.Subscribe(handoverSubject, func(m *nats.Msg) {
		taker := string(m.Data)
		if taker == "" {
			taker = "another process"
		}
		err := fmt.Errorf("%w (%s asked for %s): run it again, it then goes through that process's server: %w",
			ErrHandedOver, taker, s.cfg.DataDir, events.ErrClosed)
		if !s.handover.CompareAndSwap(nil, &err) {
			return
		}
		s.closed.Store(true)
		s.logger.Warn("handing the event log over", "to", taker, "data_dir", s.cfg.DataDir)
		if err := m.Respond(nil); err == nil {
			s.nc.Flush()
		}
		go s.Close()
	})
	if err != nil {
		return fmt.Errorf("listening for halo up: %w", err)
	}
	return s.nc.Flush()
}

// takeOver is ModeServe's answer to a data directory held by another
// process. When that process runs the server for itself only (it yields:
// a command run while halo up was down), it asks it to hand the directory
// over and starts the embedded server once it has; when the holder serves
// others (another halo up, a role run alone), ErrDataDirInUse naming it.
// A holder that has not yet said who it is (no server.json: it is
// starting) is waited for.
func (s *Store) takeOver(ctx context.Context) (*embedded, error) {
	cfg := &s.cfg
	start := time.Now()
	deadline := start.Add(cfg.ConnectTimeout + 30*time.Second)
	var asked serverInfo
	var lastErr error
	for {
		// A command started meanwhile may have taken the directory the
		// one asked let go of: each new holder is asked in turn. One that
		// yields is first given handoverGrace to end by itself: most
		// commands take less, and one asked fails what it was doing.
		if si, ok := readServerInfo(cfg.DataDir); ok && si.URL != asked.URL && (!si.Yields || time.Since(start) >= handoverGrace) {
			if !si.Yields {
				return nil, fmt.Errorf("%w: %s: %s serves it", ErrDataDirInUse, cfg.DataDir, si.who())
			}
			if lastErr = s.askHandover(si); lastErr == nil {
				s.logger.Warn("taking the event log over from a command that ran its own server", "from", si.who(), "data_dir", cfg.DataDir)
				asked = si
			}
		}
		emb, err := startEmbedded(cfg, s.logger)
		if !errors.Is(err, ErrDataDirInUse) {
			return emb, err
		}
		if time.Now().After(deadline) {
			switch {
			case asked.PID != 0:
				return nil, fmt.Errorf("%w: %s: %s agreed to hand it over but still holds it", ErrDataDirInUse, cfg.DataDir, asked.who())
			case lastErr != nil:
				return nil, fmt.Errorf("%w: %s: its holder did not hand it over: %v", ErrDataDirInUse, cfg.DataDir, lastErr)
			}
			return nil, fmt.Errorf("%w: %s: held by a process that does not say which (no %s)", ErrDataDirInUse, cfg.DataDir, serverFileName)
		}
		if err := waitCtx(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// joinAdvertised connects to the server that the data directory's
// server.json advertises, once it advertises one that want accepts,
// waiting up to wait; then it returns timedOut of the last connection
// error (nil when none was advertised).
func (s *Store) joinAdvertised(ctx context.Context, wait time.Duration, want func(serverInfo) bool, timedOut func(last error) error) error {
	deadline := time.Now().Add(wait)
	var last error
	for {
		if si, ok := readServerInfo(s.cfg.DataDir); ok && want(si) {
			o, err := s.seedOption()
			if err != nil {
				return err
			}
			if last = s.dial(si.URL, o); last == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return timedOut(last)
		}
		if err := waitCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// handoverGrace is how long takeOver waits for a yielding holder to end
// before asking it for the data directory (a variable for the tests).
var handoverGrace = 3 * time.Second

// askHandover asks the process of si, which yields, for the data
// directory.
func (s *Store) askHandover(si serverInfo) error {
	o, err := s.seedOption()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(si.URL, o, nats.Name("halo-handover"), nats.Timeout(s.cfg.ConnectTimeout), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("connecting to %s's server: %w", si.who(), err)
	}
	defer nc.Close()
	holder := s.cfg.Holder
	if holder == "" {
		holder = "halo up"
	}
	if _, err := nc.Request(handoverSubject, fmt.Appendf(nil, "%s (pid %d)", holder, os.Getpid()), 5*time.Second); err != nil {
		return fmt.Errorf("asking %s: %w", si.who(), err)
	}
	return nil
}

// seedOption authenticates to the data directory's embedded server.
func (s *Store) seedOption() (nats.Option, error) {
	path := SeedFile(s.cfg.DataDir)
	if err := fsutil.CheckPrivate(path); err != nil {
		return nil, fmt.Errorf("event log credentials: %w", err)
	}
	return nats.NkeyOptionFromSeed(path)
}

func (s *Store) connect(ctx context.Context) error {
	cfg := &s.cfg
	if cfg.URL != "" {
		var opts []nats.Option
		if cfg.CredsFile != "" {
			o, err := credsOption(cfg.CredsFile)
			if err != nil {
				return err
			}
			opts = append(opts, o)
		}
		return s.dial(cfg.URL, opts...)
	}
	if cfg.Mode == ModeAuto {
		if si, ok := readServerInfo(cfg.DataDir); ok {
			o, err := s.seedOption()
			if err == nil {
				if err = s.dial(si.URL, o); err == nil {
					return nil
				}
			}
			s.logger.Debug("advertised event log did not answer; starting one", "url", si.URL, "error", err)
		}
	}
	if cfg.Mode == ModeAuto && cfg.AwaitServer {
		// Only the process that serves the directory (halo up): this
		// one would otherwise take the directory back before it does.
		return s.joinAdvertised(ctx, cfg.ConnectTimeout+30*time.Second, func(si serverInfo) bool { return si.Serving }, func(last error) error {
			if last == nil {
				last = errors.New("none said so in " + serverFileName)
			}
			return fmt.Errorf("%w: waiting for the process that serves %s: %w", ErrNoServer, cfg.DataDir, last)
		})
	}
	if cfg.MustExist && !hasEmbeddedStore(cfg.DataDir) {
		return fmt.Errorf("%w in %s: it holds no %s (check --data; halo up --data DIR creates one)",
			ErrNoLog, cfg.DataDir, filepath.Join(natsDirName, storeDirName))
	}
	emb, err := startEmbedded(cfg, s.logger)
	if errors.Is(err, ErrDataDirInUse) && cfg.Mode == ModeServe {
		emb, err = s.takeOver(ctx)
	}
	if errors.Is(err, ErrDataDirInUse) && cfg.Mode == ModeAuto {
		// Another process holds the directory: it is starting or serving.
		return s.joinAdvertised(ctx, cfg.ConnectTimeout+10*time.Second, func(serverInfo) bool { return true }, func(last error) error {
			if last == nil {
				last = err
			}
			return fmt.Errorf("%w: %s is held by another process (pid in %s) that does not answer: %v",
				ErrNoServer, cfg.DataDir, SeedFile(cfg.DataDir), last)
		})
	}
	if err != nil {
		return err
	}
	s.emb = emb
	o, err := s.seedOption()
	if err != nil {
		return err
	}
	return s.dial(emb.url, o)
}

func credsOption(path string) (nats.Option, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading NATS credentials: %w", err)
	}
	if strings.Contains(string(b), "BEGIN NATS USER JWT") {
		return nats.UserCredentials(path), nil
	}
	return nats.NkeyOptionFromSeed(path)
}

// unreachableNote is how often a client that lost the log says it is
// still retrying (a variable for the tests).
var unreachableNote = 30 * time.Second

func (s *Store) dial(url string, opts ...nats.Option) error {
	logger := s.logger
	var lost, said atomic.Int64 // when the connection was lost, and when that was last said (Unix ns)
	opts = append(opts,
		nats.Name("halo"),
		nats.Timeout(s.cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			lost.Store(time.Now().UnixNano())
			said.Store(time.Now().UnixNano())
			if err != nil && !s.closed.Load() {
				logger.Warn("event log connection lost", "error", err)
			}
		}),
		// Reconnection is tried every 250 ms, forever: said every 30 s,
		// so that a client waiting on a log that is gone (halo up stopped)
		// does not wait in silence.
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			now := time.Now().UnixNano()
			if last := said.Load(); now-last >= int64(unreachableNote) && said.CompareAndSwap(last, now) && !s.closed.Load() {
				logger.Warn("event log still unreachable; retrying", "for", time.Duration(now-lost.Load()).Round(time.Second), "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			u := nc.ConnectedUrlRedacted()
			if si, ok := readServerInfo(s.cfg.DataDir); ok && s.cfg.URL == "" {
				u = si.URL // where advertisedDialer went
			}
			logger.Info("event log connection restored", "url", u)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			logger.Warn("event log error", "error", err)
		}),
	)
	if s.cfg.URL == "" {
		// The data directory's server: after a restart (halo up stopped
		// and started again) it listens on another port, so reconnects
		// go wherever server.json says it now is. Without this a client
		// (halo events tail, a role run alone) retried the old port
		// forever and heard nothing more.
		opts = append(opts, nats.SetCustomDialer(advertisedDialer{dir: s.cfg.DataDir, timeout: s.cfg.ConnectTimeout}))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("%w: connecting to %s: %w", ErrNoServer, redact(url), err)
	}
	s.nc = nc
	s.url = nc.ConnectedUrlRedacted()
	return nil
}

func redact(url string) string {
	if i := strings.Index(url, "@"); i >= 0 {
		if j := strings.Index(url, "://"); j >= 0 && j < i {
			return url[:j+3] + "***" + url[i:]
		}
	}
	return url
}

func (s *Store) streamConfig(partitions int) jetstream.StreamConfig {
	maxBytes := s.cfg.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Halo event log",
		Subjects:    []string{events.SubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      s.cfg.MaxAge,
		MaxBytes:    maxBytes,
		MaxMsgs:     -1,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.Replicas,
		Duplicates:  s.cfg.DuplicateWindow,
		MaxMsgSize:  int32(events.MaxBatchSize + 64<<10),
		AllowDirect: true,
		Metadata:    map[string]string{metaPartitions: strconv.Itoa(partitions)},
	}
}

func (s *Store) ensureStream(ctx context.Context) error {
	st, err := s.js.Stream(ctx, StreamName)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound) && s.cfg.MustExist:
		where := s.cfg.DataDir
		if s.cfg.URL != "" {
			where = redact(s.cfg.URL)
		}
		return fmt.Errorf("%w in %s: the server has no %s stream", ErrNoLog, where, StreamName)
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err = s.js.CreateStream(ctx, s.streamConfig(s.cfg.Partitions))
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = s.js.Stream(ctx, StreamName)
		}
		if err != nil {
			return fmt.Errorf("creating the event stream: %w", err)
		}
	case err != nil:
		return fmt.Errorf("%w: looking up the event stream: %w", ErrNoServer, err)
	}
	p, err := strconv.Atoi(st.CachedInfo().Config.Metadata[metaPartitions])
	if err != nil || p < 1 {
		return fmt.Errorf("event stream %s has no valid %s metadata (%q): it was not created by Halo", StreamName, metaPartitions, st.CachedInfo().Config.Metadata[metaPartitions])
	}
	s.partitions = p
	if s.cfg.ManageStream {
		if p != s.cfg.Partitions {
			s.logger.Warn("the event log keeps the partition count it was created with", "partitions", p, "requested", s.cfg.Partitions)
		}
		st, err = s.js.UpdateStream(ctx, s.streamConfig(p))
		if err != nil {
			return fmt.Errorf("updating the event stream settings: %w", err)
		}
	}
	s.stream = st
	return nil
}

// Partitions returns P, the partition count of the log.
func (s *Store) Partitions() int { return s.partitions }

// ClientURL returns the URL of the server the store is connected to, without
// credentials.
func (s *Store) ClientURL() string { return s.url }

// Embedded reports whether this process runs the log's server.
func (s *Store) Embedded() bool {
	s.embMu.Lock()
	defer s.embMu.Unlock()
	return s.emb != nil
}

// Ping returns nil when the log answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return s.closedErr()
	}
	if err := s.storageErr(); err != nil {
		return err
	}
	if _, err := s.stream.Info(ctx); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	return nil
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Appended: s.appended.Load(), Messages: s.messages.Load(), Corrupt: s.corrupt.Load(),
		Unknown: s.unknown.Load(), Duplicates: s.duplicates.Load(), ReadStalls: s.readStalls.Load(),
		StorageRestarts: s.restarts.Load(),
	}
}

// Close closes the connection and, when this process serves the log, stops
// the server. Safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.healStop != nil {
			close(s.healStop)
			<-s.healDone
		}
		if s.nc != nil {
			s.nc.Close()
		}
		s.embMu.Lock()
		if s.emb != nil {
			s.emb.shutdown()
		}
		s.embMu.Unlock()
	})
	return nil
}

// laneKey is one (tenant, partition): the unit inside which Append keeps
// order.
type laneKey struct {
	tenant    string
	partition int
	labels    bool // label.recorded events, packed apart
}

type pendingBatch struct {
	subject string
	kind    string
	buf     *[]byte
	n       int
	first   events.ID
	since   int64 // event time of the first event, Unix ns
	ids     []byte
}

func (s *Store) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, 4<<10) // grows; a sparse import sends thousands of one-event messages per Append
	return &b
}

// Append implements events.Store. Consecutive events of one (tenant,
// partition) and one kind travel in one message of at most MaxBatchEvents
// events and events.MaxBatchSize bytes; messages of one (tenant, partition)
// are published in order, except label.recorded events, packed apart
// (nothing consumes labels in order with a device's other events); across
// partitions the messages stay within MaxBatchSpan of event-time order.
func (s *Store) Append(ctx context.Context, evs ...events.Event) (err error) {
	if s.closed.Load() {
		return s.closedErr()
	}
	defer func() {
		if err != nil && s.handover.Load() != nil && !errors.Is(err, ErrHandedOver) {
			err = fmt.Errorf("%w: %w", s.closedErr(), err)
		}
	}()
	if len(evs) == 0 {
		return nil
	}
	limit := time.Now().Add(s.cfg.MaxFutureSkew)
	for i := range evs {
		if err := evs[i].Validate(); err != nil {
			return err
		}
		if evs[i].Time.After(limit) {
			return fmt.Errorf("%w (%w): %s %s at %s is more than %v ahead of this clock", ErrFutureEvent, events.ErrInvalidEvent, evs[i].Type(), evs[i].ID, evs[i].Time.Format(time.RFC3339Nano), s.cfg.MaxFutureSkew)
		}
	}

	var (
		open    = map[laneKey]*pendingBatch{}
		futures = make([]jetstream.PubAckFuture, 0, 8)
		counts  = make([]int, 0, 8)
		bufs    = make([]*[]byte, 0, 8)
	)
	defer func() {
		for _, b := range bufs {
			s.bufs.Put(b)
		}
	}()
	publish := func(b *pendingBatch) error {
		msgID := b.first.String()
		if b.n > 1 {
			sum := sha256.Sum256(b.ids)
			msgID = "b-" + hex.EncodeToString(sum[:16])
		}
		m := &nats.Msg{Subject: b.subject, Data: *b.buf, Header: nats.Header{}}
		f, err := s.js.PublishMsgAsync(m, jetstream.WithMsgID(msgID), jetstream.WithStallWait(s.cfg.AckTimeout))
		if err != nil {
			return fmt.Errorf("publishing %d events to %s: %w", b.n, b.subject, err)
		}
		futures = append(futures, f)
		counts = append(counts, b.n)
		bufs = append(bufs, b.buf)
		return nil
	}
	var order []laneKey
	span := int64(s.cfg.MaxBatchSpan)
	oldest := int64(math.MaxInt64) // the earliest since of the pending batches
	for i := range evs {
		ev := &evs[i]
		kind := ev.Type().Kind()
		// Labels travel apart: nothing consumes them in order with a
		// device's other events (the pipeline does not read them), so
		// their messages neither cut the traffic's nor keep to the span.
		ordered := kind != events.KindLabel
		key := laneKey{ev.Tenant, events.Partition(ev.Device, s.partitions), !ordered}
		if t := ev.Time.UnixNano(); ordered && t-oldest > span {
			// Send the pending batches that started more than span before
			// this event, oldest first, so that the log stays within span
			// of event-time order across partitions and kinds. A batch that
			// is the only one pending may keep growing: nothing can
			// overtake it until another starts, and then it is sent.
			var due []laneKey
			pending := 0
			oldest = math.MaxInt64
			for _, k := range order {
				if b := open[k]; b != nil && b.n > 0 && !k.labels {
					pending++
					if t-b.since > span {
						due = append(due, k)
					} else {
						oldest = min(oldest, b.since)
					}
				}
			}
			if pending == 1 && len(due) == 1 && due[0] == key {
				oldest = open[key].since
				due = nil
			}
			slices.SortStableFunc(due, func(x, y laneKey) int { return cmp.Compare(open[x].since, open[y].since) })
			for _, k := range due {
				if err := publish(open[k]); err != nil {
					return err
				}
				open[k] = nil
			}
		}
		b := open[key]
		if b != nil && (b.kind != kind || b.n >= s.cfg.MaxBatchEvents) {
			if err := publish(b); err != nil {
				return err
			}
			b = nil
		}
		if b == nil {
			b = &pendingBatch{subject: events.SubjectOf(ev.Tenant, kind, key.partition), kind: kind, buf: s.getBuf()}
			if _, ok := open[key]; !ok {
				order = append(order, key)
			}
			open[key] = b
		}
		before := len(*b.buf)
		nb, err := events.AppendBatch(*b.buf, ev)
		if err != nil {
			return err
		}
		if len(nb) > events.MaxBatchSize && b.n > 0 {
			// This event does not fit: send the batch without it.
			*b.buf = nb[:before]
			if err := publish(b); err != nil {
				return err
			}
			b = &pendingBatch{subject: b.subject, kind: kind, buf: s.getBuf()}
			open[key] = b
			nb, err = events.AppendBatch(*b.buf, ev)
			if err != nil {
				return err
			}
		}
		*b.buf = nb
		if b.n == 0 {
			b.first, b.since = ev.ID, ev.Time.UnixNano()
			if ordered {
				oldest = min(oldest, b.since)
			}
		}
		b.ids = append(b.ids, ev.ID[:]...)
		b.n++
	}
	for _, key := range order {
		if b := open[key]; b != nil && b.n > 0 {
			if err := publish(b); err != nil {
				return err
			}
		}
	}
	var errs []error
	for i, f := range futures {
		select {
		case <-f.Ok():
			s.appended.Add(uint64(counts[i]))
			s.messages.Add(1)
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("appending %d events to %s: %w", counts[i], f.Msg().Subject, err))
		case <-ctx.Done():
			return fmt.Errorf("waiting for the log to acknowledge %d messages: %w", len(futures)-i, ctx.Err())
		}
	}
	return errors.Join(errs...)
}

// filters returns the subject filters that select tenant, device and types.
func (s *Store) filters(tenant, device string, types []events.Type) ([]string, error) {
	if tenant != "" {
		if err := events.ValidateTenant(tenant); err != nil {
			return nil, err
		}
	} else {
		tenant = "*"
	}
	part := -1
	if device != "" {
		if err := events.ValidateDevice(device); err != nil {
			return nil, err
		}
		part = events.Partition(device, s.partitions)
	}
	if len(types) == 0 {
		return []string{events.SubjectOf(tenant, "*", part)}, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, t := range types {
		k := t.Kind()
		if k == "" {
			return nil, fmt.Errorf("%w %q", events.ErrUnknownType, t)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, events.SubjectOf(tenant, k, part))
		}
	}
	return out, nil
}

// decode decodes one log message, counting and logging what it skips.
func (s *Store) decode(dst []events.Event, msg jetstream.Msg) ([]events.Event, uint64, time.Time, bool) {
	meta, err := msg.Metadata()
	if err != nil {
		s.corrupt.Add(1)
		s.logger.Warn("skipping a log message without metadata", "subject", msg.Subject(), "error", err)
		return dst, 0, time.Time{}, false
	}
	seq := meta.Sequence.Stream
	start := len(dst)
	dst, unknown, err := events.DecodeBatch(dst, msg.Data())
	if err != nil {
		s.corrupt.Add(1)
		s.logger.Warn("skipping a corrupt log message", "subject", msg.Subject(), "seq", seq, "error", err)
		return dst, seq, meta.Timestamp, false
	}
	if unknown > 0 {
		s.unknown.Add(uint64(unknown))
		s.logger.Warn("skipping events of unknown types (written by a newer Halo?)", "subject", msg.Subject(), "seq", seq, "count", unknown)
	}
	rec := meta.Timestamp.UTC()
	for i := start; i < len(dst); i++ {
		dst[i].Seq = seq
		dst[i].Recorded = rec
	}
	return dst, seq, rec, true
}

// DataDir is the data directory of the store's configuration (empty for an
// external server without one).
func (s *Store) DataDir() string { return s.cfg.DataDir }
