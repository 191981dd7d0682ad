package window_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/pipeline/window"
)

// counting counts the allocations of an allocator of at least 64 KiB.
type counting struct {
	memory.Allocator
	n atomic.Int64
}

func (c *counting) Allocate(size int) []byte {
	if size >= 64<<10 {
		c.n.Add(1)
	}
	return c.Allocator.Allocate(size)
}

// consume serializes a window's batch and releases the window.
func consume(t *testing.T, w *window.Window) []byte {
	var buf bytes.Buffer
	wr := ipc.NewWriter(&buf, ipc.WithSchema(window.Schema))
	if err := wr.Write(w.Batch); err != nil {
		t.Error(err)
	}
	if err := wr.Close(); err != nil {
		t.Error(err)
	}
	w.Release()
	return buf.Bytes()
}

// With Config.Recycle, windows released on another goroutine while the
// assembler runs lend their memory to later windows, and every batch is
// still byte for byte the batch of an assembler that does not recycle;
// every byte goes back to the allocator.
func TestRecycle(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			evs := randomLog(rand.New(rand.NewPCG(seed, 7)), 4000)
			run := func(cfg window.Config, concurrent bool) [][]byte {
				a := newAssembler(t, cfg, 3, checked(t))
				var out [][]byte
				ch := make(chan *window.Window, 64)
				done := make(chan struct{})
				go func() {
					for w := range ch {
						out = append(out, consume(t, w))
					}
					close(done)
				}()
				collect := func() {
					for _, w := range a.Closed() {
						if concurrent {
							ch <- w
						} else {
							out = append(out, consume(t, w))
						}
					}
				}
				for i := range evs {
					a.Add(&evs[i])
					collect()
				}
				a.Flush()
				collect()
				close(ch)
				<-done
				return out
			}
			cfg := window.Config{Size: 10 * time.Second, Lateness: 5 * time.Second}
			want := run(cfg, false)
			cfg.Recycle = true
			for _, concurrent := range []bool{false, true} {
				got := run(cfg, concurrent)
				if len(want) < 100 || len(got) != len(want) {
					t.Fatalf("%d windows recycling, %d not", len(got), len(want))
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("window %d differs when recycling (concurrent %v)", i, concurrent)
					}
				}
			}
		})
	}
}

// Windows of the same size, each released before the next closes, all use
// the first one's memory.
func TestRecycleReuses(t *testing.T) {
	evs := fleet(20, 600, time.Second) // ten 60 s windows of 1200 rows
	for _, recycle := range []bool{false, true} {
		mem := &counting{Allocator: checked(t)}
		a := newAssembler(t, window.Config{Recycle: recycle}, 1, mem)
		n := 0
		for i := range evs {
			a.Add(&evs[i])
			for _, w := range a.Closed() {
				consume(t, w)
				n++
			}
		}
		a.Flush()
		for _, w := range a.Closed() {
			consume(t, w)
			n++
		}
		switch got := mem.n.Load(); {
		case n < 9:
			t.Fatalf("%d windows", n)
		case !recycle && got != int64(n):
			t.Errorf("%d large allocations for %d windows", got, n)
		case recycle && got > 2:
			t.Errorf("%d large allocations for %d windows, recycling", got, n)
		}
	}
}

// A column retained past its window's release keeps the window's memory:
// with Config.Recycle, the later windows do not get it, and the column
// (values, nulls, offsets) reads as it did, until it is released too;
// then every byte goes back.
func TestRecycleKeepsRetainedColumns(t *testing.T) {
	evs := randomLog(rand.New(rand.NewPCG(5, 7)), 4000)
	a := newAssembler(t, window.Config{Size: 10 * time.Second, Lateness: 5 * time.Second, Recycle: true}, 3, checked(t))
	type kept struct {
		col, copied arrow.Array
		name        string
	}
	var keep []kept
	collect := func() {
		for _, w := range a.Closed() {
			k := len(keep) % window.NumCols
			col := w.Batch.Column(k)
			copied, err := array.Concatenate([]arrow.Array{col}, memory.NewGoAllocator())
			if err != nil {
				t.Fatal(err)
			}
			col.Retain()
			keep = append(keep, kept{col, copied, window.Schema.Field(k).Name})
			w.Release()
		}
	}
	for i := range evs {
		a.Add(&evs[i])
		collect()
	}
	a.Flush()
	collect()
	if len(keep) < 100 {
		t.Fatalf("%d windows", len(keep))
	}
	for i, k := range keep {
		if !array.Equal(k.col, k.copied) {
			t.Errorf("window %d: retained column %s changed after the window's release", i, k.name)
		}
		k.col.Release()
		k.copied.Release()
	}
}

