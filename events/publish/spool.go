package publish

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/fsutil"
)

// Spool files.
//
// SpoolDir/<seq>.spool, seq a 20-digit zero-padded decimal sequence number
// (so names sort in write order), holds one batch:
//
//	offset  size  field
//	0       8     magic "HALOSPL1" (format version 1)
//	8       4     event count, little endian
//	12      4     payload length, little endian
//	16      4     CRC32C (Castagnoli) of bytes 8..16 and of the payload
//	20      n     payload: an events.Batch (events.AppendBatch encoding)
//
// A file is written as <seq>.spool.tmp, fsync'd, renamed to <seq>.spool, and
// the directory fsync'd; only then does the batch count as handled. A payload
// never exceeds events.MaxBatchSize, so one file decodes with one
// events.DecodeBatch.
//
// SpoolDir/corrupt/ receives files that fail to decode; SpoolDir/rejected/
// receives, as JSON, events the log refused as invalid; SpoolDir/LOCK is
// flock'd by the publisher that owns the directory.
const (
	spoolMagic   = "HALOSPL1"
	headerSize   = 20
	spoolExt     = ".spool"
	tmpExt       = ".tmp"
	seqDigits    = 20
	corruptDir   = "corrupt"
	rejectedDir  = "rejected"
	lockFileName = "LOCK"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorruptSpool marks a spool file that cannot be drained.
var errCorruptSpool = errors.New("corrupt spool file")

// errSpoolLimit is returned by write when the batch would take the spool
// beyond SpoolMaxBytes.
var errSpoolLimit = errors.New("spool size limit reached")

// spoolChunk is one encoded spool file; it holds the events of evs[:end]
// that are not in bad.
type spoolChunk struct {
	data []byte
	end  int
}

// encodeSpool encodes evs into spool files of at most maxEvents events and
// maxPayload payload bytes each (an event larger than maxPayload gets a file
// of its own). Events that cannot be encoded (too large, unknown type) are
// listed in bad, by index, with why.
func encodeSpool(evs []events.Event, maxEvents, maxPayload int) (chunks []spoolChunk, bad []int, why []error) {
	var (
		buf   []byte
		count int
		end   int
	)
	finish := func() {
		if count == 0 {
			return
		}
		sealSpool(buf, count)
		chunks = append(chunks, spoolChunk{buf, end})
		buf, count = nil, 0
	}
	for i := range evs {
		if buf == nil {
			buf = make([]byte, headerSize, headerSize+min(len(evs)-i, maxEvents)*256)
		}
		before := len(buf)
		nb, err := events.AppendBatch(buf, &evs[i])
		if err != nil {
			bad = append(bad, i)
			why = append(why, err)
			buf = nb[:before]
			continue
		}
		if len(nb)-headerSize > maxPayload && count > 0 {
			// Does not fit: close this file without it, start the next.
			buf = nb[:before]
			finish()
			buf = make([]byte, headerSize, headerSize+(len(nb)-before)+min(len(evs)-i, maxEvents)*256)
			nb, _ = events.AppendBatch(buf, &evs[i])
		}
		buf = nb
		count++
		end = i + 1
		if count >= maxEvents {
			finish()
		}
	}
	finish()
	return chunks, bad, why
}

// sealSpool fills in the header of a spool file whose payload follows it.
func sealSpool(b []byte, count int) {
	copy(b[0:8], spoolMagic)
	binary.LittleEndian.PutUint32(b[8:12], uint32(count))
	binary.LittleEndian.PutUint32(b[12:16], uint32(len(b)-headerSize))
	crc := crc32.Update(0, castagnoli, b[8:16])
	crc = crc32.Update(crc, castagnoli, b[headerSize:])
	binary.LittleEndian.PutUint32(b[16:20], crc)
}

// decodeSpool parses a spool file. Any problem (torn, truncated, bit rot,
// events of a type this build does not know) returns an error wrapping
// errCorruptSpool; it never panics.
func decodeSpool(b []byte) ([]events.Event, error) {
	if len(b) < headerSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", errCorruptSpool, len(b), headerSize)
	}
	if string(b[0:8]) != spoolMagic {
		return nil, fmt.Errorf("%w: bad magic %q", errCorruptSpool, b[0:8])
	}
	count := binary.LittleEndian.Uint32(b[8:12])
	n := binary.LittleEndian.Uint32(b[12:16])
	if uint64(n) != uint64(len(b)-headerSize) {
		return nil, fmt.Errorf("%w: header says %d payload bytes, file has %d (torn write?)", errCorruptSpool, n, len(b)-headerSize)
	}
	crc := crc32.Update(0, castagnoli, b[8:16])
	crc = crc32.Update(crc, castagnoli, b[headerSize:])
	if want := binary.LittleEndian.Uint32(b[16:20]); crc != want {
		return nil, fmt.Errorf("%w: checksum %08x, header says %08x", errCorruptSpool, crc, want)
	}
	if count == 0 || count > uint32(len(b)-headerSize)/8 {
		return nil, fmt.Errorf("%w: implausible event count %d", errCorruptSpool, count)
	}
	evs, unknown, err := events.DecodeBatch(make([]events.Event, 0, count), b[headerSize:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorruptSpool, err)
	}
	if unknown > 0 {
		return nil, fmt.Errorf("%w: %d events of types this build does not know (written by a newer Halo?)", errCorruptSpool, unknown)
	}
	if len(evs) != int(count) {
		return nil, fmt.Errorf("%w: %d events decoded, header says %d", errCorruptSpool, len(evs), count)
	}
	return evs, nil
}

