package export

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// The helpers below make corrupt features files from a good one: a file
// that lies about one thing, and is otherwise what the writer made.

// splitFeatureFile returns a file's bytes before its footer and its
// decoded footer.
func splitFeatureFile(t testing.TB, b []byte) ([]byte, *format.FileMetaData) {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	var md format.FileMetaData
	if err := thrift.Unmarshal(&thrift.CompactProtocol{}, b[len(b)-8-n:len(b)-8], &md); err != nil {
		t.Fatal(err)
	}
	return b[:len(b)-8-n], &md
}

// joinFeatureFile appends the footer md to body.
func joinFeatureFile(t testing.TB, body []byte, md *format.FileMetaData) []byte {
	t.Helper()
	foot, err := thrift.Marshal(&thrift.CompactProtocol{}, md)
	if err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte(nil), body...), foot...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(foot)))
	return append(out, "PAR1"...)
}

// withFooter returns b with its footer edited.
func withFooter(t testing.TB, b []byte, edit func(*format.FileMetaData)) []byte {
	t.Helper()
	body, md := splitFeatureFile(t, b)
	edit(md)
	return joinFeatureFile(t, body, md)
}

// withPageHeader returns b with the header of page p (0: the first,
// dictionary or data) of column col in the first row group edited and
// re-encoded, the offsets after it and the chunk's compressed size moved
// by the change in the page's length. The page index is dropped (its
// offsets would be stale).
func withPageHeader(t testing.TB, b []byte, col, p int, edit func(*format.PageHeader)) []byte {
	t.Helper()
	return withPage(t, b, col, p, func(h *format.PageHeader, body []byte) []byte {
		edit(h)
		return body
	})
}

// withPage is withPageHeader that may also replace the page's bytes
// (edit returns them; the header's compressed size follows).
func withPage(t testing.TB, b []byte, col, p int, edit func(*format.PageHeader, []byte) []byte) []byte {
	t.Helper()
	body, md := splitFeatureFile(t, b)
	c := &md.RowGroups[0].Columns[col].MetaData
	pos := c.DataPageOffset
	if c.DictionaryPageOffset != 0 {
		pos = c.DictionaryPageOffset
	}
	var h format.PageHeader
	var n int64
	for i := 0; ; i++ {
		r := (&thrift.CompactProtocol{}).NewReaderFromBytes(body[pos:])
		h = format.PageHeader{}
		if err := thrift.NewDecoder(r).Decode(&h); err != nil {
			t.Fatal(err)
		}
		n = int64(r.BytesRead())
		if i == p {
			break
		}
		pos += n + int64(h.CompressedPageSize)
	}
	old := body[pos+n : pos+n+int64(h.CompressedPageSize)]
	page := edit(&h, old)
	if len(page) != len(old) {
		h.CompressedPageSize = int32(len(page))
		if h.CRC != 0 {
			h.CRC = int32(crc32.ChecksumIEEE(page))
		}
	}
	enc, err := thrift.Marshal(&thrift.CompactProtocol{}, &h)
	if err != nil {
		t.Fatal(err)
	}
	d := int64(len(enc)) - n
	out := append(append(append([]byte(nil), body[:pos]...), enc...), body[pos+n:]...)
	if len(page) != len(old) {
		at := pos + int64(len(enc))
		out = append(append(append([]byte(nil), out[:at]...), page...), out[at+int64(len(old)):]...)
		d += int64(len(page) - len(old))
	}
	move := func(off *int64) {
		if *off > pos {
			*off += d
		}
	}
	for i := range md.RowGroups {
		for j := range md.RowGroups[i].Columns {
			cc := &md.RowGroups[i].Columns[j]
			cc.ColumnIndexOffset, cc.ColumnIndexLength, cc.OffsetIndexOffset, cc.OffsetIndexLength = 0, 0, 0, 0
			move(&cc.MetaData.DataPageOffset)
			move(&cc.MetaData.DictionaryPageOffset)
		}
	}
	c.TotalCompressedSize += d
	c.TotalUncompressedSize += int64(len(enc)) - n
	return joinFeatureFile(t, out, md)
}
