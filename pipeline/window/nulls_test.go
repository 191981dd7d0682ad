package window

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
)

// sparseLog makes traffic whose windows leave many columns without a value:
// each 10 s window of each device holds a few events of one or two kinds
// only (connections without transactions, as imported Zeek history; only
// transactions; only authentication failures; ...), so that every column
// is all null in some windows, for windows of many sizes.
func sparseLog(rng *rand.Rand, windows int) []events.Event {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var out []events.Event
	seq := 0
	for w := range windows {
		start := t0.Add(time.Duration(w) * 10 * time.Second)
		// One tenant, or two, or none (no tenant id) in a window.
		tenants := [][]string{{"acme"}, {"acme", "beta"}, {""}, {"", "acme"}}[rng.IntN(4)]
		for d := range 3 {
			tenant := tenants[d%len(tenants)]
			kinds := []int{rng.IntN(6), rng.IntN(6)}
			for range 1 + rng.IntN(40) {
				seq++
				conn := fmt.Sprintf("c%d", seq/2)
				var p events.Payload
				switch kinds[rng.IntN(2)] {
				case 0:
					p = &events.ConnOpened{ConnId: conn, DstIp: "10.0.0.1", DstPort: 80, Mode: events.ConnMode_CONN_MODE_HTTP}
				case 1:
					p = &events.ConnClosed{ConnId: conn, BytesUp: uint64(seq), Reason: events.CloseReason_CLOSE_REASON_CLIENT, State: "SF"}
				case 2:
					p = &events.TxObserved{ConnId: conn, Method: "GET", Status: 200, Outcome: events.TxOutcome_TX_OUTCOME_FORWARDED}
				case 3:
					p = &events.AuthFailed{Reason: events.AuthFailReason(1 + rng.IntN(3))}
				case 4:
					p = &events.ConnBlocked{ConnId: conn, DstHost: "x.example", StrictFp: []byte("fp")}
				default:
					p = &events.ConnOpened{ConnId: conn, DstHost: "pay.example", Sni: "pay.example", TlsFp: "t13d"}
				}
				out = append(out, events.Event{
					ID: events.DerivedID("sparse", fmt.Sprint(seq)), Tenant: tenant, Device: fmt.Sprintf("d%d", d),
					Time: start.Add(time.Duration(rng.IntN(10_000)) * time.Millisecond), Payload: p,
				})
			}
		}
	}
	events.SortByTime(out)
	return out
}

// assembleAll adds evs to a new assembler and returns every window. The
// all-null columns come from the cache (cached), from a cache that is full
// (made per window on its zeros), or are built as every other column.
func assembleAll(t *testing.T, evs []events.Event, mem memory.Allocator, nulls string) (*Assembler, []*Window) {
	t.Helper()
	a, err := New(Config{Size: 10 * time.Second, Lateness: time.Second}, 2, mem)
	if err != nil {
		t.Fatal(err)
	}
	switch nulls {
	case "built":
		a.nulls.off, a.tenantCols.off = true, true
	case "full":
		a.nulls.n, a.tenantCols.bytes = maxNullArrays, maxTenantBytes
	}
	a.AddBatch(evs, nil)
	a.Flush()
	return a, a.Closed()
}

// TestNullArrays: a window's all-null columns taken from the cache (or
// made on its zeros when it is full), and the tenant columns of windows of
// one tenant, are, buffer by buffer, the arrays the assembler builds
// without the caches (same type, length, null count, buffers present,
// their lengths and bytes, the same dictionary), and windows of one size
// share one array.
func TestNullArrays(t *testing.T) {
	for _, mode := range []string{"cached", "full"} {
		t.Run(mode, func(t *testing.T) { testNullArrays(t, mode) })
	}
}

func testNullArrays(t *testing.T, mode string) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	evs := sparseLog(rand.New(rand.NewPCG(1, 2)), 200)
	ca, cached := assembleAll(t, evs, mem, mode)
	ba, built := assembleAll(t, evs, mem, "built")
	if len(cached) != len(built) || len(cached) < 100 {
		t.Fatalf("%d and %d windows", len(cached), len(built))
	}
	shared := map[arrow.Array]int{}    // all-null and tenant columns
	consts := map[arrow.Array]int{}    // dictionary columns of one index
	devShared := map[arrow.Array]int{} // device columns of windows of one device
	allNull := make([]int, NumCols)
	for i := range cached {
		c, b := cached[i].Batch, built[i].Batch
		n := int(c.NumRows())
		for col := range NumCols {
			x, y := c.Column(col), b.Column(col)
			if x.NullN() == n {
				allNull[col]++
			}
			if x.NullN() == n || col == ColTenant {
				shared[x]++
			}
			if col == ColDevice && len(cached[i].Devices) == 1 && x.NullN() == 0 {
				devShared[x]++
			}
			if x.DataType().ID() == arrow.DICTIONARY && x.NullN() == 0 && n > 0 {
				consts[x]++
			}
			if err := sameArray(x.Data(), y.Data()); err != nil {
				t.Fatalf("window %d, column %s: %v", i, Schema.Field(col).Name, err)
			}
			if !array.Equal(x, y) {
				t.Fatalf("window %d, column %s: not equal", i, Schema.Field(col).Name)
			}
		}
	}
	for col := range NumCols {
		if col != ColDevice && col != ColTime && col != ColID && col != ColType && allNull[col] == 0 {
			t.Errorf("column %s is never all null: the test misses it", Schema.Field(col).Name)
		}
	}
	reused := 0
	for _, k := range shared {
		if k > 1 {
			reused++
		}
	}
	if mode == "cached" && reused == 0 {
		t.Error("no all-null array is shared by two windows")
	}
	if mode == "full" && reused > 0 {
		t.Error("a full cache shares arrays")
	}
	devReused := 0
	for _, k := range devShared {
		if k > 1 {
			devReused++
		}
	}
	if mode == "cached" && devReused == 0 {
		t.Errorf("no device column is shared by windows of one device (%d arrays)", len(devShared))
	}
	if mode == "full" && devReused > 0 {
		t.Error("a full cache shares device columns")
	}
	constCols := map[int]bool{} // columns of a constant array shared by windows
	for x, k := range consts {
		if k > 1 {
			for col := range NumCols {
				for _, w := range cached {
					if w.Batch.Column(col) == x {
						constCols[col] = true
					}
				}
			}
		}
	}
	if mode == "cached" && !(constCols[ColType] && constCols[ColMode] && constCols[ColCloseReason] && constCols[ColOutcome] && constCols[ColAuthReason]) {
		t.Errorf("the constant dictionary columns shared by windows are only %v", constCols)
	}
	if mode == "full" && len(constCols) > 0 {
		t.Errorf("a full cache shares constant columns %v", constCols)
	}
	for _, w := range append(cached, built...) {
		w.Release()
	}
	ca.Release()
	ba.Release()
}

