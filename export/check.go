package export

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// The checks below run before parquet-go decodes anything of a features
// file. parquet-go trusts the sizes and counts a file states and allocates
// what they say first: a list in the footer is made with its stated
// length (a 37-byte file that claims 2^28 schema elements made it ask for
// 24 GiB: "fatal error: runtime: out of memory", which recover cannot
// catch), a page's buffers with its stated compressed and uncompressed
// sizes (up to 2 GiB each) and its levels, values and offsets with its
// stated number of values (4 to 8 GiB for 2^30 values). So Halo checks
// what its writer always produces and a corrupt file may lie about: the
// footer's encoding and the decoder's allocations for it, then each column
// chunk's place in the file and each of its pages' headers, whose sizes
// and counts must fit the chunk, the row group and the column's type.

// maxRowGroupRows bounds the rows of a row group. The writer makes row
// groups of at most rowGroupRows (256k) rows; four times that leaves room
// for a future writer with larger row groups.
const maxRowGroupRows = 4 * rowGroupRows

// maxChunkBytes bounds the uncompressed size of one column chunk. A
// number column takes at most 16 bytes a row (maxFixedPageBytes) in at
// most maxRowGroupRows rows, 16 MiB; a string column, its dictionary of
// distinct values besides: 256 MiB would take a million distinct device
// names of 240 bytes.
const maxChunkBytes = 256 << 20

// maxFooterAlloc bounds what decoding a footer may allocate
// (thriftWalk's estimate). A features file's footer costs some 140 kB by
// that estimate and 80 kB more a row group (30 column chunks and their
// lists; 32 times the footer's bytes), so 256 MiB is some 3,000 row
// groups, 800 million rows in one file: ReadFeatures holds every row in
// memory, some 300 bytes each, so such a file could not be read anyway.
const maxFooterAlloc = 256 << 20

// maxThriftDepth bounds the nesting of a footer's or page header's
// structs, lists and maps: Parquet's go six deep; the decoder skips
// unknown nested fields recursively.
const maxThriftDepth = 32

// thriftStructCost is what the decoder may allocate for a struct of the
// Parquet format: the largest, format.ColumnChunk (TestThriftStructCost).
const thriftStructCost = int64(unsafe.Sizeof(format.ColumnChunk{}))

// errThrift is a malformed or implausible thrift encoding.
var errThrift = errors.New("malformed thrift")

// thriftWalk reads the compact-protocol struct at the start of b without
// decoding it and returns its length in bytes and an upper bound on what
// parquet-go's decoder allocates for it: every struct (list element or
// field) as the largest struct of the format, every list, set or map
// element as a slice, every string or binary as its bytes and a slice
// header. Every list, binary and struct it states must be in b, so the
// bound is at most thriftStructCost times len(b).
func thriftWalk(b []byte) (n int, cost int64, err error) {
	r := (&thrift.CompactProtocol{}).NewReaderFromBytes(b)
	w := thriftWalker{r: r}
	if err := w.structure(0); err != nil {
		return 0, 0, err
	}
	return r.BytesRead(), w.cost, nil
}

type thriftWalker struct {
	r    thrift.BytesReader
	cost int64
}

func (w *thriftWalker) structure(depth int) error {
	if depth > maxThriftDepth {
		return fmt.Errorf("%w: nested more than %d deep", errThrift, maxThriftDepth)
	}
	w.cost += thriftStructCost
	for {
		f, err := w.r.ReadField()
		if err != nil {
			return fmt.Errorf("%w: %w", errThrift, err)
		}
		if f.Type == thrift.STOP {
			return nil
		}
		// Compact encodes a bool field's value in its type.
		if f.Type == thrift.TRUE || f.Type == thrift.FALSE {
			continue
		}
		if err := w.value(f.Type, depth); err != nil {
			return err
		}
	}
}

