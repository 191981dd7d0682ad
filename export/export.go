package export

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/fsutil"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/replay"
)

// The tables, each a Hive-partitioned dataset rooted at OUTDIR/<table>/.
const (
	TableConnections  = "connections"
	TableTransactions = "transactions"
	TableFeatures     = "features"
	TableAlerts       = "alerts"
	TableLabels       = "labels"
)

// Tables lists the tables in the order they are written.
var Tables = []string{TableConnections, TableTransactions, TableFeatures, TableAlerts, TableLabels}

// ManifestFile is the name of the manifest in OUTDIR: what was exported,
// from which range, and each table's rows and files.
const ManifestFile = "export.json"

// Config configures an export. Zero values are defaults.
type Config struct {
	// Out is the output directory (required). Each table is written to
	// Out/<table>/, replacing one already there only with Overwrite.
	Out string
	// From and To bound the event time of the exported rows: From <= t <
	// To; zero bounds are open.
	From, To time.Time
	// Tenant, when set, exports that tenant's rows only.
	Tenant string
	// Pipeline sets what the features depend on, as for the live pipeline
	// and replays: WindowSize (default 60s), Lateness (5s), Partitions
	// (events.DefaultPartitions), DetectorOptions["anomaly"], and Warmup
	// (24h): with From, the history this long before it is read to build
	// the features' and the anomaly models' state, as a replay does.
	Pipeline pipeline.Config
	// Tables to write, by name; empty: every table. Without features, no
	// windows are computed (much faster).
	Tables []string
	// Scores runs the anomaly detector's per-cohort models over the
	// windows, as the pipeline does, to fill anomaly_score and
	// anomaly_threshold (null otherwise). It costs: the export is several
	// times slower (bench/RESULTS.md).
	Scores bool
	// RowsPerFile bounds the rows of one file (part-N.parquet) of a
	// partition. Default 1,000,000.
	RowsPerFile int
	// Workers write files in parallel. Default GOMAXPROCS.
	Workers int
	// Overwrite replaces tables already in Out.
	Overwrite bool
	// SortBuffer is how many events Run holds in memory to put the range
	// in (time, id) order (default events.DefaultSortEvents); a larger
	// range is sorted in runs on disk under TempDir and merged, so an
	// export of any range runs in bounded memory.
	SortBuffer int
	// TempDir is where those runs go (default Out).
	TempDir string
	// Progress, when set, is called from one goroutine as the export
	// advances, at most about once per ProgressEvery.
	Progress func(Progress)
	// ProgressEvery: default 1s.
	ProgressEvery time.Duration
}

// Progress says how far an export is.
type Progress struct {
	// Stage is "read" (reading the log), "features" (windows and features)
	// or "write" (writing files).
	Stage string
	// Events read so far; Fraction of the log read (0 when unknown).
	Events   int
	Fraction float64
	// SortedToDisk (read stage) is how many of the events read went to
	// sorted runs on disk: a range larger than Config.SortBuffer.
	SortedToDisk int
	// Windows: device windows computed so far (features stage).
	Windows int
	// Rows and Files written so far, of TotalRows (write stage). The
	// connections, transactions and labels are written while they are
	// built: TotalRows counts the rows built so far, and grows until the
	// last event is read.
	Rows, Files, TotalRows int
	// Elapsed since the export started.
	Elapsed time.Duration
}

// TableStats is what was written for one table.
type TableStats struct {
	Rows       int      `json:"rows"`
	Files      int      `json:"files"`
	Bytes      int64    `json:"bytes"`
	Partitions []string `json:"partitions"` // "tenant=…/date=…", sorted
}

// Stats is what an export did; it is also the manifest (export.json).
type Stats struct {
	SchemaVersion int                    `json:"schema_version"`
	From          *time.Time             `json:"from,omitempty"`
	To            *time.Time             `json:"to,omitempty"`
	Tenant        string                 `json:"tenant,omitempty"`
	WindowSeconds float64                `json:"window_s"`
	Features      []string               `json:"features"`
	Events        int                    `json:"events_read"`
	WarmupEvents  int                    `json:"warmup_events"`
	Windows       int                    `json:"windows"`
	Tables        map[string]*TableStats `json:"tables"`
	// Elapsed times of the stages (not in the manifest, which is
	// deterministic).
	Read, Compute, Write time.Duration `json:"-"`
}