// In tests, a recycled window's memory is overwritten when it is released,
// so a consumer that keeps a view into it (here a destination string) sees
// garbage at once: every test that runs the pipeline, which recycles, then
// catches such a consumer.
func TestRecycledMemoryIsPoisoned(t *testing.T) {
	evs := fleet(3, 100, time.Second)
	for _, recycle := range []bool{false, true} {
		a := newAssembler(t, window.Config{Recycle: recycle}, 1, checked(t))
		var w *window.Window
		for i := range evs {
			a.Add(&evs[i])
			if ws := a.Closed(); len(ws) > 0 {
				w = ws[0]
				for _, other := range ws[1:] {
					other.Release()
				}
				break
			}
		}
		if w == nil {
			t.Fatal("no window closed")
		}
		hosts := w.Batch.Column(window.ColDstHost).(*array.String)
		kept, copied := "", ""
		for i := range hosts.Len() {
			if hosts.IsValid(i) {
				kept = hosts.Value(i)
				copied = strings.Clone(kept)
				break
			}
		}
		if copied == "" {
			t.Fatal("the window has no destination host")
		}
		w.Release()
		if poisoned := kept != copied; poisoned != recycle {
			t.Errorf("recycling %v: a string kept past Release reads %q (was %q)", recycle, kept, copied)
		}
		a.Release()
	}
}

// The arrays of a batch are made of Data from one allocation per window
// (Data.Reset, not array.NewData), and its numeric and utf8 arrays are
// zero arrays made by Reset: every column of a random log's windows,
// large ones and small ones (where many columns are all null or constant),
// passes arrow-go's full validation, equals the array arrow-go makes of the
// same buffers, and a slice of it taken before the window's release stays
// whole after it (the slice's Data holds the slab), while the window's
// memory is recycled and poisoned under it.
func TestBatchArraysWellFormed(t *testing.T) {
	for _, size := range []time.Duration{10 * time.Second, 100 * time.Millisecond} {
		t.Run(size.String(), func(t *testing.T) { testBatchArraysWellFormed(t, size) })
	}
}

func testBatchArraysWellFormed(t *testing.T, size time.Duration) {
	evs := randomLog(rand.New(rand.NewPCG(11, 13)), 3000)
	a := newAssembler(t, window.Config{Size: size, Lateness: size / 2, Recycle: true}, 2, checked(t))
	type kept struct {
		slice, copied arrow.Array
		name          string
	}
	var keep []kept
	windows := 0
	collect := func() {
		for _, w := range a.Closed() {
			windows++
			n := int(w.Batch.NumRows())
			for k, col := range w.Batch.Columns() {
				name := window.Schema.Field(k).Name
				if err := array.ValidateFull(col); err != nil {
					t.Fatalf("window %d: column %s: %v", windows, name, err)
				}
				d := col.Data()
				pd := array.NewDataWithDictionary(d.DataType(), d.Len(), d.Buffers(), d.NullN(), d.Offset(), dictOf(d))
				plain := array.MakeFromData(pd)
				pd.Release()
				if !array.Equal(col, plain) || col.Len() != n || reflect.TypeOf(col) != reflect.TypeOf(plain) {
					t.Fatalf("window %d: column %s (%T) differs from arrow-go's array of its buffers (%T)", windows, name, col, plain)
				}
				if col.String() != plain.String() || col.NullN() != plain.NullN() {
					t.Fatalf("window %d: column %s prints %s, arrow-go's array %s", windows, name, col, plain)
				}
				plain.Release()
				if (windows+k)%7 == 0 {
					s := array.NewSlice(col, int64(n/2), int64(n))
					c, err := array.Concatenate([]arrow.Array{s}, memory.NewGoAllocator())
					if err != nil {
						t.Fatal(err)
					}
					keep = append(keep, kept{s, c, name})
				}
			}
			w.Release()
		}
	}
	for lo := 0; lo < len(evs); lo += 100 {
		a.AddBatch(evs[lo:min(lo+100, len(evs))], nil)
		collect()
	}
	a.Flush()
	collect()
	if windows < 50 || len(keep) < 50 {
		t.Fatalf("%d windows, %d slices", windows, len(keep))
	}
	for i, k := range keep {
		if !array.Equal(k.slice, k.copied) {
			t.Errorf("slice %d of column %s changed after its window's release", i, k.name)
		}
		k.slice.Release()
		k.copied.Release()
	}
}

// dictOf returns d's dictionary as *array.Data, or nil.
func dictOf(d arrow.ArrayData) *array.Data {
	if dict, ok := d.Dictionary().(*array.Data); ok && dict != nil {
		return dict
	}
	return nil
}
