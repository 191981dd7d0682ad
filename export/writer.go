package export

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	pgo "github.com/parquet-go/parquet-go"
	pgozstd "github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/halo-sec/halo/pipeline/features"
)

// SchemaVersion is the version of the tables' schemas, recorded in every
// file's key-value metadata as halo.schema_version. It changes when a
// column is renamed, removed or changes type; new columns added at the end
// keep it.
const SchemaVersion = 1

// rowGroupRows bounds a row group: big enough for good compression and
// column statistics, small enough to bound the writer's memory.
const rowGroupRows = 256 << 10

// zstdCodec compresses every file's pages. One codec for all the files:
// it keeps a pool of encoders, which are costly to make (a codec per file
// made new ones, megabytes of tables each, for every file).
var zstdCodec = &pgozstd.Codec{Level: pgozstd.SpeedFastest}

// writerOptions are the options of every file: zstd at its fastest level
// (the ratio is close to the default level's on these tables, at twice the
// speed), and the metadata that names the table and its schema version.
func writerOptions(table string, meta map[string]string) []pgo.WriterOption {
	opts := []pgo.WriterOption{
		pgo.Compression(zstdCodec),
		pgo.MaxRowsPerRowGroup(rowGroupRows),
		// The column chunks' statistics and the column index hold each
		// page's bounds; repeating them in every page header would
		// compute them twice.
		pgo.DataPageStatistics(false),
		pgo.CreatedBy("halo export", strconv.Itoa(SchemaVersion), ""),
		pgo.KeyValueMetadata("halo.table", table),
		pgo.KeyValueMetadata("halo.schema_version", strconv.Itoa(SchemaVersion)),
	}
	for k, v := range meta {
		opts = append(opts, pgo.KeyValueMetadata(k, v))
	}
	return opts
}

// writeFile writes path atomically: to a temporary name in its directory,
// synced, then renamed. An interrupted write leaves no file at path (and
// removes the temporary one when it can).
func writeFile(path string, write func(io.Writer) error) (size int64, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return 0, fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return 0, err
	}
	fi, err := tmp.Stat()
	if err != nil {
		return 0, err
	}
	if err = tmp.Close(); err != nil {
		return 0, err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// writeRows writes rows of a fixed-schema table as one Parquet file.
func writeRows[T any](w io.Writer, table string, rows [][]T) error {
	pw := pgo.NewGenericWriter[T](w, writerOptions(table, nil)...)
	for _, rs := range rows {
		if _, err := pw.Write(rs); err != nil {
			return err
		}
	}
	return pw.Close()
}

// featureType is the Go struct of a features row, built from
// features.Names so that the table follows the feature list: device,
// cohort, start, end, one float64 column per feature in features.Names
// order, anomaly_score, anomaly_threshold, malicious, label.
var featureType = func() reflect.Type {
	f := func(name string, t reflect.Type, tag string) reflect.StructField {
		return reflect.StructField{Name: name, Type: t, Tag: reflect.StructTag(`parquet:"` + tag + `"`)}
	}
	str, i64, f64 := reflect.TypeFor[string](), reflect.TypeFor[int64](), reflect.TypeFor[float64]()
	fields := []reflect.StructField{
		f("Device", str, "device,dict"),
		f("Cohort", str, "cohort,dict"),
		f("Start", i64, "start,timestamp(nanosecond:utc),delta"),
		f("End", i64, "end,timestamp(nanosecond:utc),delta"),
	}
	for i, n := range features.Names {
		fields = append(fields, f("F"+strconv.Itoa(i), f64, n))
	}
	fields = append(fields,
		f("AnomalyScore", reflect.TypeFor[*float64](), "anomaly_score,optional"),
		f("AnomalyThreshold", reflect.TypeFor[*float64](), "anomaly_threshold,optional"),
		f("Malicious", reflect.TypeFor[bool](), "malicious"),
		f("Label", reflect.TypeFor[*string](), "label,optional,dict"),
	)
	return reflect.StructOf(fields)
}()

// FeatureColumns lists the features table's columns in file order.
func FeatureColumns() []string {
	out := make([]string, featureType.NumField())
	for i := range out {
		out[i], _, _ = strings.Cut(featureType.Field(i).Tag.Get("parquet"), ",")
	}
	return out
}

func writeFeatures(w io.Writer, segs [][]FeatureRow, meta map[string]string) error {
	schema := pgo.SchemaOf(reflect.New(featureType).Interface())
	pw := pgo.NewWriter(w, append(writerOptions(TableFeatures, meta), schema)...)
	// Rows are built as Parquet values directly: the struct is flat, so
	// its i-th field is the i-th leaf column.
	nf := len(features.Names)
	ncol := featureType.NumField()
	batch := make([]pgo.Row, 0, 1024)
	vals := make([]pgo.Value, 0, 1024*ncol)
	flush := func() error {
		if _, err := pw.WriteRows(batch); err != nil {
			return err
		}
		batch, vals = batch[:0], vals[:0]
		return nil
	}
	for _, rows := range segs {
		for i := range rows {
			r := &rows[i]
			at := len(vals)
			vals = append(vals,
				pgo.ByteArrayValue(unsafeBytes(r.Device)).Level(0, 0, 0),
				pgo.ByteArrayValue(unsafeBytes(r.Cohort)).Level(0, 0, 1),
				pgo.Int64Value(r.Start).Level(0, 0, 2),
				pgo.Int64Value(r.End).Level(0, 0, 3))
			for j := range nf {
				x := 0.0
				if j < len(r.Values) {
					x = r.Values[j]
				}
				vals = append(vals, pgo.DoubleValue(x).Level(0, 0, 4+j))
			}
			vals = append(vals, optionalDouble(r.Score, 4+nf), optionalDouble(r.Threshold, 5+nf), pgo.BooleanValue(r.Malicious).Level(0, 0, 6+nf))
			if r.Label != nil {
				vals = append(vals, pgo.ByteArrayValue(unsafeBytes(*r.Label)).Level(0, 1, 7+nf))
			} else {
				vals = append(vals, pgo.NullValue().Level(0, 0, 7+nf))
			}
			batch = append(batch, pgo.Row(vals[at:len(vals):len(vals)]))
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	return pw.Close()
}

func optionalDouble(x *float64, col int) pgo.Value {
	if x == nil {
		return pgo.NullValue().Level(0, 0, col)
	}
	return pgo.DoubleValue(*x).Level(0, 1, col)
}

// unsafeBytes views s as bytes for a Parquet value, which the writer copies
// and never modifies.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// columnsOf lists the columns of a fixed-schema row type in file order.
func columnsOf[T any]() []string {
	t := reflect.TypeFor[T]()
	out := make([]string, t.NumField())
	for i := range out {
		out[i], _, _ = strings.Cut(t.Field(i).Tag.Get("parquet"), ",")
	}
	return out
}
