package models

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// RowsFromRecord reads the named float64 columns of a record batch (such as
// pipeline/features.Table, or an exported features table) as training or
// scoring rows, in names order. A missing or non-float64 column, or a null
// value, is an error wrapping ErrInput.
func RowsFromRecord(rec arrow.RecordBatch, names []string) ([][]float64, error) {
	cols := make([][]float64, len(names))
	for j, n := range names {
		idx := rec.Schema().FieldIndices(n)
		if len(idx) != 1 {
			return nil, fmt.Errorf("%w: record has %d columns named %q, want 1", ErrInput, len(idx), n)
		}
		c, ok := rec.Column(idx[0]).(*array.Float64)
		if !ok {
			return nil, fmt.Errorf("%w: column %q is %s, want float64", ErrInput, n, rec.Column(idx[0]).DataType())
		}
		if c.NullN() > 0 {
			return nil, fmt.Errorf("%w: column %q has %d nulls", ErrInput, n, c.NullN())
		}
		cols[j] = c.Float64Values()
	}
	rows := make([][]float64, rec.NumRows())
	flat := make([]float64, len(rows)*len(names))
	for i := range rows {
		r := flat[i*len(names) : (i+1)*len(names)]
		for j := range names {
			v := cols[j][i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: column %q row %d is %v", ErrInput, names[j], i, v)
			}
			r[j] = v
		}
		rows[i] = r
	}
	return rows, nil
}
