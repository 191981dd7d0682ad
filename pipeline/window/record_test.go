package window_test

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/halo-sec/halo/pipeline/window"
)

// ipcOf serializes b alone.
func ipcOf(t *testing.T, b arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	wr := ipc.NewWriter(&buf, ipc.WithSchema(b.Schema()))
	if err := wr.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A window's record batch behaves as arrow-go's record batch of the same
// columns: schema, rows, columns and names, IPC bytes, JSON, slices and
// SetColumn; references taken on several goroutines are dropped there and
// every byte goes back.
func TestWindowRecord(t *testing.T) {
	mem := checked(t)
	a := newAssembler(t, window.Config{Size: 10 * time.Second, Lateness: 5 * time.Second}, 3, mem)
	for _, ev := range randomLog(rand.New(rand.NewPCG(11, 7)), 3000) {
		a.Add(&ev)
	}
	a.Flush()
	ws := a.Closed()
	if len(ws) < 20 {
		t.Fatalf("%d windows", len(ws))
	}
	for i, w := range ws {
		b := w.Batch
		ref := array.NewRecordBatch(window.Schema, b.Columns(), b.NumRows())
		if !b.Schema().Equal(ref.Schema()) || b.NumRows() != ref.NumRows() || b.NumCols() != ref.NumCols() || len(b.Columns()) != window.NumCols {
			t.Fatalf("window %d: schema, rows or columns differ from arrow-go's", i)
		}
		for c := range window.NumCols {
			if b.Column(c) != ref.Column(c) || b.ColumnName(c) != ref.ColumnName(c) {
				t.Fatalf("window %d: column %d differs", i, c)
			}
		}
		if !bytes.Equal(ipcOf(t, b), ipcOf(t, ref)) {
			t.Fatalf("window %d: IPC bytes differ from arrow-go's record batch", i)
		}
		j1, err1 := b.MarshalJSON()
		j2, err2 := ref.MarshalJSON()
		if err1 != nil || err2 != nil || !bytes.Equal(j1, j2) {
			t.Fatalf("window %d: JSON differs (%v, %v)", i, err1, err2)
		}
		if n := b.NumRows(); n > 1 {
			s1, s2 := b.NewSlice(1, n), ref.NewSlice(1, n)
			if !array.RecordEqual(s1, s2) {
				t.Fatalf("window %d: slices differ", i)
			}
			s1.Release()
			s2.Release()
		}
		col := ref.Column(window.ColTime)
		r1, err1 := b.SetColumn(window.ColTime, col)
		r2, err2 := ref.SetColumn(window.ColTime, col)
		if err1 != nil || err2 != nil || !array.RecordEqual(r1, r2) {
			t.Fatalf("window %d: SetColumn differs (%v, %v)", i, err1, err2)
		}
		if _, err := b.SetColumn(window.ColTime, ref.Column(window.ColID)); err == nil {
			t.Fatalf("window %d: SetColumn took a column of another type", i)
		}
		r1.Release()
		r2.Release()
		ref.Release()
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		for range 3 {
			w.Batch.Retain()
			wg.Go(func() {
				_ = w.Batch.Column(window.ColDevice).Len()
				w.Batch.Release()
			})
		}
	}
	wg.Wait()
	releaseAll(ws)
}
