package export

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/replay"
	pgo "github.com/parquet-go/parquet-go"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func shopLog(t *testing.T) (events.Store, time.Time) {
	t.Helper()
	store := openLog(t)
	start := time.Date(2026, 11, 2, 23, 40, 0, 0, time.UTC)
	f := &fleet{Tenant: "shop", Devices: 12, Start: start, Step: 150 * time.Millisecond, TxPerHTTP: 3, Seed: 3}
	appendAll(t, store, f.Events(14000)) // 35 minutes, over midnight
	importZeek(t, store, "lab", "001-zeek-scenario-malicious/labeled-conn.log")
	return store, start
}

// TestRangeAndTenant exports one tenant's sub-range: every reader sees
// exactly the log's rows of that range and tenant, and the features of the
// windows starting in it are those of a full replay (the warm-up rebuilt
// the state before --from).
func TestRangeAndTenant(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python; skipped with -short")
	}
	store, start := shopLog(t)
	from, to := start.Add(10*time.Minute+30*time.Second), start.Add(30*time.Minute)
	out := t.TempDir()
	st, err := Run(context.Background(), store, Config{Out: out, From: from, To: to, Tenant: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if st.WarmupEvents == 0 {
		t.Errorf("no warm-up events read before %v", from)
	}
	views := readBack(t, out)
	want := expected(t, store, events.Query{From: from, To: to, Tenant: "shop"})
	var all []events.Event
	for ev, err := range store.Read(context.Background(), events.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ev)
	}
	captured = nil
	if _, _, err := replay.Run(all, pipeline.Config{Detectors: []string{"export-capture"}}); err != nil {
		t.Fatal(err)
	}
	want[TableFeatures] = map[string]int{}
	for _, v := range captured {
		if v.Tenant == "shop" && !v.Start.Before(from) && v.Start.Before(to) {
			want[TableFeatures]["tenant=shop/date="+v.Start.UTC().Format(time.DateOnly)]++
		}
	}
	for _, tb := range []string{TableConnections, TableTransactions, TableFeatures} {
		if len(want[tb]) != 2 {
			t.Fatalf("%s: the range should span two dates, the log has %v", tb, want[tb])
		}
		for name, r := range map[string]readerView{"pyarrow": views[tb].PyArrow, "pandas": views[tb].Pandas, "duckdb": views[tb].DuckDB} {
			if r.Rows != total(want[tb]) || len(r.Partitions) != len(want[tb]) {
				t.Errorf("%s read with %s: %d rows in %v, the log's range has %v", tb, name, r.Rows, r.Partitions, want[tb])
			}
			for p, n := range want[tb] {
				if r.Partitions[p] != n {
					t.Errorf("%s read with %s: %d rows in %s, the log's range has %d", tb, name, r.Partitions[p], p, n)
				}
			}
		}
	}
	if mal, _ := checkFeatureRows(t, views[TableFeatures].Rows, captured, false); mal != 0 {
		t.Errorf("%d of shop's windows labeled malicious: it has no label", mal)
	}
}

