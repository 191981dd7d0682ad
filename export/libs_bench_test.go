package export

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	aparquet "github.com/apache/arrow-go/v18/parquet"
	acompress "github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pgo "github.com/parquet-go/parquet-go"
	pgozstd "github.com/parquet-go/parquet-go/compress/zstd"
	xparquet "github.com/xitongsys/parquet-go/parquet"
	xwriter "github.com/xitongsys/parquet-go/writer"
)

// The Parquet library comparison (bench/RESULTS.md, "Export"): the same
// connections rows — Halo's own table, built from a synthetic fleet's
// events by buildTables — written with zstd by each candidate library, and
// by pyarrow (bench/pyarrow_write.py) in the same run.

const benchConns = 200_000

var (
	benchOnce sync.Once
	benchRows []Connection
)

func connRows(b *testing.B) []Connection {
	benchOnce.Do(func() {
		f := &fleet{Tenant: "bench", Devices: 2000, Start: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Step: 40 * time.Millisecond, TxPerHTTP: 2, Seed: 7}
		evs := f.Events(benchConns)
		conns := newParts[Connection]()
		if err := buildTables(context.Background(), evs, time.Time{}, time.Time{}, sinks{conns: conns}); err != nil {
			b.Fatal(err)
		}
		for k := range conns.m {
			benchRows = append(benchRows, conns.of(k)...)
		}
	})
	if len(benchRows) != benchConns {
		b.Fatalf("%d connection rows, want %d", len(benchRows), benchConns)
	}
	return benchRows
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func reportWrite(b *testing.B, rows int, bytes int64) {
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(bytes)/1e6, "MB/file")
}

// BenchmarkParquetLibs writes the connections rows with each library.
func BenchmarkParquetLibs(b *testing.B) {
	rows := connRows(b)
	b.Run("parquet-go", func(b *testing.B) {
		b.ReportAllocs()
		var size int64
		for b.Loop() {
			var c countingWriter
			if err := writeParquetGo(&c, rows); err != nil {
				b.Fatal(err)
			}
			size = c.n
		}
		reportWrite(b, len(rows), size)
	})
	b.Run("pqarrow", func(b *testing.B) {
		b.ReportAllocs()
		var size int64
		for b.Loop() {
			var c countingWriter
			if err := writePqarrow(&c, rows); err != nil {
				b.Fatal(err)
			}
			size = c.n
		}
		reportWrite(b, len(rows), size)
	})
	b.Run("xitongsys", func(b *testing.B) {
		b.ReportAllocs()
		var size int64
		for b.Loop() {
			var c countingWriter
			if err := writeXitongsys(&c, rows); err != nil {
				b.Fatal(err)
			}
			size = c.n
		}
		reportWrite(b, len(rows), size)
	})
	// pyarrow, the baseline: the same rows (read from a file parquet-go
	// wrote, outside the timing) written with the same compression.
	b.Run("pyarrow", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "conns.parquet")
		var buf bytes.Buffer
		if err := writeParquetGo(&buf, rows); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		rate, size := pyarrowWrite(b, path, b.N)
		b.ReportMetric(rate, "rows/s")
		b.ReportMetric(size/1e6, "MB/file")
	})
}

// pyarrowWrite runs bench/pyarrow_write.py on path n times and returns its
// rows/s and file size.
func pyarrowWrite(b *testing.B, path string, n int) (rate, size float64) {
	script := filepath.Join("..", "bench", "pyarrow_write.py")
	out, err := exec.Command("python3", script, strconv.Itoa(n), path).CombinedOutput()
	if err != nil {
		b.Fatalf("python3 %s (pip install -r notebooks/requirements.txt): %v\n%s", script, err, out)
	}
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%g rows/s %g bytes", &rate, &size); err != nil {
		b.Fatalf("pyarrow_write.py printed %q: %v", out, err)
	}
	return rate, size
}

// zstdLevel is the compression level of every writer: zstd's fastest
// (level 1 of the reference library, pyarrow's default).
const zstdLevel = 1

func writeParquetGo(w io.Writer, rows []Connection) error {
	pw := pgo.NewGenericWriter[Connection](w, pgo.Compression(&pgozstd.Codec{Level: pgozstd.SpeedFastest}), pgo.KeyValueMetadata("halo.schema_version", "1"))
	if _, err := pw.Write(rows); err != nil {
		return err
	}
	return pw.Close()
}

var connArrowSchema = func() *arrow.Schema {
	ts := &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
	s, i64, i32, bl := arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.FixedWidthTypes.Boolean
	f := func(n string, t arrow.DataType) arrow.Field { return arrow.Field{Name: n, Type: t} }
	return arrow.NewSchema([]arrow.Field{
		f("device", s), f("conn_id", s), f("event_id", s), f("start", ts), f("end", ts), f("duration_ns", i64), f("opened", bl),
		f("src_addr", s), f("dst_host", s), f("dst_ip", s), f("dst_port", i32), f("transport", s), f("service", s), f("mode", s),
		f("inbound", bl), f("sni", s), f("tls_fp", s), f("bytes_up", i64), f("bytes_down", i64), f("packets_up", i64),
		f("packets_down", i64), f("close_reason", s), f("state", s), f("error", s),
	}, nil)
}()