// spool is the on-disk queue of a Publisher.
//
// Lock order: Publisher.flushMu, then spool.mu, then Publisher.mu.
type spool struct {
	dir      string
	maxBytes int64
	maxBatch int
	logger   *slog.Logger
	lock     *os.File

	// mu serialises the creation of spool files with the spooling flag:
	// while spooling is set every batch goes to the spool, and the flag is
	// cleared only while no spool file exists.
	mu       sync.Mutex
	nextSeq  uint64
	spooling atomic.Bool

	files atomic.Int64 // spool files waiting to be drained
	bytes atomic.Int64 // their size

	spooledEvents, spooledFiles, spooledBytes atomic.Uint64
	corrupt, rejected                         atomic.Uint64

	stuckMu sync.Mutex
	stuck   map[string]bool // unreadable files that could not be moved aside
}

// openSpool locks dir and takes stock of what a previous publisher left.
func openSpool(dir string, maxBytes int64, maxBatch int, logger *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the spool directory: %w", err)
	}
	lock, holder, err := fsutil.Lock(filepath.Join(dir, lockFileName))
	if errors.Is(err, fsutil.ErrLocked) {
		return nil, fmt.Errorf("%w: %s (%s)", ErrSpoolInUse, dir, cmp.Or(holder, "another process"))
	}
	if err != nil {
		return nil, fmt.Errorf("locking the spool directory %s: %w", dir, err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, maxBatch: maxBatch, logger: logger, lock: lock, nextSeq: 1, stuck: map[string]bool{}}
	if err := s.scan(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *spool) close() {
	fsutil.Unlock(s.lock)
	s.lock = nil
}

func spoolName(seq uint64) string {
	return fmt.Sprintf("%0*d%s", seqDigits, seq, spoolExt)
}

// parseSpoolName returns the sequence number of a spool file name.
func parseSpoolName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, spoolExt)
	if !ok || len(base) != seqDigits {
		return 0, false
	}
	seq, err := strconv.ParseUint(base, 10, 64)
	return seq, err == nil && seq > 0
}

// scan counts the spool files left by a previous publisher and settles
// half-written ones: a complete .tmp file (the crash came between its fsync
// and its rename) is renamed into place, a torn one is moved aside.
func (s *spool) scan() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("reading the spool directory: %w", err)
	}
	var maxSeq uint64
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == lockFileName {
			continue
		}
		if base, ok := strings.CutSuffix(name, tmpExt); ok {
			if _, ok := parseSpoolName(base); ok {
				s.settleTmp(name, base)
			} else {
				s.logger.Warn("ignoring an unexpected file in the spool directory", "spool_dir", s.dir, "file", name)
			}
			continue
		}
		if _, ok := parseSpoolName(name); !ok {
			s.logger.Warn("ignoring an unexpected file in the spool directory", "spool_dir", s.dir, "file", name)
		}
	}
	// Read again: settleTmp may have renamed files into place.
	if entries, err = os.ReadDir(s.dir); err != nil {
		return fmt.Errorf("reading the spool directory: %w", err)
	}
	for _, e := range entries {
		seq, ok := parseSpoolName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("spool file %s: %w", e.Name(), err)
		}
		s.files.Add(1)
		s.bytes.Add(fi.Size())
		maxSeq = max(maxSeq, seq)
	}
	s.nextSeq = maxSeq + 1
	if n := s.files.Load(); n > 0 {
		s.spooling.Store(true)
		s.logger.Info("spool holds events from an earlier run; draining them before new events",
			"spool_dir", s.dir, "files", n, "bytes", s.bytes.Load())
	}
	return nil
}

