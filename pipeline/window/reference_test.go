package window_test

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

// randomLog makes n traffic events of a few devices of two tenants, roughly
// in time order with jitter up to 8 s (so some are late with the default
// 5 s lateness), strings of all lengths (some past a row's inline space),
// duplicate times, and conn ids reused so that closes join.
func randomLog(rng *rand.Rand, n int) []events.Event {
	str := func(k int) string {
		if k == 0 {
			return ""
		}
		b := make([]byte, k)
		for i := range b {
			b[i] = 'a' + byte(rng.IntN(26))
		}
		return string(b)
	}
	var out []events.Event
	at := t0
	for i := range n {
		at = at.Add(time.Duration(rng.IntN(400)) * time.Millisecond)
		t := at.Add(-time.Duration(rng.IntN(8000)) * time.Millisecond)
		if rng.IntN(10) == 0 {
			t = at // ties
		}
		tenant := []string{"acme", "beta"}[rng.IntN(2)]
		device := fmt.Sprintf("d%d", rng.IntN(12))
		conn := fmt.Sprintf("c%d", rng.IntN(20))
		var p events.Payload
		switch rng.IntN(6) {
		case 0:
			p = &events.ConnOpened{ConnId: conn, DstHost: str(rng.IntN(40)), DstIp: str(rng.IntN(16)), DstPort: uint32(rng.IntN(70000)),
				Mode: events.ConnMode(rng.IntN(5)), Sni: str(rng.IntN(60)), TlsFp: str(rng.IntN(3) * 30)}
		case 1:
			p = &events.ConnClosed{ConnId: conn, BytesUp: rng.Uint64(), BytesDown: rng.Uint64(), DurationNs: rng.Int64(),
				Reason: events.CloseReason(rng.IntN(10)), State: str(rng.IntN(4))}
		case 2:
			p = &events.ConnBlocked{ConnId: conn, DstHost: str(rng.IntN(30)), DstIp: str(rng.IntN(16)), DstPort: uint32(rng.IntN(100)),
				InterventionId: str(rng.IntN(20)), StrictFp: []byte(str(rng.IntN(2) * 32))}
		case 3:
			p = &events.TxObserved{ConnId: conn, Method: str(rng.IntN(7)), Host: str(rng.IntN(30)), StrictFp: []byte(str(rng.IntN(2) * 32)),
				LooseFp: []byte(str(rng.IntN(2) * 200)), Status: uint32(rng.IntN(600)), LatencyNs: rng.Int64(), Outcome: events.TxOutcome(rng.IntN(6))}
		case 4:
			p = &events.AuthFailed{Reason: events.AuthFailReason(rng.IntN(9))}
			if rng.IntN(2) == 0 {
				device = ""
			}
		default:
			p = &events.ClockTick{Partition: 1} // not traffic: ignored
		}
		id := events.DerivedID("random", fmt.Sprint(i))
		if rng.IntN(50) == 0 && len(out) > 0 { // a duplicate event
			out = append(out, out[len(out)-1])
			continue
		}
		out = append(out, events.Event{ID: id, Tenant: tenant, Device: device, Time: t, Payload: p})
	}
	return out
}

// refRow is what a window row must hold, computed without the assembler.
type refRow struct {
	tenant, device string
	t              int64
	id             events.ID
	seq            int
	text           string // every other column, rendered
}

// TestAgainstReference checks every row and column of every window against
// a direct computation: which events are accepted (watermark and lateness
// rules), the row order, the join, and each column's value.
func TestAgainstReference(t *testing.T) {
	// Windows of 2 s with the 8 s jitter: a device has rows in up to four
	// open windows at once (past its state's inline slots). Windows of
	// 10 min hold some 1 000 rows a partition: past what the all-null and
	// tenant caches serve, so that every column is built.
	// Windows of 1 h of 12 000 events hold some 4 000 rows a partition,
	// in blocks of rows (blockRows) that rows out of order cross.
	for _, c := range []struct {
		sz time.Duration
		n  int
	}{{20 * time.Second, 3000}, {2 * time.Second, 3000}, {10 * time.Minute, 3000}, {time.Hour, 12000}} {
		for seed := range uint64(5) {
			t.Run(fmt.Sprint(c.sz, "/", seed), func(t *testing.T) { testAgainstReference(t, c.sz, c.n, seed) })
		}
	}
}