func connBatch(rows []Connection) arrow.RecordBatch {
	bld := array.NewRecordBuilder(memory.DefaultAllocator, connArrowSchema)
	defer bld.Release()
	bld.Reserve(len(rows))
	str := func(i int) *array.StringBuilder { return bld.Field(i).(*array.StringBuilder) }
	i64 := func(i int) *array.Int64Builder { return bld.Field(i).(*array.Int64Builder) }
	ts := func(i int) *array.TimestampBuilder { return bld.Field(i).(*array.TimestampBuilder) }
	bl := func(i int) *array.BooleanBuilder { return bld.Field(i).(*array.BooleanBuilder) }
	for i := range rows {
		r := &rows[i]
		str(0).Append(r.Device)
		str(1).Append(r.ConnID)
		str(2).Append(r.EventID)
		ts(3).Append(arrow.Timestamp(r.Start))
		ts(4).Append(arrow.Timestamp(r.End))
		i64(5).Append(r.DurationNs)
		bl(6).Append(r.Opened)
		str(7).Append(r.SrcAddr)
		str(8).Append(r.DstHost)
		str(9).Append(r.DstIP)
		bld.Field(10).(*array.Int32Builder).Append(r.DstPort)
		str(11).Append(r.Transport)
		str(12).Append(r.Service)
		str(13).Append(r.Mode)
		bl(14).Append(r.Inbound)
		str(15).Append(r.SNI)
		str(16).Append(r.TLSFp)
		i64(17).Append(r.BytesUp)
		i64(18).Append(r.BytesDown)
		i64(19).Append(r.PacketsUp)
		i64(20).Append(r.PacketsDown)
		str(21).Append(r.CloseReason)
		str(22).Append(r.State)
		str(23).Append(r.Error)
	}
	return bld.NewRecordBatch()
}

func writePqarrow(w io.Writer, rows []Connection) error {
	rec := connBatch(rows)
	defer rec.Release()
	props := aparquet.NewWriterProperties(aparquet.WithCompression(acompress.Codecs.Zstd), aparquet.WithCompressionLevel(zstdLevel),
		aparquet.WithMaxRowGroupLength(1<<20))
	fw, err := pqarrow.NewFileWriter(connArrowSchema, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return err
	}
	if err := fw.Write(rec); err != nil {
		return err
	}
	return fw.Close()
}

type xConn struct {
	Device      string `parquet:"name=device, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	ConnID      string `parquet:"name=conn_id, type=BYTE_ARRAY, convertedtype=UTF8"`
	EventID     string `parquet:"name=event_id, type=BYTE_ARRAY, convertedtype=UTF8"`
	Start       int64  `parquet:"name=start, type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=true, logicaltype.unit=NANOS"`
	End         int64  `parquet:"name=end, type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=true, logicaltype.unit=NANOS"`
	DurationNs  int64  `parquet:"name=duration_ns, type=INT64"`
	Opened      bool   `parquet:"name=opened, type=BOOLEAN"`
	SrcAddr     string `parquet:"name=src_addr, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	DstHost     string `parquet:"name=dst_host, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	DstIP       string `parquet:"name=dst_ip, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	DstPort     int32  `parquet:"name=dst_port, type=INT32"`
	Transport   string `parquet:"name=transport, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	Service     string `parquet:"name=service, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	Mode        string `parquet:"name=mode, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	Inbound     bool   `parquet:"name=inbound, type=BOOLEAN"`
	SNI         string `parquet:"name=sni, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	TLSFp       string `parquet:"name=tls_fp, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	BytesUp     int64  `parquet:"name=bytes_up, type=INT64"`
	BytesDown   int64  `parquet:"name=bytes_down, type=INT64"`
	PacketsUp   int64  `parquet:"name=packets_up, type=INT64"`
	PacketsDown int64  `parquet:"name=packets_down, type=INT64"`
	CloseReason string `parquet:"name=close_reason, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	State       string `parquet:"name=state, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	Error       string `parquet:"name=error, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
}

// writeXitongsys writes with xitongsys/parquet-go, whose zstd level is not
// configurable (klauspost's default, level 3).
func writeXitongsys(w io.Writer, rows []Connection) error {
	pw, err := xwriter.NewParquetWriterFromWriter(w, new(xConn), 2)
	if err != nil {
		return err
	}
	pw.CompressionType = xparquet.CompressionCodec_ZSTD
	for i := range rows {
		x := xConn(rows[i])
		if err := pw.Write(x); err != nil {
			return err
		}
	}
	return pw.WriteStop()
}
