package export

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	pgo "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/halo-sec/halo/pipeline/features"
)

// readBounded reads a features file and returns what reading allocated.
func readBounded(b []byte) ([]FeatureRow, error, uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rows, err := readFeatureFile(nil, b, "t")
	runtime.ReadMemStats(&after)
	return rows, err, after.TotalAlloc - before.TotalAlloc
}

// rawFooterFile is a file whose footer is foot.
func rawFooterFile(foot []byte) []byte {
	b := append([]byte("PAR1"), foot...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(foot)))
	return append(b, "PAR1"...)
}

// featureFileLies are corrupt features files, one per class of lie the
// checks reject, each with a part of the error that names what is wrong.
// Before the checks, each made parquet-go allocate hundreds of MiB to
// tens of GiB (the first: "fatal error: runtime: out of memory"), or read
// rows a corrupt file does not hold.
func featureFileLies(t testing.TB) []struct {
	name, want string
	b          []byte
} {
	good := featureFileSample(t)
	const big = 1<<31 - 1
	// Compact thrift: field 1 (i32) = 1, field 2 a list of 2^28 structs,
	// then 16 empty ones.
	listLie := append([]byte{0x15, 0x02, 0x19, 0xfc}, binary.AppendUvarint(nil, 1<<28)...)
	listLie = append(listLie, make([]byte, 16)...)
	deep := append(bytes.Repeat([]byte{0x1c}, 100), make([]byte, 101)...) // field 1 a struct, 100 deep
	page := func(col, p int, edit func(*format.PageHeader)) []byte { return withPageHeader(t, good, col, p, edit) }
	// zstd frames: 1024 RLE blocks of 128 kB (128 MiB from 4 kB), and a
	// frame that states 2^40 bytes.
	bomb := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38}
	for i := range 1024 {
		h := uint32(zstdBlockMax)<<3 | 1<<1
		if i == 1023 {
			h |= 1
		}
		bomb = append(bomb, byte(h), byte(h>>8), byte(h>>16), 0)
	}
	fcs := binary.LittleEndian.AppendUint64([]byte{0x28, 0xb5, 0x2f, 0xfd, 0xe0}, 1<<40)
	fcs = append(fcs, 0x01, 0, 0) // an empty last raw block
	body := func(col int, b []byte) []byte {
		return withPage(t, good, col, 0, func(*format.PageHeader, []byte) []byte { return b })
	}
	foot := func(edit func(*format.FileMetaData)) []byte { return withFooter(t, good, edit) }
	chunk := func(col int, edit func(*format.ColumnMetaData)) []byte {
		return foot(func(md *format.FileMetaData) { edit(&md.RowGroups[0].Columns[col].MetaData) })
	}
	const dev, conns, start = 0, 4, 2 // device (dictionary), connections (double), start (delta)
	return []struct {
		name, want string
		b          []byte
	}{
		{"footer list longer than the footer", "footer: malformed thrift", rawFooterFile(listLie)},
		{"footer nested too deep", "nested more than 32 deep", rawFooterFile(deep)},
		{"footer longer than the file", "a footer of", append(append(good[:len(good)-8:len(good)-8], 0xff, 0xff, 0xff, 0x7f), "PAR1"...)},
		{"row group rows", "row group 0 has 1099511627776 rows", foot(func(md *format.FileMetaData) { md.RowGroups[0].NumRows, md.NumRows = 1<<40, 1<<40 })},
		{"file rows", "the file has 3 rows, its row groups 2", foot(func(md *format.FileMetaData) { md.NumRows = 3 })},
		{"chunk values", "column [start]: 3 values in 2 rows", chunk(start, func(c *format.ColumnMetaData) { c.NumValues = 3 })},
		{"codec", "column [device]: SNAPPY-compressed", chunk(dev, func(c *format.ColumnMetaData) { c.Codec = format.Snappy })},
		{"chunk past the data", "column [connections]: 6000 bytes at 322, past", chunk(conns, func(c *format.ColumnMetaData) { c.TotalCompressedSize = 6000 })},
		{"chunk before the data", "column [connections]: 57 bytes at 0, past", chunk(conns, func(c *format.ColumnMetaData) { c.DataPageOffset = 0 })},
		{"dictionary after the data", "column [device]: dictionary at 50 after", chunk(dev, func(c *format.ColumnMetaData) { c.DictionaryPageOffset = 50 })},
		{"chunk uncompressed size", "column [connections]: 1073741824 bytes uncompressed (at most", chunk(conns, func(c *format.ColumnMetaData) { c.TotalUncompressedSize = 1 << 30 })},
		{"chunk uncompressed size vs pages", "column [connections]: its pages take 48 bytes uncompressed, it claims 49", chunk(conns, func(c *format.ColumnMetaData) { c.TotalUncompressedSize = 49 })},
		{"data page offset", "column [device]: no page starts at its data page offset 45", chunk(dev, func(c *format.ColumnMetaData) { c.DataPageOffset = 45 })},
		{"page header", "column [connections]: page 0 at 323: page header", chunk(conns, func(c *format.ColumnMetaData) { c.DataPageOffset++ })},
		{"page compressed size", "column [connections]: page 0 at 322: 2147483647 bytes, past the chunk's end", page(conns, 0, func(h *format.PageHeader) { h.CompressedPageSize = big })},
		{"page uncompressed size", "column [connections]: page 0 at 322: 2147483647 bytes uncompressed for 2 values", page(conns, 0, func(h *format.PageHeader) { h.UncompressedPageSize = big })},
		{"delta page uncompressed size", "column [start]: page 0 at 168: 4129 bytes uncompressed for 2 values", page(start, 0, func(h *format.PageHeader) { h.UncompressedPageSize = 4129 })},
		{"dictionary page uncompressed size", "column [device]: page 0 at 4: 2147483647 bytes uncompressed for 2 values stored in 21", page(dev, 0, func(h *format.PageHeader) { h.UncompressedPageSize = big })},
		{"page values", "column [connections]: page 0 at 322: 1073741824 values in a row group of 2 rows", page(conns, 0, func(h *format.PageHeader) {
			h.DataPageHeaderV2.V.NumValues, h.DataPageHeaderV2.V.NumRows = 1<<30, 1<<30
		})},
		{"index page values", "column [device]: page 1 at 44: 1073741824 values", page(dev, 1, func(h *format.PageHeader) {
			h.DataPageHeaderV2.V.NumValues, h.DataPageHeaderV2.V.NumRows = 1<<30, 1<<30
		})},
		{"delta page values", "column [start]: page 0 at 168: 1073741824 values", page(start, 0, func(h *format.PageHeader) {
			h.DataPageHeaderV2.V.NumValues, h.DataPageHeaderV2.V.NumRows = 1<<30, 1<<30
		})},
		{"page rows", "column [start]: page 0 at 168: 2 values, 0 nulls, 1 rows", page(start, 0, func(h *format.PageHeader) { h.DataPageHeaderV2.V.NumRows = 1 })},
		{"page nulls", "column [start]: page 0 at 168: 2 values, 3 nulls", page(start, 0, func(h *format.PageHeader) { h.DataPageHeaderV2.V.NumNulls = 3 })},
		{"pages' values", "column [start]: its pages hold 1 values, it claims 2", page(start, 0, func(h *format.PageHeader) { h.DataPageHeaderV2.V.NumValues, h.DataPageHeaderV2.V.NumRows = 1, 1 })},
		{"page levels", "column [start]: page 0 at 168: 1000 bytes of levels", page(start, 0, func(h *format.PageHeader) { h.DataPageHeaderV2.V.DefinitionLevelsByteLength = 1000 })},
		{"dictionary values", "column [device]: page 0 at 4: a dictionary of 1073741824 values in 2 rows", page(dev, 0, func(h *format.PageHeader) { h.DictionaryPageHeader.V.NumValues = 1 << 30 })},
		{"dictionary page second", "column [device]: page 1 at 44: a dictionary page that is not", page(dev, 1, func(h *format.PageHeader) {
			h.Type, h.DictionaryPageHeader.Valid, h.DictionaryPageHeader.V.NumValues = format.DictionaryPage, true, 2
		})},
		{"zstd bomb", "column [connections]: page 0 at 322: zstd: blocks that may decode to 134217728 bytes in a page of 16", body(conns, bomb)},
		{"zstd frame size", "column [connections]: page 0 at 322: zstd: a frame of 1099511627776 bytes in a page of 16", body(conns, fcs)},
		{"zstd garbage", "column [connections]: page 0 at 322: zstd: no frame", body(conns, []byte("not zstd, not at all"))},
		{"page type", "column [connections]: page 0 at 322: a INDEX_PAGE page", page(conns, 0, func(h *format.PageHeader) { h.Type = format.IndexPage })},
		{"data page without its header", "column [connections]: page 0 at 322: a data page without its header", page(conns, 0, func(h *format.PageHeader) { h.Type = format.DataPage })},
	}
}

