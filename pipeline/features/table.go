package features

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TableSchema is the schema of Table: tenant, device, cohort, window start
// and end, the device's row range in the window (row_lo, row_hi), then one
// float64 column per feature, in Names order.
var TableSchema = func() *arrow.Schema {
	ts := &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
	fields := []arrow.Field{
		{Name: "tenant", Type: arrow.BinaryTypes.String},
		{Name: "device", Type: arrow.BinaryTypes.String},
		{Name: "cohort", Type: arrow.BinaryTypes.String},
		{Name: "start", Type: ts},
		{Name: "end", Type: ts},
		{Name: "row_lo", Type: arrow.PrimitiveTypes.Int64},
		{Name: "row_hi", Type: arrow.PrimitiveTypes.Int64},
	}
	for _, n := range Names {
		fields = append(fields, arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64})
	}
	return arrow.NewSchema(fields, nil)
}()

// Table lays vs out as a record batch with TableSchema (export, training),
// one row per vector, allocated from memory.DefaultAllocator. The caller
// releases it.
func Table(vs []Vector) arrow.RecordBatch { return TableWith(memory.DefaultAllocator, vs) }

// TableWith is Table with an allocator. A vector with fewer values than
// Names gets zeros for the missing ones.
func TableWith(mem memory.Allocator, vs []Vector) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, TableSchema)
	defer b.Release()
	b.Reserve(len(vs))
	tenant := b.Field(0).(*array.StringBuilder)
	device := b.Field(1).(*array.StringBuilder)
	cohort := b.Field(2).(*array.StringBuilder)
	start := b.Field(3).(*array.TimestampBuilder)
	end := b.Field(4).(*array.TimestampBuilder)
	lo := b.Field(5).(*array.Int64Builder)
	hi := b.Field(6).(*array.Int64Builder)
	for i := range vs {
		v := &vs[i]
		tenant.Append(v.Tenant)
		device.Append(v.Device)
		cohort.Append(v.Cohort)
		start.Append(arrow.Timestamp(v.Start.UnixNano()))
		end.Append(arrow.Timestamp(v.End.UnixNano()))
		lo.Append(int64(v.Rows[0]))
		hi.Append(int64(v.Rows[1]))
	}
	for f := range Names {
		fb := b.Field(7 + f).(*array.Float64Builder)
		for i := range vs {
			if f < len(vs[i].Values) {
				fb.Append(vs[i].Values[f])
			} else {
				fb.Append(0)
			}
		}
	}
	return b.NewRecordBatch()
}