// sameArray compares two array data buffer by buffer.
func sameArray(x, y arrow.ArrayData) error {
	if !arrow.TypeEqual(x.DataType(), y.DataType()) || x.Len() != y.Len() || x.NullN() != y.NullN() || x.Offset() != y.Offset() {
		return fmt.Errorf("type %v/%v, length %d/%d, nulls %d/%d, offset %d/%d",
			x.DataType(), y.DataType(), x.Len(), y.Len(), x.NullN(), y.NullN(), x.Offset(), y.Offset())
	}
	bx, by := x.Buffers(), y.Buffers()
	if len(bx) != len(by) {
		return fmt.Errorf("%d and %d buffers", len(bx), len(by))
	}
	for k := range bx {
		if (bx[k] == nil) != (by[k] == nil) {
			return fmt.Errorf("buffer %d: present %v and %v", k, bx[k] != nil, by[k] != nil)
		}
		if bx[k] != nil && (bx[k].Len() != by[k].Len() || !bytes.Equal(bx[k].Bytes(), by[k].Bytes())) {
			return fmt.Errorf("buffer %d: %x and %x", k, bx[k].Bytes(), by[k].Bytes())
		}
	}
	if x.DataType().ID() != arrow.DICTIONARY {
		return nil
	}
	dx, dy := x.Dictionary().(*array.Data), y.Dictionary().(*array.Data)
	if dx == nil || dy == nil {
		return fmt.Errorf("dictionary present %v and %v", dx != nil, dy != nil)
	}
	return sameArray(dx, dy)
}

// TestNullArraysConcurrentRelease: windows sharing cached arrays are read
// and released on several goroutines while the assembler builds more of
// them and is released itself; every byte goes back (run with -race).
func TestNullArraysConcurrentRelease(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	evs := sparseLog(rand.New(rand.NewPCG(3, 4)), 300)
	a, err := New(Config{Size: 10 * time.Second, Lateness: time.Second}, 2, mem)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *Window, 16)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for w := range ch {
				for col := range NumCols {
					c := w.Batch.Column(col)
					c.Retain()
					if c.Len() != int(w.Batch.NumRows()) {
						t.Errorf("column %d: %d rows of %d", col, c.Len(), w.Batch.NumRows())
					}
					c.Release()
				}
				w.Release()
			}
		})
	}
	for lo := 0; lo < len(evs); lo += 64 {
		a.AddBatch(evs[lo:min(lo+64, len(evs))], nil)
		for _, w := range a.Closed() {
			ch <- w
		}
	}
	a.Flush()
	last := a.Closed()
	a.Release()
	for _, w := range last {
		ch <- w
	}
	close(ch)
	wg.Wait()
}

// TestSharedArraysNeverReleased: windows take no reference to the cached
// all-null and tenant arrays and drop none, and the cache never drops its
// own: a shared array stays valid through the release of every window
// that shared it and of the assembler (its count never reaches zero), so
// a window built later, or kept longer, still reads it; the columns that
// windows build themselves are still released (every byte back).
func TestSharedArraysNeverReleased(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	a, ws := assembleAll(t, sparseLog(rand.New(rand.NewPCG(5, 6)), 200), mem, "cached")
	users := map[arrow.Array]int{}
	for _, w := range ws {
		r := w.Batch.(*record)
		for col := range NumCols {
			if r.shared&(1<<col) != 0 {
				users[r.cols[col]]++
			}
		}
	}
	many := 0
	for x, k := range users {
		if k > 1 {
			many++
		}
		x.Retain() // the test's own reference, balanced below
	}
	if many == 0 {
		t.Fatal("no array shared by two windows")
	}
	for _, w := range ws {
		w.Release()
	}
	a.Release()
	for x := range users {
		if x.Data().(*array.Data) == nil || x.Len() == 0 {
			t.Fatal("shared array released")
		}
		x.Release()
		if x.Data().(*array.Data) == nil {
			t.Fatal("a balanced Retain and Release brought a shared array's count to zero")
		}
	}
}