// TestReadFeaturesRejectsLies: a file that lies about a size or a count
// is an error wrapping ErrFormat that names the column and the lie, and
// reading it allocates little.
func TestReadFeaturesRejectsLies(t *testing.T) {
	for _, c := range featureFileLies(t) {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			rows, err, alloc := readBounded(c.b)
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) || len(rows) != 0 {
				t.Errorf("%d rows, %v; want ErrFormat with %q", len(rows), err, c.want)
			}
			if alloc > 16<<20 {
				t.Errorf("reading allocated %d MiB", alloc>>20)
			}
		})
	}
}

// TestPageHeaderEditIsFaithful: the lies' helper, with no lie, makes a file
// that reads as the original (so each lie is only its lie).
func TestPageHeaderEditIsFaithful(t *testing.T) {
	good := featureFileSample(t)
	want, err := readFeatureFile(nil, good, "t")
	if err != nil {
		t.Fatal(err)
	}
	for col := range 5 {
		p := 0
		if col < 2 {
			p = 1 // the data page after the dictionary
		}
		b := withPageHeader(t, good, col, p, func(h *format.PageHeader) { h.DataPageHeaderV2.V.Statistics.DistinctCount = 12345678 }) // a longer header, same pages
		if len(b) == len(good) {
			t.Fatal("the header did not change")
		}
		got, err := readFeatureFile(nil, b, "t")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("column %d: %v, %v; want %v", col, got, err, want)
		}
	}
}