func testAgainstReference(t *testing.T, sz time.Duration, n int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	evs := randomLog(rng, n)
	const parts = 3
	mem := checked(t)
	a := newAssembler(t, window.Config{Size: sz, Lateness: 5 * time.Second}, parts, mem)

	// The reference.
	size, late := int64(sz), int64(5*time.Second)
	wm := make([]int64, parts)
	for i := range wm {
		wm[i] = -1 << 62
	}
	type key struct {
		part  int
		start int64
	}
	want := map[key][]refRow{}
	open := map[string]*events.ConnOpened{}
	nLate := 0
	for i := range evs {
		e := &evs[i]
		added := a.Add(e)
		typ := e.Type()
		if typ == events.TypeClockTick {
			if added {
				t.Fatal("a clock.tick was added")
			}
			continue
		}
		p := events.Partition(e.Device, parts)
		ts := e.Time.UnixNano()
		start := ts - ts%size
		if start+size <= wm[p] {
			nLate++
			if added {
				t.Fatalf("event %d is late but was added", i)
			}
			continue
		}
		if !added {
			t.Fatalf("event %d was refused", i)
		}
		text := render(e, open)
		want[key{p, start}] = append(want[key{p, start}], refRow{e.Tenant, e.Device, ts, e.ID, i, text})
		wm[p] = max(wm[p], ts-late)
	}
	a.Flush()
	ws := a.Closed()
	defer releaseAll(ws)
	if st := a.Stats(); int(st.Late) != nLate {
		t.Errorf("late %d, want %d", st.Late, nLate)
	}
	if len(ws) != len(want) {
		t.Fatalf("%d windows, want %d", len(ws), len(want))
	}
	most := 0
	for _, w := range ws {
		rows := want[key{w.Partition, w.Start.UnixNano()}]
		slices.SortStableFunc(rows, func(x, y refRow) int {
			return cmp.Or(strings.Compare(x.tenant, y.tenant), strings.Compare(x.device, y.device), cmp.Compare(x.t, y.t), bytes.Compare(x.id[:], y.id[:]))
		})
		if int(w.Batch.NumRows()) != len(rows) {
			t.Fatalf("window %v/%d: %d rows, want %d", w.Start, w.Partition, w.Batch.NumRows(), len(rows))
		}
		got := renderBatch(w)
		for i, r := range rows {
			if exp := fmt.Sprintf("%s|%s|%d|%x|%s", r.tenant, r.device, r.t, r.id[:], r.text); got[i] != exp {
				t.Fatalf("window %v/%d row %d:\n got %s\nwant %s", w.Start, w.Partition, i, got[i], exp)
			}
		}
		checkSorted(t, w)
		most = max(most, len(rows))
	}
	if n >= 12000 && most <= 3*window.BlockRows {
		t.Fatalf("the largest window has %d rows: not past three blocks of rows", most)
	}
}

