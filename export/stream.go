package export

import (
	"fmt"
	"io"
	"path/filepath"
	"unsafe"

	pgo "github.com/parquet-go/parquet-go"

	"github.com/halo-sec/halo/events"
)

// rowSink receives one table's rows as they are built, in event order.
type rowSink[T any] interface {
	// add appends r to partition k; a row of an event table gets the
	// text of id, its event's id, in its event_id column.
	add(k partKey, id events.ID, r T)
}

// setEventID sets the event_id column of a row of an event table.
func setEventID[T any](r *T, id string) {
	switch r := any(r).(type) {
	case *Connection:
		r.EventID = id
	case *Transaction:
		r.EventID = id
	case *Label:
		r.EventID = id
	}
}

// chunk is a run of one partition's rows, handed to its file's writer.
type chunk[T any] struct {
	rows []T
	// ids holds the text of the rows' event ids, which their EventID
	// strings point into: one block per chunk, reused with it once the
	// writer has copied the rows (an id string per row was 40 % of the
	// export's allocations).
	ids []byte
}

// streamChunkRows is how many rows of a partition are handed to its file's
// writer at a time.
const streamChunkRows = 4096

// rowStream writes one table's rows while they are built: each partition's
// rows go, a chunk at a time, to a goroutine that writes the partition's
// current file, so that building the rows and encoding them run on
// different cores and the rows are never all in memory. A file is started
// with its first full chunk (or at its end, if it has fewer rows); it ends
// when it has RowsPerFile rows (the partition goes on in part-N+1), and
// every file of a day ends when the rows reach a later day (rows come in
// event-time order, and the partition date is the date of that time).
type rowStream[T any] struct {
	w           *writers
	root, table string
	perFile     int
	files       map[partKey]*fileStream[T]
	lastK       partKey
	last        *fileStream[T]
	day         int64
	started     bool
	free        chan *chunk[T] // chunks the file writers are done with
}

// fileStream is one partition of a rowStream.
type fileStream[T any] struct {
	k    partKey
	part string         // tenant=…/date=…
	next int            // the number of the next file (part-N)
	rows int            // rows of the current file, sent or in buf
	buf  *chunk[T]      // the chunk being filled
	ch   chan *chunk[T] // the current file's chunks; nil until its first is sent
}

func newRowStream[T any](w *writers, root, table string, perFile int) *rowStream[T] {
	return &rowStream[T]{w: w, root: root, table: table, perFile: perFile, files: map[partKey]*fileStream[T]{}, free: make(chan *chunk[T], 16)}
}

func (s *rowStream[T]) add(k partKey, id events.ID, r T) {
	if s.last == nil || k != s.lastK {
		if !s.started || k.Day > s.day {
			s.endDaysBefore(k.Day)
			s.day, s.started = k.Day, true
		}
		f, ok := s.files[k]
		if !ok {
			f = &fileStream[T]{k: k, part: "tenant=" + k.Tenant + "/date=" + k.Date()}
			s.files[k] = f
		}
		s.lastK, s.last = k, f
	}
	f := s.last
	if f.buf == nil {
		f.buf = s.chunk(f.ch != nil)
	}
	c := f.buf
	at := len(c.ids)
	c.ids = appendID(c.ids, id)
	setEventID(&r, unsafe.String(&c.ids[at], idTextLen))
	c.rows = append(c.rows, r)
	f.rows++
	if f.rows == s.perFile {
		s.end(f)
	} else if len(c.rows) == streamChunkRows {
		s.send(f)
	}
}

// endDaysBefore ends the files of the partitions before day.
func (s *rowStream[T]) endDaysBefore(day int64) {
	for k, f := range s.files {
		if k.Day < day && f.rows > 0 {
			s.end(f)
		}
	}
}

// close ends every file; the writers' close waits for them.
func (s *rowStream[T]) close() {
	for _, f := range s.files {
		if f.rows > 0 {
			s.end(f)
		}
	}
}

// chunk returns an empty chunk: a recycled one, or a new one, full-sized
// for a partition already streaming (full), else small, growing as rows
// come: a partition of a few rows (a small tenant's day) costs a few rows.
func (s *rowStream[T]) chunk(full bool) *chunk[T] {
	select {
	case c := <-s.free:
		return c
	default:
	}
	n := 64
	if full {
		n = streamChunkRows
	}
	return &chunk[T]{rows: make([]T, 0, n), ids: make([]byte, 0, n*idTextLen)}
}

// recycle takes back a chunk the writer has written: parquet-go copied its
// values, strings included.
func (s *rowStream[T]) recycle(c *chunk[T]) {
	if cap(c.rows) < streamChunkRows {
		return // a small partition's: let it go
	}
	c.rows, c.ids = c.rows[:0], c.ids[:0]
	select {
	case s.free <- c:
	default:
	}
}

// send hands the partition's chunk to its file's writer, starting the
// file with its first chunk: a file of fewer rows than a chunk is written
// in one go when it ends, and has no writer (megabytes of column buffers)
// before.
func (s *rowStream[T]) send(f *fileStream[T]) {
	if f.buf == nil || len(f.buf.rows) == 0 {
		return
	}
	if f.ch == nil {
		s.open(f)
	}
	s.w.queued(len(f.buf.rows))
	f.ch <- f.buf
	f.buf = nil
}

// end finishes the partition's current file: its last rows, then its
// footer.
func (s *rowStream[T]) end(f *fileStream[T]) {
	s.send(f)
	if f.ch != nil {
		close(f.ch)
	}
	f.ch, f.rows = nil, 0
}

// open starts the partition's next file: a goroutine that writes the
// chunks sent to it, taking a writer's slot for each, and then the file's
// footer, atomically (writeFile).
func (s *rowStream[T]) open(f *fileStream[T]) {
	ch := make(chan *chunk[T], 2)
	f.ch = ch
	j := job{table: s.table, partition: f.part, streamed: true,
		path: filepath.Join(s.root, s.table, filepath.FromSlash(f.part), fmt.Sprintf("part-%d.parquet", f.next))}
	f.next++
	s.w.wg.Add(1)
	go func() {
		defer s.w.wg.Done()
		size, err := writeFile(j.path, func(out io.Writer) error {
			// The writer is made in a slot, with the first chunk, and the
			// last chunk and the footer are written in one slot: a file of
			// one chunk (a small partition's) has a writer, megabytes of
			// column buffers, only while it holds a slot.
			var pw *pgo.GenericWriter[T]
			write := func(c *chunk[T], last bool) error {
				if err := s.w.stopped(); err != nil {
					return err
				}
				s.w.acquire()
				defer s.w.release()
				if pw == nil {
					pw = pgo.NewGenericWriter[T](out, writerOptions(s.table, nil)...)
				}
				if c != nil {
					if _, err := pw.Write(c.rows); err != nil {
						return err
					}
					j.rows += len(c.rows)
					s.w.wrote(len(c.rows))
				}
				if last {
					return pw.Close()
				}
				return nil
			}
			var err error
			var held *chunk[T] // written when the next comes, or with the footer
			for c := range ch {
				if held != nil {
					if err == nil {
						err = write(held, false)
					}
					s.recycle(held)
				}
				held = c
			}
			if err == nil {
				err = write(held, true)
			}
			if held != nil {
				s.recycle(held)
			}
			return err
		})
		s.w.done(&j, size, err)
	}()
}

const idTextLen = 36

// appendID appends id as events.ID.String formats it:
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, lower-case hex.
func appendID(b []byte, id events.ID) []byte {
	const digits = "0123456789abcdef"
	for i, x := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, digits[x>>4], digits[x&15])
	}
	return b
}
