package features_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/pipeline/window"
	"github.com/halo-sec/halo/pipeline/window/windowtest"
)

func checked(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func TestDocs(t *testing.T) {
	if len(features.Names) != features.NumFeatures {
		t.Fatalf("%d names for %d features", len(features.Names), features.NumFeatures)
	}
	seen := map[string]bool{}
	for i, f := range features.Doc {
		if f.Name == "" || f.Unit == "" || f.Meaning == "" {
			t.Errorf("feature %d is not documented: %+v", i, f)
		}
		if seen[f.Name] {
			t.Errorf("feature name %q twice", f.Name)
		}
		seen[f.Name] = true
	}
	path := filepath.Join("..", "..", "docs", "features.md")
	want := features.Markdown()
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pipeline/features -run TestDocs -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./pipeline/features -run TestDocs -update", path)
	}
}

// one computes the vectors of events that all fall in one window.
func one(t *testing.T, evs []events.Event, st *features.State) map[string]features.Vector {
	t.Helper()
	mem := checked(t)
	a, err := window.New(window.Config{}, 1, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	for i := range evs {
		if !a.Add(&evs[i]) {
			t.Fatalf("event %d not added", i)
		}
	}
	a.Flush()
	ws := a.Closed()
	out := map[string]features.Vector{}
	for _, w := range ws {
		for _, v := range features.Compute(w, cohorts, st) {
			out[v.Tenant+"/"+v.Device] = v
		}
		w.Release()
	}
	return out
}

func expect(t *testing.T, v features.Vector, want map[string]float64) {
	t.Helper()
	for name, x := range want {
		got, ok := v.Value(name)
		if !ok {
			t.Fatalf("no feature %q", name)
		}
		if math.Abs(got-x) > 1e-9 {
			t.Errorf("%s/%s %s = %v, want %v", v.Tenant, v.Device, name, got, x)
		}
	}
}

// TestDefinitions pins each feature's definition on hand-made rows.
func TestDefinitions(t *testing.T) {
	o := func(conn, host, ip string, port uint32, mode events.ConnMode, fp string) *events.ConnOpened {
		return &events.ConnOpened{ConnId: conn, DstHost: host, DstIp: ip, DstPort: port, Mode: mode, TlsFp: fp}
	}
	c := func(conn string, up, down uint64, dur time.Duration, r events.CloseReason, state string) *events.ConnClosed {
		return &events.ConnClosed{ConnId: conn, BytesUp: up, BytesDown: down, DurationNs: int64(dur), Reason: r, State: state}
	}
	tx := func(strict, loose string, status uint32, oc events.TxOutcome) *events.TxObserved {
		return &events.TxObserved{ConnId: "h", Host: "pay.example.com", StrictFp: []byte(strict), LooseFp: []byte(loose), Status: status, Outcome: oc}
	}
	connect, http := events.ConnMode_CONN_MODE_CONNECT, events.ConnMode_CONN_MODE_HTTP
	fwd := events.TxOutcome_TX_OUTCOME_FORWARDED
	var evs []events.Event
	at := time.Second
	add := func(device string, p events.Payload) {
		evs = append(evs, ev("acme", device, at, p))
		at += time.Millisecond
	}
	add("d", o("1", "a.example", "192.0.2.1", 443, connect, "fpA"))
	add("d", o("2", "a.example", "192.0.2.2", 443, connect, "fpA"))
	add("d", o("3", "b.example", "192.0.2.1", 8443, connect, "fpB"))
	add("d", o("4", "", "192.0.2.9", 80, http, ""))
	add("d", &events.ConnBlocked{ConnId: "5", DstHost: "evil.example", DstIp: "192.0.2.66", DstPort: 443})
	add("d", c("1", 100, 300, 2*time.Second, events.CloseReason_CLOSE_REASON_CLIENT, ""))
	add("d", c("2", 0, 0, 4*time.Second, events.CloseReason_CLOSE_REASON_REFUSED, ""))
	add("d", c("3", 0, 0, 0, events.CloseReason_CLOSE_REASON_UNSPECIFIED, "REJ"))
	add("d", c("4", 0, 0, 0, events.CloseReason_CLOSE_REASON_UNSPECIFIED, "S0"))
	add("d", c("x", 0, 0, 0, events.CloseReason_CLOSE_REASON_TIMEOUT, ""))
	add("d", c("y", 0, 0, 0, events.CloseReason_CLOSE_REASON_REVOKED, ""))
	add("d", c("z", 0, 0, 0, events.CloseReason_CLOSE_REASON_BLOCKED, ""))
	add("d", tx("s1", "l1", 200, fwd))
	add("d", tx("s1", "l1", 200, fwd))
	add("d", tx("s1", "l2", 403, events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY))
	add("d", tx("s2", "l2", 500, fwd))
	add("d", tx("", "", 502, events.TxOutcome_TX_OUTCOME_ERROR))
	add("d", tx("s3", "", 0, events.TxOutcome_TX_OUTCOME_ERROR))
	add("d", &events.AuthFailed{Reason: events.AuthFailReason_AUTH_FAIL_REASON_REVOKED})
	add("", &events.AuthFailed{Reason: events.AuthFailReason_AUTH_FAIL_REASON_NO_CERT})
	add("", &events.AuthFailed{Reason: events.AuthFailReason_AUTH_FAIL_REASON_NO_CERT})
	add("e", o("1", "a.example", "192.0.2.1", 443, connect, "fpA")) // same cohort, same window

	st, err := features.NewState(features.StateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	vs := one(t, evs, st)
	if len(vs) != 3 {
		t.Fatalf("vectors for %v", vs)
	}
	expect(t, vs["acme/d"], map[string]float64{
		"connections": 4, "dst_hosts": 3, "dst_ips": 4, "dst_ports": 3,
		// (a.example,443) (b.example,8443) (192.0.2.9,80) (evil.example,443)
		"new_dsts_device": 4, "new_dsts_cohort": 4,
		"bytes_up": 100, "bytes_down": 300, "bytes_up_share": 0.25,
		"duration_mean": 6.0 / 7, "duration_max": 4,
		"failed_conns": 4, "refused_conns": 2, "blocked_conns": 3,
		"transactions": 6, "tx_errors": 3, "tx_replays_refused": 1,
		"repeated_strict": 2, "repeated_loose": 2,
		"auth_failures": 1, "plain_http_share": 0.25, "new_tls_fps_cohort": 2,
	})
	// e's destination and fingerprint were first seen by d in this same
	// window: still new for the cohort.
	expect(t, vs["acme/e"], map[string]float64{"connections": 1, "new_dsts_device": 1, "new_dsts_cohort": 1, "new_tls_fps_cohort": 1})
	expect(t, vs["acme/"], map[string]float64{"auth_failures": 2, "connections": 0})

	// The next window: what was seen is not new any more, for the device or
	// its cohort; a device of the cohort seen for the first time finds the
	// cohort's destinations known but its own new.
	shift := func(evs []events.Event, d time.Duration) []events.Event {
		out := make([]events.Event, len(evs))
		for i, e := range evs {
			e.Time = e.Time.Add(d)
			e.ID = events.DerivedID("shift", e.ID.String())
			out[i] = e
		}
		return out
	}
	next := shift(evs[:3], time.Minute)
	next = append(next, shift(evs[:1], time.Minute+time.Second)...)
	next[3].Device = "f"
	vs = one(t, next, st)
	expect(t, vs["acme/d"], map[string]float64{"connections": 3, "new_dsts_device": 0, "new_dsts_cohort": 0, "new_tls_fps_cohort": 0})
	expect(t, vs["acme/f"], map[string]float64{"connections": 1, "new_dsts_device": 1, "new_dsts_cohort": 0, "new_tls_fps_cohort": 0})
	// Another cohort (pos-3) and another tenant know nothing yet.
	other := shift(evs[:1], 2*time.Minute)
	other = append(other, shift(evs[:1], 2*time.Minute+time.Second)...)
	other[0].Device = "pos-3"
	other[1].Tenant = "beta"
	vs = one(t, other, st)
	expect(t, vs["acme/pos-3"], map[string]float64{"new_dsts_device": 1, "new_dsts_cohort": 1, "new_tls_fps_cohort": 1})
	expect(t, vs["beta/d"], map[string]float64{"new_dsts_device": 1, "new_dsts_cohort": 1, "new_tls_fps_cohort": 1})
}

func TestStateForgetAndBounds(t *testing.T) {
	if err := (features.StateConfig{Forget: -1, MaxPerDevice: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "MaxPerDevice") {
		t.Errorf("validate: %v", err)
	}
	st, err := features.NewState(features.StateConfig{Forget: time.Hour, MaxPerDevice: 16, MaxPerCohort: 16})
	if err != nil {
		t.Fatal(err)
	}
	open := func(at time.Duration, host string) events.Event {
		return ev("acme", "d", at, &events.ConnOpened{ConnId: host, DstHost: host, DstPort: 443})
	}
	// 40 destinations in one window: the sets are capped at 16.
	var evs []events.Event
	for i := range 40 {
		evs = append(evs, open(time.Duration(i)*time.Millisecond, string(rune('a'+i%26))+string(rune('a'+i/26))))
	}
	vs := one(t, evs, st)
	expect(t, vs["acme/d"], map[string]float64{"new_dsts_device": 40, "new_dsts_cohort": 40})
	s := st.Stats()
	if s.Values > 32 || s.Evicted == 0 {
		t.Errorf("stats %+v: sets not bounded", s)
	}
	// A destination is known within Forget and new again after it.
	st, _ = features.NewState(features.StateConfig{Forget: time.Hour})
	one(t, []events.Event{open(0, "a")}, st)
	expect(t, one(t, []events.Event{open(59*time.Minute, "a")}, st)["acme/d"], map[string]float64{"new_dsts_device": 0})
	expect(t, one(t, []events.Event{open(3*time.Hour, "a")}, st)["acme/d"], map[string]float64{"new_dsts_device": 1})
	// The sweep drops what was forgotten.
	one(t, []events.Event{open(10*time.Hour, "b")}, st)
	if s := st.Stats(); s.Values != 2 || s.Devices != 1 {
		t.Errorf("after sweep: %+v", s)
	}
}

// TestDeterminism feeds the same log (events and ticks) all at once, one at
// a time with Closed after every step, and split at random points: the
// vectors and the bytes of their table are the same.
func TestDeterminism(t *testing.T) {
	logs := map[string][]step{"fixture": evLog(fixture())}
	// Synthetic traffic with one partition running ahead by 100 s, ticks of an
	// idle partition, and a late event.
	syn := windowtest.Synthetic(30_000, 300, 4*time.Minute, 7)
	for i := range syn {
		if events.Partition(syn[i].Device, 4) == 1 {
			syn[i].Time = syn[i].Time.Add(100 * time.Second)
		}
	}
	lg := evLog(syn)
	lg = slicesInsert(lg, 15_000, step{tick: 3, at: windowtest.T0.Add(3 * time.Minute)})
	lg = slicesInsert(lg, 20_000, step{ev: &syn[10]}) // late by now: counted, not added
	logs["synthetic"] = lg

	for name, log := range logs {
		t.Run(name, func(t *testing.T) {
			mem := checked(t)
			all := run(t, mem, log, 4, func(int) bool { return false })
			if len(all) == 0 {
				t.Fatal("no vectors")
			}
			each := run(t, mem, log, 4, func(int) bool { return true })
			rng := rand.New(rand.NewPCG(1, 2))
			cuts := map[int]bool{}
			for range 50 {
				cuts[rng.IntN(len(log))] = true
			}
			random := run(t, mem, log, 4, func(i int) bool { return cuts[i] })
			for mode, got := range map[string][]features.Vector{"one at a time": each, "random splits": random} {
				if !reflect.DeepEqual(got, all) {
					t.Errorf("%s: vectors differ from all at once", mode)
				}
				if !bytes.Equal(tableBytes(t, got), tableBytes(t, all)) {
					t.Errorf("%s: table bytes differ", mode)
				}
			}
		})
	}
}

func slicesInsert(s []step, i int, x step) []step {
	return append(s[:i], append([]step{x}, s[i:]...)...)
}

// golden is the JSON form of a vector in the golden file.
type golden struct {
	Tenant, Device, Cohort string
	Start, End             time.Time
	Rows                   [2]int
	Values                 orderedValues
}

type orderedValues []float64

func (v orderedValues) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{")
	for i, x := range v {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(features.Names[i])
		val, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteString(": ")
		b.Write(val)
	}
	b.WriteString("}")
	return b.Bytes(), nil
}

func TestGolden(t *testing.T) {
	mem := checked(t)
	vs := run(t, mem, evLog(fixture()), 4, func(int) bool { return true })
	out := make([]golden, len(vs))
	for i, v := range vs {
		out[i] = golden{v.Tenant, v.Device, v.Cohort, v.Start, v.End, v.Rows, v.Values}
	}
	got, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "fixture.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("vectors differ from %s (rerun with -update if the change is intended):\n%s", path, got)
	}
}

func TestTable(t *testing.T) {
	mem := checked(t)
	vs := run(t, mem, evLog(fixture()), 4, func(int) bool { return false })
	tb := features.TableWith(mem, vs)
	defer tb.Release()
	if !tb.Schema().Equal(features.TableSchema) || int(tb.NumRows()) != len(vs) || int(tb.NumCols()) != 7+features.NumFeatures {
		t.Fatalf("table %v rows %d", tb.Schema(), tb.NumRows())
	}
	col := tb.Column(7 + features.Connections).(*array.Float64)
	dev := tb.Column(1).(*array.String)
	for i, v := range vs {
		if col.Value(i) != v.Values[features.Connections] || dev.Value(i) != v.Device {
			t.Fatalf("row %d: %v %s, vector %+v", i, col.Value(i), dev.Value(i), v)
		}
	}
}

func TestComputeForeignBatch(t *testing.T) {
	if vs := features.Compute(nil, nil, nil); vs != nil {
		t.Errorf("nil window: %v", vs)
	}
	if vs := features.Compute(&window.Window{}, nil, nil); vs != nil {
		t.Errorf("window without a batch: %v", vs)
	}
}

// Compute's vectors and their values, cut from chunks shared by windows,
// are each the caller's own: writing to or appending to one window's
// leaves every other window's as computed.
func TestVectorsDoNotAlias(t *testing.T) {
	syn := windowtest.Synthetic(20_000, 200, 4*time.Minute, 3)
	a, err := window.New(window.Config{}, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	st, err := features.NewState(features.StateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var all [][]features.Vector
	var want [][]float64
	collect := func() {
		for _, w := range a.Closed() {
			vs := features.Compute(w, nil, st)
			w.Release()
			all = append(all, vs)
			for _, v := range vs {
				want = append(want, slices.Clone(v.Values))
			}
		}
	}
	for i := range syn {
		a.Add(&syn[i])
		if i%500 == 0 {
			collect()
		}
	}
	a.Flush()
	collect()
	if len(all) < 10 || len(want) < 500 {
		t.Fatalf("%d windows, %d vectors", len(all), len(want))
	}
	// Scribble on every window's vectors in turn, through appends, then
	// writes of a mark of the window's own, checking every window after
	// each: those before hold their marks, those after what was computed.
	mark := func(i int) float64 { return -float64(i + 10) }
	for i, vs := range all {
		_ = append(vs, features.Vector{Values: []float64{-1}})
		for j := range vs {
			_ = append(vs[j].Values, -2)
		}
		for j := range vs {
			for f := range vs[j].Values {
				vs[j].Values[f] = mark(i)
			}
		}
		k := 0
		for i2, vs2 := range all {
			for j, v := range vs2 {
				for f, x := range v.Values {
					if w := want[k+j][f]; i2 <= i && x != mark(i2) || i2 > i && x != w {
						t.Fatalf("after window %d's writes: window %d vector %d value %d is %v", i, i2, j, f, x)
					}
				}
			}
			k += len(vs2)
		}
	}
}
