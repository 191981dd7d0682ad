package window_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/pipeline/window"
)

// counts reads the counts of window.OwnedCounts.
func counts(ps []*atomic.Int64) []int64 {
	var out []int64
	for _, p := range ps {
		if p != nil {
			out = append(out, p.Load())
		}
	}
	return out
}

// A window that no consumer retained anything of is freed by its record
// at once (its arrays' counts are left as build made them), its memory
// recycled (and poisoned) for later windows; every byte goes back.
func TestReleaseWithoutRetention(t *testing.T) {
	for _, recycle := range []bool{false, true} {
		t.Run(fmt.Sprint("recycle=", recycle), func(t *testing.T) {
			evs := randomLog(rand.New(rand.NewPCG(21, 7)), 3000)
			a := newAssembler(t, window.Config{Size: 2 * time.Second, Lateness: time.Second, Recycle: recycle}, 2, checked(t))
			windows, owned := 0, 0
			collect := func() {
				for _, w := range a.Closed() {
					windows++
					cs := window.OwnedCounts(w)
					owned += len(counts(cs))
					w.Release()
					for i, c := range counts(cs) {
						if c != 1 {
							t.Fatalf("window %d: owned array %d has count %d after a release without retention (want 1: the record's release)", windows, i, c)
						}
					}
				}
			}
			for i := range evs {
				a.Add(&evs[i])
				collect()
			}
			a.Flush()
			collect()
			if windows < 100 || owned < 5*windows {
				t.Fatalf("%d windows, %d owned arrays", windows, owned)
			}
		})
	}
}

// A consumer that holds a reference to part of a window past its release
// (the column, its Data, its values buffer, a slice, a dictionary's
// indices, the slab) keeps what it holds intact while the window's memory
// is recycled, poisoned and reused under it, and the window's other
// columns are released as arrow-go's record releases them; every byte
// goes back once it lets go.
func TestReleaseWithRetention(t *testing.T) {
	type hold struct {
		name string
		// keep takes a reference to part of col (of n rows) and returns
		// what to compare later and how to let go.
		keep func(col arrow.Array) (view func() []byte, release func())
	}
	bytesOf := func(b *memory.Buffer) func() []byte { return func() []byte { return b.Bytes() } }
	last := func(col arrow.Array) *memory.Buffer { bufs := col.Data().Buffers(); return bufs[len(bufs)-1] }
	jsonOf := func(a arrow.Array) func() []byte {
		return func() []byte {
			j, err := a.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			return j
		}
	}
	holds := []hold{
		{"column", func(col arrow.Array) (func() []byte, func()) {
			col.Retain()
			return jsonOf(col), col.Release
		}},
		{"data", func(col arrow.Array) (func() []byte, func()) {
			a := array.MakeFromData(col.Data())
			return jsonOf(a), a.Release
		}},
		{"values buffer", func(col arrow.Array) (func() []byte, func()) {
			b := last(col)
			b.Retain()
			return bytesOf(b), b.Release
		}},
		{"slice", func(col arrow.Array) (func() []byte, func()) {
			s := array.NewSlice(col, 1, int64(col.Len()))
			return jsonOf(s), s.Release
		}},
		{"indices", func(col arrow.Array) (func() []byte, func()) {
			d, ok := col.(*array.Dictionary)
			if !ok {
				return nil, nil
			}
			idx := d.Indices()
			idx.Retain()
			return jsonOf(idx), idx.Release
		}},
		{"slab", func(col arrow.Array) (func() []byte, func()) {
			p := last(col).Parent()
			if p == nil {
				return nil, nil
			}
			p.Retain()
			return bytesOf(p), p.Release
		}},
	}
	for _, h := range holds {
		t.Run(h.name, func(t *testing.T) {
			evs := randomLog(rand.New(rand.NewPCG(23, 7)), 3000)
			a := newAssembler(t, window.Config{Size: 2 * time.Second, Lateness: time.Second, Recycle: true}, 2, checked(t))
			type kept struct {
				view    func() []byte
				want    []byte
				release func()
				col     string
			}
			var keep []kept
			windows, slow := 0, 0
			collect := func() {
				for _, w := range a.Closed() {
					windows++
					cs := window.OwnedCounts(w)
					k := -1
					for i := range window.NumCols {
						c := (windows + i) % window.NumCols
						col := w.Batch.Column(c)
						if col.Len() < 2 || cs[c] == nil { // a shared column is the caches' (TestSharedArraysNeverReleased)
							continue
						}
						view, release := h.keep(col)
						if view == nil {
							continue
						}
						k = c
						keep = append(keep, kept{view, bytes.Clone(view()), release, window.Schema.Field(c).Name})
						break
					}
					w.Release()
					if k >= 0 {
						// arrow-go's release: the columns not held are dropped to 0.
						zeros := 0
						for _, c := range counts(cs) {
							if c == 0 {
								zeros++
							}
						}
						if zeros == 0 {
							t.Fatalf("window %d: holding part of column %s, the window's release left every owned array's count", windows, window.Schema.Field(k).Name)
						}
						slow++
					}
				}
			}
			for i := range evs {
				a.Add(&evs[i])
				collect()
			}
			a.Flush()
			collect()
			if slow < 50 {
				t.Fatalf("%d windows, %d with a part held", windows, slow)
			}
			for i, k := range keep {
				if got := k.view(); !bytes.Equal(got, k.want) {
					t.Fatalf("hold %d (column %s) changed after its window's release:\n%q\nwant\n%q", i, k.col, got, k.want)
				}
				k.release()
			}
		})
	}
}

// Consumers on other goroutines that hold a column while the window is
// released, and meanwhile take its Data and drop the column (the kind of
// hand-over that could slip past counts read one at a time), keep what
// they hold intact; every byte goes back.
func TestReleaseWhileConsumersHandOver(t *testing.T) {
	evs := randomLog(rand.New(rand.NewPCG(29, 7)), 4000)
	a := newAssembler(t, window.Config{Size: 2 * time.Second, Lateness: time.Second, Recycle: true}, 2, checked(t))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	collect := func() {
		for _, w := range a.Closed() {
			for c := range window.NumCols {
				col := w.Batch.Column(c)
				if col.Len() == 0 || c%3 != 0 {
					continue
				}
				col.Retain()
				want, _ := col.MarshalJSON()
				wg.Go(func() {
					d := array.MakeFromData(col.Data())
					col.Release()
					for range 3 {
						if got, _ := d.MarshalJSON(); !bytes.Equal(got, want) {
							mu.Lock()
							bad = append(bad, window.Schema.Field(c).Name)
							mu.Unlock()
						}
					}
					d.Release()
				})
			}
			w.Release()
		}
	}
	for lo := 0; lo < len(evs); lo += 50 {
		a.AddBatch(evs[lo:min(lo+50, len(evs))], nil)
		collect()
	}
	a.Flush()
	collect()
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d held columns changed under their holders (%v)", len(bad), bad[:min(5, len(bad))])
	}
}