func (s *spool) settleTmp(tmp, final string) {
	path := filepath.Join(s.dir, tmp)
	b, err := os.ReadFile(path)
	if err == nil {
		_, err = decodeSpool(b)
	}
	if err != nil {
		s.moveAside(tmp, false, fmt.Errorf("half-written spool file from an interrupted run: %w", err))
		return
	}
	if _, serr := os.Stat(filepath.Join(s.dir, final)); serr == nil {
		s.moveAside(tmp, false, fmt.Errorf("complete spool file whose final name %s is taken", final))
		return
	}
	if err := os.Rename(path, filepath.Join(s.dir, final)); err != nil {
		s.logger.Error("cannot rename a complete half-written spool file into place", "file", tmp, "error", err)
		return
	}
	syncDir(s.dir)
	s.logger.Info("recovered a complete spool file written before an interruption", "file", final)
}

// write appends evs to the spool when the publisher is spooling, or always
// when force is set (and then starts spooling). It reports whether the
// events went to the spool, and how many of them (a prefix of evs) are
// handled. With limit set it writes only what fits in maxBytes and returns
// errSpoolLimit when that is not all. Files count as handled only once they
// and the directory are fsync'd; on an I/O error no file of the call stays
// behind. Events that cannot be encoded are set aside in rejected/.
func (s *spool) write(evs []events.Event, force, limit bool) (spooled bool, n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.spooling.Load() && !force {
		return false, 0, nil
	}
	if force {
		s.spooling.Store(true)
	}
	room := s.maxBytes - s.bytes.Load()
	maxPayload := events.MaxBatchSize
	if limit && room-headerSize < int64(maxPayload) {
		maxPayload = max(int(room)-headerSize, 1)
	}
	chunks, bad, why := encodeSpool(evs, s.maxBatch, maxPayload)
	k, total := len(chunks), int64(0)
	if limit {
		for k = 0; k < len(chunks) && total+int64(len(chunks[k].data)) <= room; k++ {
			total += int64(len(chunks[k].data))
		}
	} else {
		for _, c := range chunks {
			total += int64(len(c.data))
		}
	}
	var written []string
	fail := func(err error) (bool, int, error) {
		for _, name := range written {
			os.Remove(filepath.Join(s.dir, name))
		}
		return true, 0, err
	}
	for _, c := range chunks[:k] {
		name := spoolName(s.nextSeq)
		if err := writeDurable(s.dir, name, c.data, false); err != nil {
			return fail(fmt.Errorf("writing spool file %s: %w", name, err))
		}
		s.nextSeq++
		written = append(written, name)
	}
	if k > 0 {
		if err := syncDir(s.dir); err != nil {
			return fail(fmt.Errorf("syncing the spool directory: %w", err))
		}
	}
	n = len(evs)
	if k < len(chunks) {
		n = 0
		if k > 0 {
			n = chunks[k-1].end
		}
		err = fmt.Errorf("%w: %d bytes spooled, limit %d", errSpoolLimit, s.bytes.Load()+total, s.maxBytes)
	}
	nbad := 0
	for i, idx := range bad {
		if idx < n {
			s.reject(&evs[idx], why[i])
			nbad++
		}
	}
	s.files.Add(int64(k))
	s.bytes.Add(total)
	s.spooledFiles.Add(uint64(k))
	s.spooledBytes.Add(uint64(total))
	s.spooledEvents.Add(uint64(n - nbad))
	return true, n, err
}

// stopIfEmpty ends spooling when no spool file is left, and reports whether
// it did. Files are created only under mu, so the directory listed under mu
// is the truth; the counters are reset from it.
func (s *spool) stopIfEmpty() (empty, wasSpooling bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list, err := s.list()
	if err != nil || len(list) > 0 {
		return false, s.spooling.Load()
	}
	s.files.Store(0)
	s.bytes.Store(0)
	return true, s.spooling.Swap(false)
}

// spoolFile is one file waiting in the spool.
type spoolFile struct {
	name string
	size int64
}

// list returns the spool files in drain order (oldest first).
func (s *spool) list() ([]spoolFile, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("reading the spool directory: %w", err)
	}
	s.stuckMu.Lock()
	defer s.stuckMu.Unlock()
	var out []spoolFile
	for _, e := range entries {
		if _, ok := parseSpoolName(e.Name()); !ok || e.IsDir() || s.stuck[e.Name()] {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, spoolFile{e.Name(), fi.Size()})
	}
	return out, nil
}