func (w *thriftWalker) value(t thrift.Type, depth int) error {
	var err error
	switch t {
	case thrift.TRUE, thrift.FALSE: // a list element: one byte
		_, err = w.r.ReadBool()
	case thrift.I8:
		_, err = w.r.ReadInt8()
	case thrift.I16:
		_, err = w.r.ReadInt16()
	case thrift.I32:
		_, err = w.r.ReadInt32()
	case thrift.I64:
		_, err = w.r.ReadInt64()
	case thrift.DOUBLE:
		_, err = w.r.ReadFloat64()
	case thrift.UUID:
		if _, err = w.r.ReadFloat64(); err == nil {
			_, err = w.r.ReadFloat64()
		}
	case thrift.BINARY:
		var v []byte
		v, err = w.r.ReadBytes() // a bytes reader checks the length
		w.cost += int64(len(v)) + 24
	case thrift.LIST, thrift.SET:
		var l thrift.List
		if l, err = w.r.ReadList(); err == nil {
			return w.elements(int64(l.Size), depth, l.Type)
		}
	case thrift.MAP:
		var m thrift.Map
		if m, err = w.r.ReadMap(); err == nil {
			return w.elements(int64(m.Size), depth, m.Key, m.Value)
		}
	case thrift.STRUCT:
		return w.structure(depth + 1)
	default:
		return fmt.Errorf("%w: type %d", errThrift, t)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errThrift, err)
	}
	return nil
}