// Rows is the total of rows written.
func (s *Stats) Rows() int {
	n := 0
	for _, t := range s.Tables {
		n += t.Rows
	}
	return n
}

func (c *Config) setDefaults() {
	if c.RowsPerFile <= 0 {
		c.RowsPerFile = 1_000_000
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	c.Pipeline = withPipelineDefaults(c.Pipeline)
	if len(c.Tables) == 0 {
		c.Tables = Tables
	}
}

func (c *Config) wants(table string) bool { return slices.Contains(c.Tables, table) }

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Out == "" {
		errs = append(errs, errors.New("no output directory"))
	}
	if !c.From.IsZero() && !c.To.IsZero() && !c.From.Before(c.To) {
		errs = append(errs, fmt.Errorf("from %v is not before to %v", c.From, c.To))
	}
	if c.Tenant != "" {
		if err := events.ValidateTenant(c.Tenant); err != nil {
			errs = append(errs, err)
		}
	}
	for _, t := range c.Tables {
		if !slices.Contains(Tables, t) {
			errs = append(errs, fmt.Errorf("unknown table %q (tables: %s)", t, strings.Join(Tables, ", ")))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// Run reads the range of the log that cfg names (and the warm-up before it)
// from store and exports it, in bounded memory: the events are put in
// (time, id) order by an events.TimeSorter (beyond SortBuffer events, in
// runs on disk) and then go through the tables and the features a chunk at
// a time.
func Run(ctx context.Context, store events.Store, cfg Config) (Stats, error) {
	cfg.Pipeline = cfg.Pipeline.OfLog(store)
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	if err := checkOut(&cfg); err != nil {
		return Stats{}, err
	}
	start := time.Now()
	readFrom := cfg.From
	if !readFrom.IsZero() {
		readFrom = readFrom.Add(-cfg.Pipeline.Warmup)
	}
	q := events.Query{From: readFrom, To: cfg.To, Tenant: cfg.Tenant}
	var lastSeq uint64
	if ls, ok := store.(interface {
		LastSeq(context.Context) (uint64, error)
	}); ok {
		lastSeq, _ = ls.LastSeq(ctx)
	}
	tmp := cfg.TempDir
	if tmp == "" {
		tmp = cfg.Out
	}
	sorter := events.NewTimeSorter(tmp, cfg.SortBuffer)
	sorter.DropRepeats = true // read without remembering every id: repeats go after sorting
	defer sorter.Close()
	var firstSeq uint64
	last := time.Now()
	err := replay.ReadInto(ctx, store, q, sorter, func(ev *events.Event) {
		if firstSeq == 0 {
			firstSeq = ev.Seq
		}
		if cfg.Progress != nil && time.Since(last) >= cfg.ProgressEvery {
			last = time.Now()
			p := Progress{Stage: "read", Events: sorter.Len(), SortedToDisk: sorter.Spilled(), Elapsed: time.Since(start)}
			if lastSeq >= firstSeq && firstSeq > 0 {
				p.Fraction = min(1, float64(ev.Seq-firstSeq+1)/float64(lastSeq-firstSeq+1))
			}
			cfg.Progress(p)
		}
	})
	if cerr := ctx.Err(); cerr != nil {
		return Stats{}, cerr
	}
	if err != nil {
		return Stats{}, fmt.Errorf("%w: %w", ErrRead, err)
	}
	read := time.Since(start)
	st, err := export(ctx, sorter.Sorted(), sorter.Len(), cfg, start)
	st.Read = read
	return st, err
}

// Write exports evs (the events of the range and of the warm-up before it;
// sorted in place by time and id) as Run does.
func Write(ctx context.Context, evs []events.Event, cfg Config) (Stats, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	if err := checkOut(&cfg); err != nil {
		return Stats{}, err
	}
	if !sortedByTime(evs) {
		events.SortByTime(evs)
	}
	return export(ctx, events.Values(evs), len(evs), cfg, time.Now())
}

// checkOut fails when a table is in the way and Overwrite is not set.
func checkOut(cfg *Config) error {
	if cfg.Overwrite {
		return nil
	}
	for _, t := range cfg.Tables {
		if _, err := os.Stat(filepath.Join(cfg.Out, t)); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, filepath.Join(cfg.Out, t))
		}
	}
	return nil
}

// tmpPrefix starts the name of an export's temporary directory in Out.
const tmpPrefix = ".export-tmp-"

// chunkEvents is about how many events go to the tables and the features
// at a time. A chunk is cut only where the event time changes, so every
// event of one instant is in one chunk (the join of a zero-length
// connection's conn.closed looks ahead within the instant).
const chunkEvents = 4096

// chunkDepth is how many chunks may wait for each consumer: with the chunk
// being read, the most an export holds of the range at once.
const chunkDepth = 4

// export reads seq (total events in (time, id) order) once, cutting it in
// chunks that two consumers take in turn: the event tables and the
// features.
func export(ctx context.Context, seq iter.Seq2[events.Event, error], total int, cfg Config, start time.Time) (Stats, error) {
	st := Stats{SchemaVersion: SchemaVersion, Tenant: cfg.Tenant, WindowSeconds: cfg.Pipeline.WindowSize.Seconds(),
		Features: features.Names, Tables: map[string]*TableStats{}}
	if !cfg.From.IsZero() {
		f := cfg.From.UTC()
		st.From = &f
	}
	if !cfg.To.IsZero() {
		t := cfg.To.UTC()
		st.To = &t
	}
	// The tables are written under a temporary directory named with the
	// process id; those of exports killed before their end are removed.
	events.RemoveStaleDirs(cfg.Out, tmpPrefix)
	tmpName := fmt.Sprintf("%s%d-", tmpPrefix, os.Getpid())
	tmp, err := os.MkdirTemp(cfg.Out, tmpName)
	if err != nil {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return st, err
		}
		if tmp, err = os.MkdirTemp(cfg.Out, tmpName); err != nil {
			return st, err
		}
	}
	defer os.RemoveAll(tmp)
	for _, t := range cfg.Tables {
		st.Tables[t] = &TableStats{Partitions: []string{}}
		if err := os.MkdirAll(filepath.Join(tmp, t), 0o755); err != nil {
			return st, err
		}
	}

	// Two consumers build the tables' rows side by side from the same
	// chunks: the event tables, in one pass over the events (two passes,
	// one for the connections and one for the rest, cost 40 % more CPU to
	// build: the payloads' cache misses overlap better in one), and the
	// features (the long pole: windows, features and anomaly models, on
	// the processor's stages). The connections, transactions and labels go to
	// their files' writers a chunk at a time as they are built
	// (rowStream), on the other core; the alerts (folded to the end) and
	// the features (sorted) are written once built, while the features
	// are still being computed.
	var pmu sync.Mutex // Progress is called from one goroutine at a time
	progress := func(p Progress) {
		if cfg.Progress != nil {
			pmu.Lock()
			defer pmu.Unlock()
			cfg.Progress(p)
		}
	}
	w := newWriters(ctx, cfg, &st, start, progress)
	cstart := time.Now()
	var bwg sync.WaitGroup
	var tablesErr, featsErr error
	toTables := make(chan []events.Event, chunkDepth)
	bwg.Go(func() {
		want := func(t string) bool { return t != TableFeatures && cfg.wants(t) }
		var sk sinks
		var ends []func()
		if want(TableConnections) {
			s := newRowStream[Connection](w, tmp, TableConnections, cfg.RowsPerFile)
			sk.conns, ends = s, append(ends, s.close)
		}
		if want(TableTransactions) {
			s := newRowStream[Transaction](w, tmp, TableTransactions, cfg.RowsPerFile)
			sk.txs, ends = s, append(ends, s.close)
		}
		if want(TableLabels) {
			s := newRowStream[Label](w, tmp, TableLabels, cfg.RowsPerFile)
			sk.labels, ends = s, append(ends, s.close)
		}
		var alerts *parts[Alert]
		if want(TableAlerts) {
			alerts = newParts[Alert]()
			sk.alerts = alerts
		}
		b := newTableBuilder(cfg.From, cfg.To, sk)
		for chunk := range toTables {
			if tablesErr == nil {
				tablesErr = b.add(ctx, chunk)
			} // after an error, drain: the reader must not wait for ever
		}
		if tablesErr == nil {
			b.finish()
		}
		for _, end := range ends {
			end() // after an error too: the writers see it and abandon their files
		}
		if tablesErr == nil {
			w.submit(addJobs(nil, tmp, TableAlerts, alerts, cfg.RowsPerFile, writeRows[Alert]))
		}
	})
	var toFeats chan []events.Event
	var fc *featureComputer
	if cfg.wants(TableFeatures) {
		toFeats = make(chan []events.Event, chunkDepth)
		if fc, err = newFeatureComputer(cfg); err != nil {
			close(toTables)
			bwg.Wait()
			w.close()
			return st, err
		}
		defer fc.close()
		bwg.Go(func() {
			featsErr = fc.run(ctx, toFeats, func() {
				progress(Progress{Stage: "features", Events: fc.events, Fraction: float64(fc.events) / float64(max(total, 1)), Windows: int(fc.observed.Load()), Elapsed: time.Since(start)})
			}, cfg.ProgressEvery)
			for range toFeats { // drain after an early stop: the reader must not wait for ever
			}
		})
	}

	// The reader: chunks of the sequence to both consumers.
	readErr := func() error {
		defer func() {
			close(toTables)
			if toFeats != nil {
				close(toFeats)
			}
		}()
		chunk := make([]events.Event, 0, chunkEvents+chunkEvents/4)
		send := func() {
			toTables <- chunk
			if toFeats != nil {
				toFeats <- chunk
			}
			chunk = make([]events.Event, 0, chunkEvents+chunkEvents/4)
		}
		for ev, err := range seq {
			if err != nil {
				return fmt.Errorf("%w after %d events: %w", ErrRead, st.Events, err)
			}
			if len(chunk) >= chunkEvents && !ev.Time.Equal(chunk[len(chunk)-1].Time) {
				if err := ctx.Err(); err != nil {
					return err
				}
				send()
			}
			st.Events++
			if !cfg.From.IsZero() && ev.Time.Before(cfg.From) {
				st.WarmupEvents++
			}
			chunk = append(chunk, ev)
		}
		if len(chunk) > 0 {
			send()
		}
		return ctx.Err()
	}()
	bwg.Wait()
	if err := cmp.Or(readErr, tablesErr, featsErr); err != nil {
		w.close()
		return st, err
	}
	if fc != nil {
		feats, windows := fc.finish()
		st.Windows = windows
		meta := map[string]string{
			"halo.window_ns": strconv.FormatInt(int64(cfg.Pipeline.WindowSize), 10),
			"halo.features":  strings.Join(features.Names, ","),
		}
		w.submit(addJobs(nil, tmp, TableFeatures, feats, cfg.RowsPerFile, func(w io.Writer, _ string, rows [][]FeatureRow) error {
			return writeFeatures(w, rows, meta)
		}))
	}
	st.Compute = time.Since(cstart)
	wstart := time.Now()
	if err := w.close(); err != nil {
		return st, err
	}
	// Swap the finished tables into place, then the manifest.
	for _, t := range cfg.Tables {
		dst := filepath.Join(cfg.Out, t)
		if _, err := os.Stat(dst); err == nil {
			if !cfg.Overwrite {
				return st, fmt.Errorf("%w: %s", ErrExists, dst)
			}
			old := filepath.Join(tmp, "old-"+t)
			if err := os.Rename(dst, old); err != nil {
				return st, err
			}
		}
		if err := os.Rename(filepath.Join(tmp, t), dst); err != nil {
			return st, err
		}
		sort.Strings(st.Tables[t].Partitions)
	}
	mb, err := json.MarshalIndent(&st, "", "  ")
	if err != nil {
		return st, err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(cfg.Out, ManifestFile), append(mb, '\n'), 0o644); err != nil {
		return st, err
	}
	// Write is the time the files took beyond the building of the rows
	// (writing overlaps it).
	st.Write = time.Since(wstart)
	return st, nil
}

