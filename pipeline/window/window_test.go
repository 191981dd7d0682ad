package window_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/storetest"
	"github.com/halo-sec/halo/pipeline/window"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// checked returns an allocator that fails the test if anything leaks.
func checked(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func newAssembler(t *testing.T, cfg window.Config, parts int, mem memory.Allocator) *window.Assembler {
	t.Helper()
	a, err := window.New(cfg, parts, mem)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Release)
	return a
}

// fleet returns traffic of n devices interleaved in time order: device i's
// k-th event at t0 + k·step + i µs.
func fleet(devices, perDevice int, step time.Duration) []events.Event {
	var out []events.Event
	per := make([][]events.Event, devices)
	for i := range per {
		per[i] = storetest.Traffic("acme", fmt.Sprintf("pos-%03d", i), t0, perDevice)
		for k := range per[i] {
			per[i][k].Time = t0.Add(time.Duration(k)*step + time.Duration(i)*time.Microsecond)
		}
	}
	for k := 0; k < perDevice; k++ {
		for i := range per {
			out = append(out, per[i][k])
		}
	}
	return out
}

func releaseAll(ws []*window.Window) {
	for _, w := range ws {
		w.Release()
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (window.Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	err := window.Config{Size: time.Microsecond, Lateness: -time.Second, MaxOpenPerDevice: -1}.Validate()
	if !errors.Is(err, window.ErrInvalidConfig) {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"Size", "Lateness", "MaxOpenPerDevice"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := window.New(window.Config{}, 0, nil); !errors.Is(err, window.ErrPartition) {
		t.Errorf("0 partitions: %v", err)
	}
	a, err := window.New(window.Config{}, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	if c := a.Config(); c.Size != window.DefaultSize || c.Lateness != window.DefaultLateness || c.JoinHorizon != window.DefaultJoinHorizon {
		t.Errorf("defaults not applied: %+v", c)
	}
	if err := a.Tick(4, t0); !errors.Is(err, window.ErrPartition) {
		t.Errorf("tick of partition 4 of 4: %v", err)
	}
}

func TestAssemble(t *testing.T) {
	mem := checked(t)
	a := newAssembler(t, window.Config{}, 4, mem)
	evs := fleet(20, 300, 500*time.Millisecond) // 150 s per device: windows 10:00, 10:01, 10:02
	// Shuffle the order of devices inside each second (stays within lateness),
	// and the row order must still come out sorted.
	for i := range evs {
		if !a.Add(&evs[i]) {
			t.Fatalf("event %d not added", i)
		}
	}
	a.Flush()
	ws := a.Closed()
	defer releaseAll(ws)
	st := a.Stats()
	if st.Added != uint64(len(evs)) || st.Late != 0 || st.OpenWindows != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Joined != uint64(20*100) || st.Unjoined != 0 || st.OpenConns != 0 {
		t.Errorf("join stats %+v", st)
	}
	rows := 0
	last := map[int]time.Time{}
	for _, w := range ws {
		if !w.Batch.Schema().Equal(window.Schema) {
			t.Fatalf("schema %v", w.Batch.Schema())
		}
		if l, ok := last[w.Partition]; ok && !l.Before(w.Start) {
			t.Errorf("partition %d: window %v after %v", w.Partition, w.Start, l)
		}
		last[w.Partition] = w.Start
		if w.End.Sub(w.Start) != time.Minute || w.Start.Truncate(time.Minute) != w.Start {
			t.Errorf("window %v-%v", w.Start, w.End)
		}
		rows += int(w.Batch.NumRows())
		checkSorted(t, w)
	}
	if rows != len(evs) {
		t.Errorf("%d rows for %d events", rows, len(evs))
	}
	// Every conn.closed row carries its conn.opened destination.
	for _, w := range ws {
		typ := w.Batch.Column(window.ColType).(*array.Dictionary)
		host := w.Batch.Column(window.ColDstHost).(*array.String)
		for i := 0; i < int(w.Batch.NumRows()); i++ {
			if window.TypeNames[typ.GetValueIndex(i)] == "conn.closed" && host.Value(i) != "pay.example.com" {
				t.Fatalf("closed row %d has dst_host %q", i, host.Value(i))
			}
		}
	}
}

// checkSorted checks the (tenant, device, time, id) order and Devices.
func checkSorted(t *testing.T, w *window.Window) {
	t.Helper()
	b := w.Batch
	ten := b.Column(window.ColTenant).(*array.String)
	dev := b.Column(window.ColDevice).(*array.String)
	tm := b.Column(window.ColTime).(*array.Timestamp)
	id := b.Column(window.ColID).(*array.FixedSizeBinary)
	for i := 1; i < int(b.NumRows()); i++ {
		a := fmt.Sprintf("%s\x00%s\x00%020d\x00%x", ten.Value(i-1), dev.Value(i-1), tm.Value(i-1), id.Value(i-1))
		c := fmt.Sprintf("%s\x00%s\x00%020d\x00%x", ten.Value(i), dev.Value(i), tm.Value(i), id.Value(i))
		if a > c {
			t.Fatalf("rows %d and %d out of order", i-1, i)
		}
	}
	next := 0
	for _, d := range w.Devices {
		if d.Rows[0] != next || d.Rows[1] <= d.Rows[0] {
			t.Fatalf("device ranges %+v", w.Devices)
		}
		for r := d.Rows[0]; r < d.Rows[1]; r++ {
			if ten.Value(r) != d.Tenant || dev.Value(r) != d.Device {
				t.Fatalf("row %d is %s/%s, not in %+v", r, ten.Value(r), dev.Value(r), d)
			}
		}
		next = d.Rows[1]
	}
	if next != int(b.NumRows()) {
		t.Fatalf("devices cover %d of %d rows", next, b.NumRows())
	}
}

func TestSortsWithinDevice(t *testing.T) {
	mem := checked(t)
	a := newAssembler(t, window.Config{}, 1, mem)
	evs := storetest.Traffic("acme", "pos-1", t0.Add(10*time.Second), 30)
	// Reverse: all within 30 ms, well within lateness.
	for i := len(evs) - 1; i >= 0; i-- {
		if !a.Add(&evs[i]) {
			t.Fatal("not added")
		}
	}
	a.Flush()
	ws := a.Closed()
	defer releaseAll(ws)
	if len(ws) != 1 || ws[0].Batch.NumRows() != 30 {
		t.Fatalf("windows %v", ws)
	}
	checkSorted(t, ws[0])
	// Closes came before their opens: unjoined.
	if st := a.Stats(); st.Unjoined != 10 || st.Joined != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestSortsTiesByID: rows of one device with the same time are sorted by
// id, whichever order they arrive in; the device's rows are noted out of
// order as they arrive (a tie in the middle of rows otherwise in order),
// and another device's rows in between do not hide it.
func TestSortsTiesByID(t *testing.T) {
	mem := checked(t)
	a := newAssembler(t, window.Config{}, 1, mem)
	evs := storetest.Traffic("acme", "pos-1", t0.Add(10*time.Second), 6)
	other := storetest.Traffic("acme", "pos-2", t0.Add(10*time.Second), 6)
	// Rows 2 and 3 get the same time, row 3 the smaller id.
	evs[3].Time = evs[2].Time
	evs[2].ID, evs[3].ID = evs[3].ID, evs[2].ID
	if bytes.Compare(evs[2].ID[:], evs[3].ID[:]) <= 0 {
		t.Fatal("the test needs the tie out of id order")
	}
	for i := range evs {
		if !a.Add(&evs[i]) || !a.Add(&other[i]) {
			t.Fatal("not added")
		}
	}
	a.Flush()
	ws := a.Closed()
	defer releaseAll(ws)
	if len(ws) != 1 || ws[0].Batch.NumRows() != 12 {
		t.Fatalf("windows %v", ws)
	}
	checkSorted(t, ws[0])
}

func TestLate(t *testing.T) {
	mem := checked(t)
	a := newAssembler(t, window.Config{Size: time.Minute, Lateness: 5 * time.Second}, 1, mem)
	ev := func(at time.Duration) *events.Event {
		e := storetest.Traffic("acme", "pos-1", t0.Add(at), 1)[0]
		return &e
	}
	if !a.Add(ev(10 * time.Second)) {
		t.Fatal("first event not added")
	}
	// 10:01:04: watermark 10:00:59, the 10:00 window is still open.
	if !a.Add(ev(64 * time.Second)) {
		t.Fatal()
	}
	if !a.Add(ev(50 * time.Second)) {
		t.Fatal("an event within lateness was refused")
	}
	if ws := a.Closed(); len(ws) != 0 {
		t.Fatalf("closed early: %d", len(ws))
	}
	// 10:01:05: watermark 10:01:00 closes the 10:00 window.
	if !a.Add(ev(65 * time.Second)) {
		t.Fatal()
	}
	ws := a.Closed()
	defer releaseAll(ws)
	if len(ws) != 1 || ws[0].Batch.NumRows() != 2 || !ws[0].Start.Equal(t0) {
		t.Fatalf("closed %d windows", len(ws))
	}
	if a.Add(ev(59 * time.Second)) {
		t.Fatal("an event of a closed window was added")
	}
	if st := a.Stats(); st.Late != 1 || st.Added != 4 {
		t.Errorf("stats %+v", st)
	}
	a.Flush()
	rest := a.Closed()
	defer releaseAll(rest)
	if len(rest) != 1 || rest[0].Batch.NumRows() != 2 {
		t.Fatalf("flush gave %d windows", len(rest))
	}
	// After Flush the flushed windows are closed too.
	if a.Add(ev(70 * time.Second)) {
		t.Error("an event of a flushed window was added")
	}
}

func TestTick(t *testing.T) {
	mem := checked(t)
	a := newAssembler(t, window.Config{Size: time.Minute, Lateness: 5 * time.Second}, 2, mem)
	evs := storetest.Traffic("acme", "pos-1", t0.Add(time.Second), 3)
	p := events.Partition("pos-1", 2)
	for i := range evs {
		a.Add(&evs[i])
	}
	if err := a.Tick(p, t0.Add(64*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ws := a.Closed(); len(ws) != 0 {
		t.Fatal("closed before end + lateness")
	}
	// A tick of the other partition less than Idle (Size + Lateness) past
	// the window's end changes nothing here.
	if err := a.Tick(1-p, t0.Add(100*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ws := a.Closed(); len(ws) != 0 {
		t.Fatal("a tick closed another partition's window")
	}
	if err := a.Tick(p, t0.Add(65*time.Second)); err != nil {
		t.Fatal(err)
	}
	ws := a.Closed()
	defer releaseAll(ws)
	if len(ws) != 1 || ws[0].Partition != p || ws[0].Batch.NumRows() != 3 {
		t.Fatalf("tick closed %d windows", len(ws))
	}
	if got := a.Watermark(p); !got.Equal(t0.Add(60 * time.Second)) {
		t.Errorf("watermark %v", got)
	}
	// A tick behind the watermark does not lower it.
	_ = a.Tick(p, t0)
	if got := a.Watermark(p); !got.Equal(t0.Add(60 * time.Second)) {
		t.Errorf("watermark went back to %v", got)
	}
}

// TestIdleAndCanonicalOrder: a partition that goes quiet has its window
// closed by the others' clock once they are Idle past its end, and windows
// are released in (start, partition) order whatever order the partitions
// closed them in.
func TestIdleAndCanonicalOrder(t *testing.T) {
	mem := checked(t)
	a := newAssembler(t, window.Config{Size: time.Minute, Lateness: 5 * time.Second}, 2, mem)
	// Two devices on different partitions.
	devA, devB := "pos-1", ""
	for i := 2; devB == ""; i++ {
		if d := fmt.Sprintf("pos-%d", i); events.Partition(d, 2) != events.Partition(devA, 2) {
			devB = d
		}
	}
	pa, pb := events.Partition(devA, 2), events.Partition(devB, 2)
	add := func(dev string, at time.Duration) {
		evs := storetest.Traffic("acme", dev, t0.Add(at), 1)
		if !a.Add(&evs[0]) {
			t.Fatalf("%s at %v not added", dev, at)
		}
	}
	// B runs ahead: its window [0,60) closes on B, but A still has [0,60)
	// open, so nothing is released.
	add(devB, time.Second)
	add(devA, 2*time.Second)
	add(devB, 100*time.Second)
	if ws := a.Closed(); len(ws) != 0 {
		t.Fatalf("released %d windows while partition %d still had an earlier one open", len(ws), pa)
	}
	if a.Held() != 1 {
		t.Fatalf("held %d windows, want B's first", a.Held())
	}
	// A catches up: A's [0,60) closes and both come out in (start,
	// partition) order.
	add(devA, 66*time.Second)
	ws := a.Closed()
	defer releaseAll(ws)
	type key struct {
		start time.Duration
		part  int
	}
	var got []key
	for _, w := range ws {
		got = append(got, key{w.Start.Sub(t0), w.Partition})
	}
	want := []key{{0, min(pa, pb)}, {0, max(pa, pb)}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("released %v, want %v", got, want)
	}
	// A goes quiet with [60,120) open; B's clock passing its end by Idle
	// (65 s) closes it on the boundary, and later A events are late.
	add(devB, 180*time.Second) // B's watermark 175 s: cut 60 s
	if a.Held() != 1 || len(a.Closed()) != 0 {
		t.Fatal("A's window closed before B was Idle past its end")
	}
	add(devB, 250*time.Second) // B's watermark 245 s: cut 180 s
	ws2 := a.Closed()
	defer releaseAll(ws2)
	got = got[:0]
	for _, w := range ws2 {
		got = append(got, key{w.Start.Sub(t0), w.Partition})
	}
	want = []key{{time.Minute, min(pa, pb)}, {time.Minute, max(pa, pb)}, {3 * time.Minute, pb}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("idle close released %v, want %v", got, want)
	}
	if got := a.Watermark(pa); !got.Equal(t0.Add(180 * time.Second)) {
		t.Errorf("quiet partition's watermark %v, want the window boundary 180s", got.Sub(t0))
	}
	late := a.Stats().Late
	evs := storetest.Traffic("acme", devA, t0.Add(170*time.Second), 1)
	if a.Add(&evs[0]) || a.Stats().Late != late+1 {
		t.Error("an event behind the idle-closed watermark was not counted late")
	}
	a.Flush()
	releaseAll(a.Closed())
}

func TestJoinHorizon(t *testing.T) {
	mem := checked(t)
	a := newAssembler(t, window.Config{Size: time.Minute, Lateness: time.Second, JoinHorizon: 10 * time.Minute}, 1, mem)
	open := func(id string, at time.Duration) *events.Event {
		return &events.Event{ID: events.DerivedID("t", id, "o"), Tenant: "acme", Device: "pos-1", Time: t0.Add(at),
			Payload: &events.ConnOpened{ConnId: id, DstHost: "h-" + id, DstPort: 443}}
	}
	closeEv := func(id string, at time.Duration) *events.Event {
		return &events.Event{ID: events.DerivedID("t", id, "c"), Tenant: "acme", Device: "pos-1", Time: t0.Add(at),
			Payload: &events.ConnClosed{ConnId: id, BytesUp: 1}}
	}
	a.Add(open("long", 0))
	a.Add(open("short", 30*time.Second))
	a.Add(closeEv("short", 5*time.Minute)) // joined, across windows
	a.Add(open("tick", 6*time.Minute))
	_ = a.Tick(0, t0.Add(11*time.Minute)) // "long" is 11 min old: forgotten
	a.Add(closeEv("long", 12*time.Minute))
	a.Flush()
	ws := a.Closed()
	defer releaseAll(ws)
	st := a.Stats()
	if st.Joined != 1 || st.Unjoined != 1 || st.ForgottenConns != 1 || st.OpenConns != 1 {
		t.Errorf("stats %+v", st)
	}
	var hosts []string
	for _, w := range ws {
		typ := w.Batch.Column(window.ColType).(*array.Dictionary)
		host := w.Batch.Column(window.ColDstHost).(*array.String)
		for i := 0; i < int(w.Batch.NumRows()); i++ {
			if typ.GetValueIndex(i) == int(window.TypeConnClosed) {
				hosts = append(hosts, host.Value(i)+fmt.Sprint(host.IsNull(i)))
			}
		}
	}
	if strings.Join(hosts, ",") != "h-shortfalse,true" {
		t.Errorf("closed rows' hosts: %v", hosts)
	}
}

func TestMaxOpenPerDevice(t *testing.T) {
	mem := checked(t)
	a := newAssembler(t, window.Config{MaxOpenPerDevice: 8}, 1, mem)
	for i := range 20 {
		a.Add(&events.Event{ID: events.DerivedID("t", fmt.Sprint(i)), Tenant: "acme", Device: "scanner", Time: t0.Add(time.Duration(i) * time.Millisecond),
			Payload: &events.ConnOpened{ConnId: fmt.Sprintf("c%02d", i), DstIp: "10.0.0.1", DstPort: uint32(i)}})
	}
	if st := a.Stats(); st.OpenConns > 8 || st.ForgottenConns != uint64(20-st.OpenConns) {
		t.Errorf("stats %+v", st)
	}
}

// ipcBytes serializes windows for byte comparison.
func ipcBytes(t *testing.T, ws []*window.Window) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, w := range ws {
		fmt.Fprintf(&buf, "%d %v %v %v\n", w.Partition, w.Start, w.End, w.Devices)
		wr := ipc.NewWriter(&buf, ipc.WithSchema(window.Schema))
		if err := wr.Write(w.Batch); err != nil {
			t.Fatal(err)
		}
		if err := wr.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestClosedTiming feeds the same events with Closed called at different
// points: the windows and their bytes are the same.
func TestClosedTiming(t *testing.T) {
	mem := checked(t)
	evs := fleet(30, 200, 700*time.Millisecond)
	// Skew: partition of pos-000 runs 90 s ahead of the others.
	for i := range evs {
		if evs[i].Device == "pos-000" {
			evs[i].Time = evs[i].Time.Add(90 * time.Second)
		}
	}
	run := func(every int) []byte {
		a := newAssembler(t, window.Config{}, 8, mem)
		var ws []*window.Window
		for i := range evs {
			a.Add(&evs[i])
			if every > 0 && i%every == 0 {
				ws = append(ws, a.Closed()...)
			}
		}
		_ = a.Tick(3, t0.Add(time.Hour))
		ws = append(ws, a.Closed()...)
		a.Flush()
		ws = append(ws, a.Closed()...)
		defer releaseAll(ws)
		return ipcBytes(t, ws)
	}
	want := run(0)
	for _, every := range []int{1, 7, 1000} {
		if got := run(every); !bytes.Equal(got, want) {
			t.Errorf("Closed every %d events: different windows", every)
		}
	}
}

func TestFromBatch(t *testing.T) {
	mem := checked(t)
	a := newAssembler(t, window.Config{}, 1, mem)
	evs := fleet(5, 10, time.Second)
	for i := range evs {
		a.Add(&evs[i])
	}
	a.Flush()
	ws := a.Closed()
	defer releaseAll(ws)
	w, err := window.FromBatch(ws[0].Batch, ws[0].Partition, ws[0].Start, ws[0].End)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Release()
	if fmt.Sprint(w.Devices) != fmt.Sprint(ws[0].Devices) {
		t.Errorf("devices %v, want %v", w.Devices, ws[0].Devices)
	}
	other := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int8}}, nil), []arrow.Array{array.NewInt8Builder(mem).NewArray()}, 0)
	defer other.Release()
	defer other.Column(0).Release()
	if _, err := window.FromBatch(other, 0, t0, t0); !errors.Is(err, window.ErrSchema) {
		t.Errorf("other schema: %v", err)
	}
}

func TestReleaseOpen(t *testing.T) {
	mem := checked(t)
	a, err := window.New(window.Config{}, 2, mem)
	if err != nil {
		t.Fatal(err)
	}
	evs := fleet(3, 400, time.Second)
	for i := range evs {
		a.Add(&evs[i])
	}
	a.Release() // closed-but-uncollected and open windows both freed
	a.Release()
	if a.Add(&evs[0]) {
		t.Error("added after Release")
	}
}

func TestFlushOrder(t *testing.T) {
	mem := checked(t)
	a := newAssembler(t, window.Config{Lateness: time.Hour}, 4, mem) // nothing closes before Flush
	evs := fleet(12, 200, time.Second)                               // 200 s: four windows per device
	for i := range evs {
		a.Add(&evs[i])
	}
	if ws := a.Closed(); len(ws) != 0 {
		t.Fatalf("%d windows closed before Flush", len(ws))
	}
	a.Flush()
	ws := a.Closed()
	defer releaseAll(ws)
	for i := 1; i < len(ws); i++ {
		p, w := ws[i-1], ws[i]
		if p.Start.After(w.Start) || (p.Start.Equal(w.Start) && p.Partition >= w.Partition) {
			t.Fatalf("window %d (%v, %d) after (%v, %d)", i, w.Start, w.Partition, p.Start, p.Partition)
		}
	}
	if st := a.Stats(); st.OpenWindows != 0 || st.ClosedWindows != uint64(len(ws)) {
		t.Errorf("stats %+v", st)
	}
}
