package window

import (
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// record is the arrow.RecordBatch of a window's rows: arrow-go's own record
// batch (array.NewRecordBatch) without what it costs a window of a dozen
// rows: a copy of the column list, a type comparison per column against the
// schema, and a reference taken on each column (and the builder's dropped
// right after). build makes the columns with Schema's types and n rows, and
// hands its one reference to each to the record, which drops them when it
// is released. Retain and Release may be called from any goroutine.
//
// The columns of shared are arrays of the assembler's caches (all-null
// columns, tenant columns: see nullArrays), which are never released: the
// record takes no reference to them and drops none, so that building and
// releasing a window costs no atomic operation on their counts, which the
// assembler's goroutine and the consumers' would otherwise pass back and
// forth between their cores, a dozen times a window of imported history.
//
// Everything else behaves as arrow-go's: SetColumn and NewSlice return
// arrow-go record batches, MarshalJSON gives the same JSON.
type record struct {
	refs   atomic.Int64
	rows   int64
	shared uint32 // bit i: column i is shared (see above)
	cols   [NumCols]arrow.Array
}

// init makes r, a zero record whose cols build has set, a record of n
// rows that owns one reference to each of its columns but those of shared
// (bit i: column i), which must have Schema's types and n rows. build
// writes the columns in place: a copy of the 25 interfaces, and the
// clearing of the list they came from, cost a write barrier per pointer
// while the garbage collector marks, every window.
func (r *record) init(n int, shared uint32) {
	r.rows, r.shared = int64(n), shared
	r.refs.Store(1)
}

func (r *record) Retain() { r.refs.Add(1) }

func (r *record) Release() {
	if r.refs.Add(-1) == 0 {
		for i, c := range r.cols {
			if r.shared&(1<<i) == 0 {
				c.Release()
			}
			r.cols[i] = nil
		}
	}
}

func (r *record) Schema() *arrow.Schema    { return Schema }
func (r *record) Metadata() arrow.Metadata { return arrow.Metadata{} }
func (r *record) NumRows() int64           { return r.rows }
func (r *record) NumCols() int64           { return NumCols }
func (r *record) Columns() []arrow.Array   { return r.cols[:] }
func (r *record) Column(i int) arrow.Array { return r.cols[i] }
func (r *record) ColumnName(i int) string  { return Schema.Field(i).Name }

// plain returns the columns as an arrow-go record batch (retaining them).
func (r *record) plain() arrow.RecordBatch {
	return array.NewRecordBatch(Schema, r.cols[:], r.rows)
}

func (r *record) SetColumn(i int, col arrow.Array) (arrow.RecordBatch, error) {
	p := r.plain()
	defer p.Release()
	return p.SetColumn(i, col)
}

func (r *record) NewSlice(i, j int64) arrow.RecordBatch {
	p := r.plain()
	defer p.Release()
	return p.NewSlice(i, j)
}

func (r *record) MarshalJSON() ([]byte, error) {
	p := r.plain()
	defer p.Release()
	return p.MarshalJSON()
}
