package models

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestRowsFromRecord(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "device", Type: arrow.BinaryTypes.String}, {Name: "a", Type: arrow.PrimitiveTypes.Float64}, {Name: "b", Type: arrow.PrimitiveTypes.Float64}}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	bld.Field(0).(*array.StringBuilder).AppendValues([]string{"x", "y"}, nil)
	bld.Field(1).(*array.Float64Builder).AppendValues([]float64{1, 2}, nil)
	bld.Field(2).(*array.Float64Builder).AppendValues([]float64{3, 4}, nil)
	rec := bld.NewRecordBatch()
	defer rec.Release()
	rows, err := RowsFromRecord(rec, []string{"b", "a"})
	if err != nil || len(rows) != 2 || rows[0][0] != 3 || rows[0][1] != 1 || rows[1][0] != 4 {
		t.Fatalf("rows %v, %v", rows, err)
	}
	for _, names := range [][]string{{"c"}, {"device"}} {
		if _, err := RowsFromRecord(rec, names); !errors.Is(err, ErrInput) {
			t.Errorf("%v: %v", names, err)
		}
	}
}