// featureComputer runs the pipeline's processor over the events — windows
// and features only, and the anomaly detector too with scores — and keeps
// the rows of the windows that start in the range. Their labels are set
// at the end, from every label.recorded of the range.
type featureComputer struct {
	proc   *pipeline.Processor
	labels *windowLabels
	feats  *parts[FeatureRow]
	events int // events consumed
	// observed counts the device windows computed, for Progress (the
	// observer runs on the processor's vector detectors' stage).
	observed atomic.Int64
}

func newFeatureComputer(cfg Config) (*featureComputer, error) {
	pcfg := cfg.Pipeline
	pcfg.Detectors, pcfg.FeaturesOnly = nil, true
	if cfg.Scores {
		pcfg.Detectors = []string{"anomaly"}
	}
	proc, err := pipeline.NewProcessor(pcfg)
	if err != nil {
		return nil, err
	}
	fc := &featureComputer{proc: proc, labels: newWindowLabels(cfg.Pipeline.WindowSize), feats: newParts[FeatureRow]()}
	proc.ObserveWindows(func(w pipeline.DeviceWindow) {
		if w.Tenant == "" || (cfg.Tenant != "" && w.Tenant != cfg.Tenant) || !inRange(w.Start, cfg.From, cfg.To) {
			return // installation-wide auth failures belong to no tenant
		}
		s := w.Start.UnixNano()
		row := FeatureRow{Tenant: w.Tenant, Device: w.Device, Cohort: w.Cohort, Start: s, End: w.End.UnixNano(), Values: w.Features}
		for _, sc := range w.Scores {
			if sc.Detector == "anomaly" {
				score, threshold := sc.Score, sc.Threshold
				row.Score, row.Threshold = &score, &threshold
			}
		}
		fc.feats.add(keyOf(w.Tenant, s), events.ID{}, row)
		fc.observed.Add(1)
	})
	return fc, nil
}