// render formats the non-key columns an event must produce, updating the
// open connections for the join (per tenant and device, as the assembler).
func render(e *events.Event, open map[string]*events.ConnOpened) string {
	k := func(conn string) string { return e.Tenant + "\x00" + e.Device + "\x00" + conn }
	null := "∅"
	s := func(v string) string {
		if v == "" {
			return null
		}
		return v
	}
	enum := func(n int32, names []string) string {
		if n < 0 || int(n) >= len(names) {
			return names[0]
		}
		return names[n]
	}
	cols := make([]string, window.NumCols)
	for i := range cols {
		cols[i] = null
	}
	switch p := e.Payload.(type) {
	case *events.ConnOpened:
		cols[window.ColType] = "conn.opened"
		cols[window.ColConnID] = s(p.ConnId)
		cols[window.ColDstHost], cols[window.ColDstIP], cols[window.ColDstPort] = s(p.DstHost), s(p.DstIp), fmt.Sprint(p.DstPort)
		cols[window.ColMode], cols[window.ColSNI], cols[window.ColTLSFp] = enum(int32(p.Mode), window.ModeNames), s(p.Sni), s(p.TlsFp)
		if p.ConnId != "" {
			open[k(p.ConnId)] = p
		}
	case *events.ConnClosed:
		cols[window.ColType] = "conn.closed"
		cols[window.ColConnID] = s(p.ConnId)
		if o, ok := open[k(p.ConnId)]; ok {
			delete(open, k(p.ConnId))
			cols[window.ColDstHost], cols[window.ColDstIP], cols[window.ColDstPort] = s(o.DstHost), s(o.DstIp), fmt.Sprint(o.DstPort)
			cols[window.ColMode], cols[window.ColSNI], cols[window.ColTLSFp] = enum(int32(o.Mode), window.ModeNames), s(o.Sni), s(o.TlsFp)
		}
		cols[window.ColBytesUp], cols[window.ColBytesDown], cols[window.ColDurationNs] = fmt.Sprint(p.BytesUp), fmt.Sprint(p.BytesDown), fmt.Sprint(p.DurationNs)
		cols[window.ColCloseReason], cols[window.ColConnState] = enum(int32(p.Reason), window.CloseReasonNames), s(p.State)
	case *events.ConnBlocked:
		cols[window.ColType] = "conn.blocked"
		cols[window.ColConnID] = s(p.ConnId)
		cols[window.ColDstHost], cols[window.ColDstIP], cols[window.ColDstPort] = s(p.DstHost), s(p.DstIp), fmt.Sprint(p.DstPort)
		cols[window.ColStrictFp], cols[window.ColInterventionID] = s(string(p.StrictFp)), s(p.InterventionId)
	case *events.TxObserved:
		cols[window.ColType] = "tx.observed"
		cols[window.ColConnID], cols[window.ColDstHost], cols[window.ColMethod] = s(p.ConnId), s(p.Host), s(p.Method)
		cols[window.ColStatus], cols[window.ColOutcome], cols[window.ColLatencyNs] = fmt.Sprint(p.Status), enum(int32(p.Outcome), window.OutcomeNames), fmt.Sprint(p.LatencyNs)
		cols[window.ColStrictFp], cols[window.ColLooseFp] = s(string(p.StrictFp)), s(string(p.LooseFp))
	case *events.AuthFailed:
		cols[window.ColType] = "auth.failed"
		cols[window.ColAuthReason] = enum(int32(p.Reason), window.AuthReasonNames)
	}
	return strings.Join(cols[window.ColType:], "|")
}

// renderBatch formats every row of w like render, with the key columns.
func renderBatch(w *window.Window) []string {
	b := w.Batch
	out := make([]string, b.NumRows())
	for i := range out {
		cols := make([]string, window.NumCols)
		for c := range cols {
			col := b.Column(c)
			if col.IsNull(i) {
				cols[c] = "∅"
				continue
			}
			switch a := col.(type) {
			case *array.Dictionary:
				cols[c] = a.Dictionary().(*array.String).Value(a.GetValueIndex(i))
			case *array.Binary:
				cols[c] = string(a.Value(i))
			case *array.FixedSizeBinary:
				cols[c] = fmt.Sprintf("%x", a.Value(i))
			case *array.Timestamp:
				cols[c] = fmt.Sprint(int64(a.Value(i)))
			default:
				cols[c] = a.ValueStr(i)
			}
		}
		for _, c := range []int{window.ColTenant, window.ColDevice} {
			if cols[c] == "∅" {
				cols[c] = ""
			}
		}
		out[i] = strings.Join(cols, "|")
	}
	return out
}

// TestFusedStrings: a window's string columns are the same bytes whether
// stringSpans copies the values as it lays them out or gatherStrings
// copies them a column at a time, for windows of a few rows to some
// thousand (values of 0 to 200 bytes: copies with and without memmove).
func TestFusedStrings(t *testing.T) {
	for _, sz := range []time.Duration{2 * time.Second, 20 * time.Second, 10 * time.Minute} {
		evs := randomLog(rand.New(rand.NewPCG(uint64(sz), 5)), 3000)
		var out [2][]byte
		for k, limit := range []int{-1, math.MaxInt} { // never fused, always fused
			restore := window.SetFusedBytes(limit)
			a := newAssembler(t, window.Config{Size: sz, Lateness: 5 * time.Second}, 3, checked(t))
			for i := range evs {
				a.Add(&evs[i])
			}
			a.Flush()
			ws := a.Closed()
			out[k] = ipcBytes(t, ws)
			releaseAll(ws)
			restore()
		}
		if !bytes.Equal(out[0], out[1]) {
			t.Errorf("%v windows: the fused copies give other bytes", sz)
		}
	}
}