// elements walks n elements of the types ts (a list's one, a map's two).
// Each takes at least a byte, so a list cannot state more elements than
// there are bytes left; the walk stops at the first that is not there.
func (w *thriftWalker) elements(n int64, depth int, ts ...thrift.Type) error {
	if depth+1 > maxThriftDepth {
		return fmt.Errorf("%w: nested more than %d deep", errThrift, maxThriftDepth)
	}
	if n < 0 {
		return fmt.Errorf("%w: %d elements", errThrift, n)
	}
	for range n {
		for _, t := range ts {
			if t == thrift.STOP {
				return fmt.Errorf("%w: a container of STOP", errThrift)
			}
			w.cost += 24
			if err := w.value(t, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkFooter checks a file's framing and footer before parquet-go reads
// them: the magic numbers (Halo writes no encrypted files), a footer that
// fits the file, is one well-formed FileMetaData to its last byte, and
// whose decoding allocates at most maxFooterAlloc.
func checkFooter(b []byte) error {
	if len(b) < 12 || string(b[:4]) != "PAR1" || string(b[len(b)-4:]) != "PAR1" {
		return fmt.Errorf("%w: not a Parquet file (no PAR1 at its start and end)", ErrFormat)
	}
	n := int64(binary.LittleEndian.Uint32(b[len(b)-8:]))
	if n > int64(len(b))-12 {
		return fmt.Errorf("%w: a footer of %d bytes in a file of %d", ErrFormat, n, len(b))
	}
	foot := b[int64(len(b))-8-n : len(b)-8]
	m, cost, err := thriftWalk(foot)
	if err != nil {
		return fmt.Errorf("%w: footer: %w", ErrFormat, err)
	}
	if m != len(foot) {
		return fmt.Errorf("%w: footer: %d bytes after its metadata", ErrFormat, len(foot)-m)
	}
	if cost > maxFooterAlloc {
		return fmt.Errorf("%w: footer: decoding it would take %d MiB (at most %d)", ErrFormat, cost>>20, maxFooterAlloc>>20)
	}
	return nil
}

// maxFixedPageBytes bounds the uncompressed size of a page of n values
// that are not variable-length strings: the values of the fixed-width
// columns (8 bytes for a double or a timestamp, plain or
// DELTA_BINARY_PACKED: its 128-value blocks take at most 8 bytes a value
// and 14 bytes of header, and the writer pads a block's miniblocks, so a
// page of one value takes about 1 kB), of a dictionary-encoded column (an
// index of at most 4 bytes), a boolean column (a bit), with their
// definition levels (at most a byte a value). 16 bytes a value and 4 kB
// is twice what any such page takes.
func maxFixedPageBytes(n int64) int64 { return 16*n + 4096 }

// maxStringRatio bounds how much a page of strings (a dictionary page,
// whose values are distinct, or a plain page of strings) may grow when
// decompressed: zstd shrinks distinct device names a few times; it takes
// values of hundreds of bytes that differ in a byte or two to come near
// 256 (each value costs zstd some 3 bytes however long its match). The
// 64 kB more lets small pages be anything.
const maxStringRatio = 256

func maxStringPageBytes(compressed int64) int64 { return maxStringRatio*compressed + 64<<10 }

// checkChunks checks each row group and each of its column chunks
// against what Halo's writer makes, then walks each chunk's pages as
// parquet-go will (from its dictionary page, else its first data page, to
// its end) and checks their headers. Every rejection names the column and
// what is wrong.
func checkChunks(md *format.FileMetaData, b []byte) error {
	foot := int64(len(b)) - 8 - int64(binary.LittleEndian.Uint32(b[len(b)-8:]))
	var rows int64
	for g := range md.RowGroups {
		rg := &md.RowGroups[g]
		if rg.NumRows < 0 || rg.NumRows > maxRowGroupRows {
			return fmt.Errorf("%w: row group %d has %d rows (at most %d; Halo writes %d)", ErrFormat, g, rg.NumRows, maxRowGroupRows, rowGroupRows)
		}
		rows += rg.NumRows
		for i := range rg.Columns {
			if err := checkChunk(&rg.Columns[i].MetaData, rg.NumRows, b[:foot]); err != nil {
				return fmt.Errorf("%w: row group %d, column %v: %w", ErrFormat, g, rg.Columns[i].MetaData.PathInSchema, err)
			}
		}
	}
	if rows != md.NumRows {
		return fmt.Errorf("%w: the file has %d rows, its row groups %d", ErrFormat, md.NumRows, rows)
	}
	return nil
}

// checkChunk checks one column chunk of a row group of rows rows in data
// (the file before its footer).
func checkChunk(md *format.ColumnMetaData, rows int64, data []byte) error {
	if md.Codec != format.Zstd && md.Codec != format.Uncompressed {
		// parquet-go's LZ4 decoder doubles its buffer until the process
		// runs out of memory on a corrupt block.
		return fmt.Errorf("%v-compressed, Halo writes zstd", md.Codec)
	}
	// Halo's columns are flat, neither repeated nor nested: a value (or
	// a null) a row.
	if md.NumValues != rows {
		return fmt.Errorf("%d values in %d rows", md.NumValues, rows)
	}
	start := md.DataPageOffset
	if md.DictionaryPageOffset != 0 {
		if md.DictionaryPageOffset > md.DataPageOffset {
			return fmt.Errorf("dictionary at %d after the data at %d", md.DictionaryPageOffset, md.DataPageOffset)
		}
		start = md.DictionaryPageOffset
	}
	if start < 4 || md.TotalCompressedSize < 0 || md.TotalCompressedSize > int64(len(data))-start {
		return fmt.Errorf("%d bytes at %d, past the %d bytes of data", md.TotalCompressedSize, start, len(data))
	}
	if md.TotalUncompressedSize < 0 || md.TotalUncompressedSize > maxChunkBytes {
		return fmt.Errorf("%d bytes uncompressed (at most %d)", md.TotalUncompressedSize, maxChunkBytes)
	}
	chunk := data[start : start+md.TotalCompressedSize]
	var pos, values, uncompressed int64
	dataSeen := false
	for p := 0; pos < int64(len(chunk)); p++ {
		dataSeen = dataSeen || start+pos == md.DataPageOffset
		n, h, err := readPageHeader(chunk[pos:])
		if err != nil {
			return fmt.Errorf("page %d at %d: %w", p, start+pos, err)
		}
		if err := checkPage(md, h, p, start+pos == md.DataPageOffset, rows); err != nil {
			return fmt.Errorf("page %d at %d: %w", p, start+pos, err)
		}
		pos += int64(n)
		if int64(h.CompressedPageSize) > int64(len(chunk))-pos {
			return fmt.Errorf("page %d at %d: %d bytes, past the chunk's end (%d bytes left)", p, start+pos-int64(n), h.CompressedPageSize, int64(len(chunk))-pos)
		}
		if md.Codec == format.Zstd {
			body, size := chunk[pos:pos+int64(h.CompressedPageSize)], int64(h.UncompressedPageSize)
			compressed := true
			if v := &h.DataPageHeaderV2; v.Valid {
				levels := int64(v.V.DefinitionLevelsByteLength) + int64(v.V.RepetitionLevelsByteLength)
				body, size = body[levels:], size-levels
				compressed = !v.V.IsCompressed.Valid || v.V.IsCompressed.V
			}
			if compressed {
				if err := checkZstd(body, size); err != nil {
					return fmt.Errorf("page %d at %d: %w", p, start+pos-int64(n), err)
				}
			}
		}
		pos += int64(h.CompressedPageSize)
		uncompressed += int64(n) + int64(h.UncompressedPageSize)
		if h.Type == format.DataPageV2 {
			values += int64(h.DataPageHeaderV2.V.NumValues)
		} else if h.Type == format.DataPage {
			values += int64(h.DataPageHeader.V.NumValues)
		}
	}
	if !dataSeen {
		return fmt.Errorf("no page starts at its data page offset %d", md.DataPageOffset)
	}
	if values != md.NumValues {
		return fmt.Errorf("its pages hold %d values, it claims %d", values, md.NumValues)
	}
	if uncompressed != md.TotalUncompressedSize {
		return fmt.Errorf("its pages take %d bytes uncompressed, it claims %d", uncompressed, md.TotalUncompressedSize)
	}
	return nil
}

// readPageHeader reads the page header at the start of b (the rest of its
// chunk): its length and the header.
func readPageHeader(b []byte) (int, *format.PageHeader, error) {
	n, _, err := thriftWalk(b)
	if err != nil {
		return 0, nil, fmt.Errorf("page header: %w", err)
	}
	h := new(format.PageHeader)
	if err := thrift.Unmarshal(&thrift.CompactProtocol{}, b[:n], h); err != nil {
		return 0, nil, fmt.Errorf("page header: %w", err)
	}
	return n, h, nil
}

// checkPage checks the header of page p of a column chunk (md) of a row
// group of rows rows; data: the page starts at the chunk's data page
// offset.
func checkPage(md *format.ColumnMetaData, h *format.PageHeader, p int, data bool, rows int64) error {
	if h.CompressedPageSize < 0 || h.UncompressedPageSize < 0 {
		return fmt.Errorf("%d bytes, %d uncompressed", h.CompressedPageSize, h.UncompressedPageSize)
	}
	if md.Codec == format.Uncompressed && h.CompressedPageSize != h.UncompressedPageSize {
		return fmt.Errorf("uncompressed, but %d bytes stored for %d", h.CompressedPageSize, h.UncompressedPageSize)
	}
	var n int64 // values
	strings := md.Type == format.ByteArray || md.Type == format.FixedLenByteArray
	var enc format.Encoding
	switch h.Type {
	case format.DictionaryPage:
		if !h.DictionaryPageHeader.Valid || p != 0 || data {
			return errors.New("a dictionary page that is not the chunk's first page")
		}
		n, enc = int64(h.DictionaryPageHeader.V.NumValues), h.DictionaryPageHeader.V.Encoding
		if n < 0 || n > rows {
			return fmt.Errorf("a dictionary of %d values in %d rows", n, rows)
		}
		if enc != format.Plain && enc != format.PlainDictionary {
			return fmt.Errorf("a %v-encoded dictionary", enc)
		}
	case format.DataPage:
		v := &h.DataPageHeader
		if !v.Valid {
			return errors.New("a data page without its header")
		}
		n, enc = int64(v.V.NumValues), v.V.Encoding
	case format.DataPageV2:
		v := &h.DataPageHeaderV2
		if !v.Valid {
			return errors.New("a data page without its header")
		}
		n, enc = int64(v.V.NumValues), v.V.Encoding
		if v.V.NumNulls < 0 || int64(v.V.NumNulls) > n || int64(v.V.NumRows) != n {
			return fmt.Errorf("%d values, %d nulls, %d rows", n, v.V.NumNulls, v.V.NumRows)
		}
		levels := int64(v.V.DefinitionLevelsByteLength) + int64(v.V.RepetitionLevelsByteLength)
		if v.V.DefinitionLevelsByteLength < 0 || v.V.RepetitionLevelsByteLength < 0 || levels > int64(h.CompressedPageSize) || levels > int64(h.UncompressedPageSize) {
			return fmt.Errorf("%d bytes of levels in a page of %d (%d uncompressed)", levels, h.CompressedPageSize, h.UncompressedPageSize)
		}
	default:
		return fmt.Errorf("a %v page, Halo writes dictionary and data pages", h.Type)
	}
	if h.Type != format.DictionaryPage && (n < 0 || n > rows) {
		return fmt.Errorf("%d values in a row group of %d rows", n, rows)
	}
	limit := maxFixedPageBytes(n)
	if strings && (h.Type == format.DictionaryPage || enc != format.RLEDictionary && enc != format.PlainDictionary) {
		limit = maxStringPageBytes(int64(h.CompressedPageSize))
	}
	if int64(h.UncompressedPageSize) > limit {
		return fmt.Errorf("%d bytes uncompressed for %d values stored in %d (at most %d)", h.UncompressedPageSize, n, h.CompressedPageSize, limit)
	}
	return nil
}

// zstdBlockMax is the most a zstd block decodes to (Block_Maximum_Size).
const zstdBlockMax = 128 << 10

// checkZstd checks that the zstd frames of a page, which its header says
// decode to size bytes, cannot decode to much more: parquet-go's decoder
// takes whatever they decode to, so a few kB of RLE blocks would become
// 128 MiB (4 bytes a block of 128 kB). It walks the frames' and blocks'
// headers without decoding: a raw or RLE block decodes to its stated
// size, a compressed block to at most 128 kB. The writer's encoder
// (klauspost's, at its fastest level) cuts pages into blocks of 64 kB, so
// a page of size bytes takes ceil(size/64 kB) blocks, which may decode to
// less than 2×size + 128 kB; the check allows twice that (blocks down to
// 32 kB), 4×size + 256 kB. A frame's stated content size is at most size.
func checkZstd(b []byte, size int64) error {
	var max int64 // what the blocks may decode to
	for len(b) > 0 {
		if len(b) < 8 {
			return fmt.Errorf("zstd: %d bytes after the last frame", len(b))
		}
		magic := binary.LittleEndian.Uint32(b)
		if magic&^0xf == 0x184d2a50 { // a skippable frame
			n := int64(binary.LittleEndian.Uint32(b[4:]))
			if n > int64(len(b))-8 {
				return fmt.Errorf("zstd: a skippable frame of %d bytes, %d left", n, len(b)-8)
			}
			b = b[8+n:]
			continue
		}
		if magic != 0xfd2fb528 {
			return fmt.Errorf("zstd: no frame (magic %#x)", magic)
		}
		fhd := b[4]
		if fhd&0x08 != 0 {
			return errors.New("zstd: a reserved bit set")
		}
		single := fhd&0x20 != 0
		at := 5
		if !single {
			at++ // the window descriptor
		}
		at += []int{0, 1, 2, 4}[fhd&3] // dictionary id
		fcsBytes := []int{0, 2, 4, 8}[fhd>>6]
		if fhd>>6 == 0 && single {
			fcsBytes = 1
		}
		if at+fcsBytes > len(b) {
			return errors.New("zstd: a truncated frame header")
		}
		if fcsBytes > 0 {
			var fcs uint64
			switch fcsBytes {
			case 1:
				fcs = uint64(b[at])
			case 2:
				fcs = uint64(binary.LittleEndian.Uint16(b[at:])) + 256
			case 4:
				fcs = uint64(binary.LittleEndian.Uint32(b[at:]))
			case 8:
				fcs = binary.LittleEndian.Uint64(b[at:])
			}
			if fcs > uint64(size) {
				return fmt.Errorf("zstd: a frame of %d bytes in a page of %d", fcs, size)
			}
		}
		b = b[at+fcsBytes:]
		for last := false; !last; {
			if len(b) < 3 {
				return errors.New("zstd: a truncated block header")
			}
			h := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
			b = b[3:]
			last = h&1 != 0
			n := int64(h >> 3)
			stored := n
			switch (h >> 1) & 3 {
			case 0: // raw
				max += n
			case 1: // RLE: one byte, n times
				max += n
				stored = 1
			case 2:
				max += zstdBlockMax
			default:
				return errors.New("zstd: a reserved block type")
			}
			if n > zstdBlockMax || stored > int64(len(b)) {
				return fmt.Errorf("zstd: a block of %d bytes, %d left", n, len(b))
			}
			b = b[stored:]
		}
		if fhd&0x04 != 0 { // content checksum
			if len(b) < 4 {
				return errors.New("zstd: a truncated checksum")
			}
			b = b[4:]
		}
		if max > 4*size+2*zstdBlockMax {
			return fmt.Errorf("zstd: blocks that may decode to %d bytes in a page of %d", max, size)
		}
	}
	return nil
}