func (fc *featureComputer) windows() int { return int(fc.proc.Stats().Windows) }

// run processes the chunks of in on the processor's stages (both cores:
// pipeline.Processor.ProcessSeqTo, the outputs dropped), calling progress
// about every progressEvery, until in is closed or ctx is done.
func (fc *featureComputer) run(ctx context.Context, in <-chan []events.Event, progress func(), progressEvery time.Duration) error {
	last := time.Now()
	seq := func(yield func(events.Event, error) bool) {
		for chunk := range in {
			if err := ctx.Err(); err != nil {
				yield(events.Event{}, err)
				return
			}
			fc.labels.add(chunk)
			for i := range chunk {
				if !pipeline.IsPipelineOutput(&chunk[i]) && !yield(chunk[i], nil) {
					return
				}
			}
			fc.events += len(chunk)
			if time.Since(last) >= progressEvery {
				last = time.Now()
				progress()
			}
		}
	}
	return fc.proc.ProcessSeqTo(ctx, seq, nil, nil, func([]events.Event) error { return nil })
}

// finish closes the last windows, labels the rows and returns them, in
// (start, device) order per partition, with the number of windows closed.
func (fc *featureComputer) finish() (*parts[FeatureRow], int) {
	fc.proc.Flush()
	fc.labels.finish()
	for _, c := range fc.feats.m {
		for _, ch := range c.chunks {
			for i := range ch {
				r := &ch[i]
				r.Malicious, r.Label = fc.labels.of(r.Tenant, r.Device, r.Start)
			}
		}
	}
	// Windows close partition by partition, as the watermark of each
	// passes them; the table is in (start, device) order.
	fc.feats.sortEach(func(a, b *FeatureRow) int {
		if a.Start != b.Start {
			return cmp.Compare(a.Start, b.Start)
		}
		return strings.Compare(a.Device, b.Device)
	})
	return fc.feats, fc.windows()
}