// TestInterruptedExportLeavesNoFile cancels exports while they write:
// nothing is left in the output directory but the tables of an earlier
// export, untouched.
func TestInterruptedExportLeavesNoFile(t *testing.T) {
	store, _ := shopLog(t)
	out := t.TempDir()
	cancelled := func(overwrite bool) error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := Run(ctx, store, Config{Out: out, RowsPerFile: 300, Workers: 1, Overwrite: overwrite, ProgressEvery: time.Nanosecond,
			Progress: func(p Progress) {
				if p.Stage == "write" && p.Files >= 3 {
					cancel()
				}
			}})
		return err
	}
	if err := cancelled(false); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled export: %v, want context.Canceled", err)
	}
	if files := walk(t, out); len(files) != 0 {
		t.Fatalf("an interrupted export left %v", files)
	}
	st, err := Run(context.Background(), store, Config{Out: out, Tenant: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	before := walk(t, out)
	if len(before) != st.Tables[TableConnections].Files+st.Tables[TableFeatures].Files+st.Tables[TableLabels].Files+1 {
		t.Fatalf("export of lab wrote %v", before)
	}
	if err := cancelled(true); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled export: %v, want context.Canceled", err)
	}
	if after := walk(t, out); !equalFiles(before, after) {
		t.Fatalf("an interrupted --overwrite export changed the earlier export:\n%v\n%v", before, after)
	}
	if _, err := Run(context.Background(), store, Config{Out: out}); !errors.Is(err, ErrExists) {
		t.Fatalf("export over an earlier one without overwrite: %v, want ErrExists", err)
	}
	st, err = Run(context.Background(), store, Config{Out: out, Overwrite: true, Tenant: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	for f := range walk(t, out) {
		if strings.Contains(f, "tenant=lab") {
			t.Fatalf("--overwrite with --tenant shop left %s of the earlier export", f)
		}
	}
	if st.Tables[TableTransactions].Rows == 0 {
		t.Fatal("no transactions in shop's export")
	}
}

// walk returns every file under dir with its content.
func walk(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[strings.TrimPrefix(p, dir+"/")] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// TestDeterministic: the same log exported twice gives byte-identical files,
// and the manifest of the Zeek log's export is pinned by a golden file.
func TestDeterministic(t *testing.T) {
	store, _ := shopLog(t)
	a, b := t.TempDir(), t.TempDir()
	for _, out := range []string{a, b} {
		if _, err := Run(context.Background(), store, Config{Out: out, Workers: 2, Scores: true, Pipeline: shortSpan}); err != nil {
			t.Fatal(err)
		}
	}
	fa, fb := walk(t, a), walk(t, b)
	if len(fa) < 10 || !equalFiles(fa, fb) {
		t.Fatalf("two exports of the same log differ (%d and %d files)", len(fa), len(fb))
	}
	// A range larger than the sort buffer is sorted in runs on disk, in
	// bounded memory: the same files, and no run left behind.
	c, spill := t.TempDir(), t.TempDir()
	toDisk := 0
	if _, err := Run(context.Background(), store, Config{Out: c, Workers: 2, Scores: true, Pipeline: shortSpan, SortBuffer: 997, TempDir: spill,
		ProgressEvery: time.Nanosecond, Progress: func(p Progress) { toDisk = max(toDisk, p.SortedToDisk) }}); err != nil {
		t.Fatal(err)
	}
	if toDisk == 0 {
		t.Fatal("a sort buffer of 997 events sorted nothing to disk")
	}
	if fc := walk(t, c); !equalFiles(fa, fc) {
		t.Fatalf("the export sorted in runs on disk differs from the one sorted in memory (%d and %d files)", len(fa), len(fc))
	}
	if left, _ := os.ReadDir(spill); len(left) != 0 {
		t.Fatalf("the sorted runs were left in %s: %v", spill, left)
	}
	out := t.TempDir()
	if _, err := Run(context.Background(), store, Config{Out: out, Tenant: "lab"}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(out, ManifestFile))
	golden := filepath.Join("testdata", "zeek-001.export.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./export -run TestDeterministic -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("export.json of the Zeek log differs from %s:\n%s", golden, got)
	}
}

// TestConnectionJoin: a conn.closed sorted before its conn.opened (same
// time, a zero-length record) still joins; one whose conn.opened is before
// the read range gets opened false and a start from its duration.
func TestConnectionJoin(t *testing.T) {
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	ev := func(id string, tm time.Time, p events.Payload) events.Event {
		return events.Event{ID: events.DerivedID("t", id), Tenant: "t1", Device: "d1", Time: tm, Payload: p}
	}
	evs := []events.Event{
		ev("a-closed", at, &events.ConnClosed{ConnId: "c1", BytesUp: 5, Reason: events.CloseReason_CLOSE_REASON_REFUSED}),
		ev("b-opened", at, &events.ConnOpened{ConnId: "c1", DstHost: "h", DstPort: 80, Mode: events.ConnMode_CONN_MODE_HTTP}),
		ev("c-closed", at.Add(time.Second), &events.ConnClosed{ConnId: "c2", DurationNs: int64(3 * time.Second)}),
	}
	events.SortByTime(evs)
	conns := newParts[Connection]()
	if err := buildTables(context.Background(), evs, time.Time{}, time.Time{}, sinks{conns: conns}); err != nil {
		t.Fatal(err)
	}
	rows := conns.of(keyOf("t1", at.UnixNano()))
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	if r := rows[0]; !r.Opened || r.DstHost != "h" || r.DstPort != 80 || r.Mode != "http" || r.CloseReason != "refused" || r.Start != at.UnixNano() {
		t.Errorf("joined row %+v", r)
	}
	if r := rows[1]; r.Opened || r.DstHost != "" || r.Start != at.Add(-2*time.Second).UnixNano() || r.End != at.Add(time.Second).UnixNano() {
		t.Errorf("row without conn.opened %+v", r)
	}
}

// TestConnectionJoinAcrossChunks: the events of one instant stay in one
// chunk, so a conn.closed sorted just before the chunk would be cut still
// finds its conn.opened of the same instant just after.
func TestConnectionJoinAcrossChunks(t *testing.T) {
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	var evs []events.Event
	for i := range chunkEvents - 1 {
		evs = append(evs, events.Event{ID: events.DerivedID("t", "tx", strconv.Itoa(i)), Tenant: "t1", Device: "d1",
			Time: at.Add(time.Duration(i) * time.Millisecond), Payload: &events.TxObserved{ConnId: "x", Method: "POST"}})
	}
	end := at.Add(time.Hour)
	// Ids chosen so that the conn.closed sorts first (position
	// chunkEvents-1) and its conn.opened second (chunkEvents).
	var closed, opened events.Event
	for i := 0; ; i++ {
		closed = events.Event{ID: events.DerivedID("t", "closed", strconv.Itoa(i)), Tenant: "t1", Device: "d1", Time: end, Payload: &events.ConnClosed{ConnId: "c1"}}
		opened = events.Event{ID: events.DerivedID("t", "opened"), Tenant: "t1", Device: "d1", Time: end, Payload: &events.ConnOpened{ConnId: "c1", DstHost: "h", DstPort: 443}}
		if closed.ID.Compare(opened.ID) < 0 {
			break
		}
	}
	evs = append(evs, opened, closed)
	out := t.TempDir()
	st, err := Write(context.Background(), evs, Config{Out: out, Tables: []string{TableConnections}})
	if err != nil {
		t.Fatal(err)
	}
	if evs[chunkEvents-1].ID != closed.ID || evs[chunkEvents].ID != opened.ID {
		t.Fatal("the conn.closed and conn.opened are not on either side of the chunk size")
	}
	rows, err := pgo.ReadFile[Connection](filepath.Join(out, TableConnections, "tenant=t1", "date=2026-11-03", "part-0.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || st.Tables[TableConnections].Rows != 1 {
		t.Fatalf("%d connection rows, want 1", len(rows))
	}
	if r := rows[0]; !r.Opened || r.DstHost != "h" || r.DstPort != 443 {
		t.Fatalf("the connection did not join its conn.opened across the chunk size: %+v", r)
	}
}

// shortSpan lets the anomaly detector train its cohort models on the test
// logs, which span less than its default min_span of an hour.
var shortSpan = pipeline.Config{DetectorOptions: map[string]map[string]string{"anomaly": {"min_span": "10m"}}}

// TestSortedByTime: the check split across cores finds an out-of-order
// pair anywhere, at the boundary between two pieces too.
func TestSortedByTime(t *testing.T) {
	at := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	evs := make([]events.Event, 1<<17+3)
	for i := range evs {
		evs[i] = events.Event{ID: events.DerivedID("t", strconv.Itoa(i)), Time: at.Add(time.Duration(i) * time.Millisecond)}
	}
	if !sortedByTime(evs) {
		t.Fatal("sorted events reported out of order")
	}
	n := runtime.GOMAXPROCS(0)
	piece := (len(evs) + n - 1) / n
	for _, i := range []int{0, piece - 1, piece, len(evs) / 3, len(evs) - 2} {
		evs[i], evs[i+1] = evs[i+1], evs[i]
		if sortedByTime(evs) {
			t.Errorf("events %d and %d swapped (pieces of %d): reported sorted", i, i+1, piece)
		}
		evs[i], evs[i+1] = evs[i+1], evs[i]
	}
}

// TestKilledExportLeftoversRemoved: the temporary directory of an export
// whose process is gone is removed by the next export into the same
// directory; a running export's is not.
func TestKilledExportLeftoversRemoved(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	dead := filepath.Join(out, fmt.Sprintf(".export-tmp-%d-1", cmd.Process.Pid))
	live := filepath.Join(out, fmt.Sprintf(".export-tmp-%d-2", os.Getpid()))
	for _, d := range []string{dead, live} {
		if err := os.MkdirAll(filepath.Join(d, TableConnections), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	evs := (&fleet{Tenant: "shop", Devices: 2, Start: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), Step: time.Second, Seed: 1}).Events(50)
	if _, err := Write(context.Background(), evs, Config{Out: out, Tables: []string{TableConnections}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatalf("the killed export's %s is still there", filepath.Base(dead))
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("a running export's directory was removed: %v", err)
	}
}