// read returns the events of a spool file; an error wrapping errCorruptSpool
// means the file cannot be drained and must be moved aside.
func (s *spool) read(f spoolFile) ([]events.Event, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, f.name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: reading: %w", errCorruptSpool, err)
	}
	return decodeSpool(b)
}

// remove deletes a drained spool file.
func (s *spool) remove(f spoolFile) error {
	if err := os.Remove(filepath.Join(s.dir, f.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing drained spool file %s: %w", f.name, err)
	}
	s.files.Add(-1)
	s.bytes.Add(-f.size)
	return nil
}

// rewrite replaces a spool file with evs (what is left of it to drain).
func (s *spool) rewrite(f spoolFile, evs []events.Event) error {
	if len(evs) == 0 {
		return s.remove(f)
	}
	chunks, bad, why := encodeSpool(evs, len(evs), events.MaxBatchSize)
	if len(chunks) != 1 || len(bad) > 0 {
		return fmt.Errorf("re-encoding spool file %s: %d files, %d bad events (%v)", f.name, len(chunks), len(bad), why)
	}
	if err := writeDurable(s.dir, f.name, chunks[0].data, true); err != nil {
		return fmt.Errorf("rewriting spool file %s: %w", f.name, err)
	}
	s.bytes.Add(int64(len(chunks[0].data)) - f.size)
	return nil
}

// quarantine moves a spool file that cannot be drained to corrupt/, so the
// drain goes on without it, logs it and counts it.
func (s *spool) quarantine(f spoolFile, why error) {
	if s.moveAside(f.name, true, why) {
		s.files.Add(-1)
		s.bytes.Add(-f.size)
		return
	}
	// It could not be moved: skip it from now on rather than block the drain.
	s.stuckMu.Lock()
	s.stuck[f.name] = true
	s.stuckMu.Unlock()
	s.files.Add(-1)
	s.bytes.Add(-f.size)
}

// moveAside moves SpoolDir/name to SpoolDir/corrupt/ and counts it.
func (s *spool) moveAside(name string, queued bool, why error) bool {
	s.corrupt.Add(1)
	dst := filepath.Join(s.dir, corruptDir)
	err := os.MkdirAll(dst, 0o700)
	target := filepath.Join(dst, name)
	if err == nil {
		if _, serr := os.Lstat(target); serr == nil {
			target = fmt.Sprintf("%s.%d", target, time.Now().UnixNano())
		}
		err = os.Rename(filepath.Join(s.dir, name), target)
	}
	if err != nil {
		s.logger.Error("spool file cannot be drained nor moved aside; skipping it",
			"spool_dir", s.dir, "file", name, "reason", why, "error", err)
		return false
	}
	syncDir(dst)
	syncDir(s.dir)
	s.logger.Error("spool file cannot be drained; moved aside for inspection",
		"spool_dir", s.dir, "file", name, "moved_to", target, "queued", queued, "error", why)
	return true
}

// reject sets aside, as JSON in rejected/, an event the log refused as
// invalid or that cannot be encoded, so that it is never silently dropped.
func (s *spool) reject(ev *events.Event, why error) {
	s.rejected.Add(1)
	dir := filepath.Join(s.dir, rejectedDir)
	b := []byte(`{"error":`)
	b = strconv.AppendQuote(b, why.Error())
	b = append(b, `,"event":`...)
	b = ev.AppendJSON(b)
	b = append(b, "}\n"...)
	name := fmt.Sprintf("%d-%s.json", time.Now().UnixNano(), ev.ID)
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		err = writeDurable(dir, name, b, true)
	}
	attrs := []any{"event_id", ev.ID, "type", ev.Type(), "tenant", ev.Tenant, "device_id", ev.Device, "reason", why}
	if err != nil {
		s.logger.Error("the event log refused an event, and saving it aside failed", append(attrs, "error", err)...)
		return
	}
	s.logger.Error("the event log refused an event; set aside", append(attrs, "file", filepath.Join(dir, name))...)
}

// writeDurable writes data to dir/name through a temporary file that is
// fsync'd before it is renamed into place. The directory is fsync'd only
// when syncDirToo is set.
func writeDurable(dir, name string, data []byte, syncDirToo bool) error {
	tmp := filepath.Join(dir, name+tmpExt)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if syncDirToo {
		return syncDir(dir)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