func (fc *featureComputer) close() { fc.proc.Close() }

// job writes one file.
type job struct {
	table, partition, path string
	rows                   int
	write                  func(io.Writer) error
	streamed               bool // a rowStream's file
}

func addJobs[T any](jobs []job, root, table string, p *parts[T], perFile int, write func(io.Writer, string, [][]T) error) []job {
	if p == nil {
		return jobs
	}
	keys := make([]partKey, 0, len(p.m))
	for k := range p.m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Tenant != keys[j].Tenant {
			return keys[i].Tenant < keys[j].Tenant
		}
		return keys[i].Day < keys[j].Day
	})
	for _, k := range keys {
		part := "tenant=" + k.Tenant + "/date=" + k.Date()
		for n, segs := range p.m[k].split(perFile) {
			rows := 0
			for _, s := range segs {
				rows += len(s)
			}
			jobs = append(jobs, job{table: table, partition: part, rows: rows,
				path:  filepath.Join(root, table, filepath.FromSlash(part), fmt.Sprintf("part-%d.parquet", n)),
				write: func(w io.Writer) error { return write(w, table, segs) }})
		}
	}
	return jobs
}

// writers write the submitted files with cfg.Workers goroutines and
// account for them in st.
type writers struct {
	ctx      context.Context
	cfg      Config
	st       *Stats
	start    time.Time
	progress func(Progress)
	jobs     chan job
	slots    chan struct{}
	wg       sync.WaitGroup

	mu          sync.Mutex
	err         error
	rows, files int
	total       int
	last        time.Time
	seen        map[string]bool
}