// TestThriftStructCost: thriftStructCost is at least the size of every
// struct the footer and page headers decode into.
func TestThriftStructCost(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		if seen[ty] {
			return
		}
		seen[ty] = true
		switch ty.Kind() {
		case reflect.Struct:
			if int64(ty.Size()) > thriftStructCost {
				t.Errorf("%v: %d bytes, more than thriftStructCost (%d)", ty, ty.Size(), thriftStructCost)
			}
			for i := range ty.NumField() {
				walk(ty.Field(i).Type)
			}
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			walk(ty.Elem())
		}
	}
	walk(reflect.TypeFor[format.FileMetaData]())
	walk(reflect.TypeFor[format.PageHeader]())
	if unsafe.Sizeof(format.FileMetaData{}) == 0 || len(seen) < 20 {
		t.Fatalf("walked %d types", len(seen))
	}
}

// featureFileLarge writes a features file of n rows of devs devices,
// values as a minute of traffic has them (small counts, a few shares).
func featureFileLarge(t testing.TB, n, devs int) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([]FeatureRow, n)
	lab := "CC"
	for i := range rows {
		v := make([]float64, len(features.Names))
		for j := range v {
			if r.IntN(3) > 0 {
				v[j] = float64(r.IntN(1 << (j % 16)))
			}
		}
		w := int64(i / devs)
		rows[i] = FeatureRow{Tenant: "t", Device: fmt.Sprintf("site-%03d/host-%06d", i%devs%97, i%devs), Cohort: fmt.Sprintf("t/%d/", i%devs%7),
			Start: w * 60e9, End: (w + 1) * 60e9, Values: v}
		if i%5 == 0 {
			s, th := r.Float64(), 0.5
			rows[i].Score, rows[i].Threshold = &s, &th
		}
		if i%101 == 0 {
			rows[i].Malicious, rows[i].Label = true, &lab
		}
	}
	var buf bytes.Buffer
	if err := writeFeatures(&buf, [][]FeatureRow{rows}, map[string]string{"halo.features": strings.Join(features.Names, ",")}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReadFeaturesLargeFile: a file of several row groups and pages reads
// back (the checks accept what the writer makes).
func TestReadFeaturesLargeFile(t *testing.T) {
	b := featureFileLarge(t, 300_000, 5000)
	rows, err := readFeatureFile(nil, b, "t")
	if err != nil || len(rows) != 300_000 || rows[299_999].Device != "site-052/host-004999" {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	f, err := pgo.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil || len(f.Metadata().RowGroups) != 2 {
		t.Fatalf("%v, want 2 row groups", err)
	}
}

// BenchmarkReadFeatureFile: reading a file of 600k rows (3 row groups)
// whole, and the checks alone (the footer's walk and every page header's),
// which ReadFeatures runs before the read.
func BenchmarkReadFeatureFile(b *testing.B) {
	data := featureFileLarge(b, 600_000, 5000)
	b.Run("read", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := readFeatureFile(nil, data, "t"); err != nil {
				b.Fatal(err)
			}
		}
	})
	f, err := pgo.OpenFile(bytes.NewReader(data), int64(len(data)), pgo.SkipPageIndex(true), pgo.SkipBloomFilters(true))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("checks", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if err := checkFooter(data); err != nil {
				b.Fatal(err)
			}
			if err := checkChunks(f.Metadata(), data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