func newWriters(ctx context.Context, cfg Config, st *Stats, start time.Time, progress func(Progress)) *writers {
	w := &writers{ctx: ctx, cfg: cfg, st: st, start: start, progress: progress, jobs: make(chan job, 1024),
		slots: make(chan struct{}, cfg.Workers), seen: map[string]bool{}, last: time.Now()}
	for range cfg.Workers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for j := range w.jobs {
				if w.stopped() != nil {
					continue // drain
				}
				w.acquire()
				size, err := writeFile(j.path, j.write)
				w.release()
				w.done(&j, size, err)
			}
		}()
	}
	return w
}

// acquire takes one of the cfg.Workers slots that bound the files being
// encoded at once (whole files, or one chunk of a streamed file);
// release returns it.
func (w *writers) acquire() { w.slots <- struct{}{} }
func (w *writers) release() { <-w.slots }

// stopped is the first error of a file, or the context's: the files not
// yet written are then abandoned.
func (w *writers) stopped() error {
	w.mu.Lock()
	err := w.err
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.ctx.Err()
}

// queued accounts for rows handed to a streamed file.
func (w *writers) queued(rows int) {
	w.mu.Lock()
	w.total += rows
	w.mu.Unlock()
}

// submit queues jobs, the biggest files first.
func (w *writers) submit(jobs []job) {
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].rows > jobs[b].rows })
	w.mu.Lock()
	for _, j := range jobs {
		w.total += j.rows
	}
	w.mu.Unlock()
	for _, j := range jobs {
		w.jobs <- j
	}
}

func (w *writers) done(j *job, size int64, err error) {
	w.mu.Lock()
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
		return
	}
	ts := w.st.Tables[j.table]
	ts.Rows += j.rows
	ts.Files++
	ts.Bytes += size
	if !w.seen[j.table+"/"+j.partition] {
		w.seen[j.table+"/"+j.partition] = true
		ts.Partitions = append(ts.Partitions, j.partition)
	}
	if !j.streamed {
		w.rows += j.rows // a streamed file's rows are counted as they are written
	}
	w.files++
	w.report()
}

// wrote counts rows of a streamed file written (encoded, not yet on disk).
func (w *writers) wrote(rows int) {
	w.mu.Lock()
	w.rows += rows
	w.report()
}

// report is called with w.mu held and unlocks it; it calls Progress at
// most once per ProgressEvery.
func (w *writers) report() {
	p := Progress{Stage: "write", Rows: w.rows, Files: w.files, TotalRows: w.total, Elapsed: time.Since(w.start)}
	report := time.Since(w.last) >= w.cfg.ProgressEvery
	if report {
		w.last = time.Now()
	}
	w.mu.Unlock()
	if report {
		w.progress(p)
	}
}

// close waits for every submitted file and returns the first error (or the
// context's).
func (w *writers) close() error {
	close(w.jobs)
	w.wg.Wait()
	if w.err != nil {
		return w.err
	}
	return w.ctx.Err()
}

// sortedByTime reports whether evs are in byTime order, checking pieces
// of a long slice side by side (on every core: the check comes before
// anything else can start).
func sortedByTime(evs []events.Event) bool {
	n := runtime.GOMAXPROCS(0)
	if n == 1 || len(evs) < 1<<16 {
		return slices.IsSortedFunc(evs, byTime)
	}
	piece := (len(evs) + n - 1) / n
	sorted := make([]bool, n)
	var wg sync.WaitGroup
	for k := range n {
		lo, hi := min(k*piece, len(evs)), min((k+1)*piece+1, len(evs)) // +1: the boundary pair
		wg.Go(func() { sorted[k] = slices.IsSortedFunc(evs[lo:hi], byTime) })
	}
	wg.Wait()
	return !slices.Contains(sorted, false)
}

// byTime is events.SortByTime's order.
func byTime(a, b events.Event) int { return events.CompareTime(&a, &b) }
