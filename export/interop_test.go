package export

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/pipeline/window"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/replay"
	"github.com/halo-sec/halo/replay/zeek"
	"github.com/halo-sec/halo/replay/zeek/zeektest"
)

// openLog returns a real embedded JetStream log in a temp dir.
func openLog(t testing.TB) *natsstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// importZeek imports the Zeek log rel (relative to zeektest.Dir) into store
// for tenant and returns its events.
func importZeek(t testing.TB, store events.Store, tenant, rel string) []events.Event {
	t.Helper()
	var evs []events.Event
	if _, err := zeek.ImportFile(zeektest.Path(t, rel), zeek.Options{Tenant: tenant}, func(ev events.Event) error {
		evs = append(evs, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	events.SortByTime(evs)
	appendAll(t, store, evs)
	return evs
}

func appendAll(t testing.TB, store events.Store, evs []events.Event) {
	t.Helper()
	ctx := context.Background()
	for len(evs) > 0 {
		n := min(len(evs), 4096)
		if err := store.Append(ctx, evs[:n]...); err != nil {
			t.Fatal(err)
		}
		evs = evs[n:]
	}
}

// capture is a vector detector that records what the pipeline computes, so
// that the exported features can be compared with the live/replay path.
type capture struct{ vecs *[]features.Vector }

func (capture) Name() string { return "export-capture" }
func (c capture) Vectors(_ *window.Window, vecs []features.Vector, _ *detect.Context) []detect.Finding {
	*c.vecs = append(*c.vecs, vecs...)
	return nil
}

var captured []features.Vector

func init() {
	detect.Register("export-capture", "export tests: records the feature vectors", func(map[string]string) (any, error) {
		return capture{&captured}, nil
	})
}

// interopLog is a real embedded log holding: a labeled Zeek log imported as
// replay/zeek does (tenant lab), a synthetic fleet of payment terminals with
// transactions, two of them enrolled in a cohort, spanning midnight (tenant
// shop), the alerts a pipeline raised over both, and an analyst's
// acknowledgement and verdict.
func interopLog(t *testing.T) (store *natsstore.Store, all []events.Event, resolved, acked string) {
	t.Helper()
	store = openLog(t)
	all = append(all, importZeek(t, store, "lab", "001-zeek-scenario-malicious/labeled-conn.log")...)
	start := time.Date(2026, 11, 2, 23, 40, 0, 0, time.UTC)
	var enrol []events.Event
	for _, d := range []string{"pos-00001", "pos-00002"} {
		enrol = append(enrol, events.Event{ID: events.DerivedID("test", "enrol", d), Schema: events.SchemaVersion, Tenant: "shop", Device: d,
			Time: start.Add(-time.Hour), Payload: &events.DeviceEnrolled{Model: "A920", Firmware: "7.1"}})
	}
	f := &fleet{Tenant: "shop", Devices: 12, Start: start, Step: 150 * time.Millisecond, TxPerHTTP: 3, Seed: 1}
	shop := append(enrol, f.Events(14000)...)
	events.SortByTime(shop)
	appendAll(t, store, shop)
	all = append(all, shop...)

	// The alerts a pipeline raised over that traffic, as the live pipeline
	// appends them.
	outs, _, err := replay.Run(append([]events.Event(nil), all...), pipeline.Config{})
	if err != nil {
		t.Fatal(err)
	}
	raised := replay.AlertsOf(outs)
	if len(raised) < 3 {
		t.Fatalf("the pipeline raised %d alerts over the test log, want some", len(raised))
	}
	appendAll(t, store, raised)
	all = append(all, raised...)
	set := alerts.NewSet()
	for i := range raised {
		set.Apply(&raised[i])
	}
	var ids []string
	for i := range raised {
		if p, ok := raised[i].Payload.(*events.AlertRaised); ok {
			ids = append(ids, raised[i].Tenant+"/"+p.AlertId)
		}
	}
	sort.Strings(ids)
	// An analyst dismisses a shop alert (the fleet has no attack) and
	// acknowledges another.
	ten, id, _ := strings.Cut(ids[len(ids)-1], "/")
	a, _ := set.Get(ten, id)
	res, lab := alerts.ResolveEvents(a, alerts.VerdictFalsePositive, "analyst", "a test terminal", a.LastSeen.Add(time.Minute))
	ten, id, _ = strings.Cut(ids[len(ids)-2], "/")
	b, _ := set.Get(ten, id)
	ack := events.Event{ID: events.DerivedID("test", "ack", id), Schema: events.SchemaVersion, Tenant: b.Tenant, Device: b.Device,
		Time: b.LastSeen.Add(time.Minute), Payload: &events.AlertAcknowledged{AlertId: id, Actor: "analyst"}}
	appendAll(t, store, []events.Event{res, lab, ack})
	all = append(all, res, lab, ack)
	return store, all, a.ID, b.ID
}

// readBack runs testdata/read_export.py on out.
func readBack(t *testing.T, out string) map[string]tableView {
	t.Helper()
	cmd := exec.Command("python3", filepath.Join("testdata", "read_export.py"), out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 testdata/read_export.py (pip install -r notebooks/requirements.txt): %v\n%s", err, &stderr)
	}
	var v map[string]tableView
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("read_export.py output: %v\n%.500s", err, b)
	}
	return v
}

type readerView struct {
	Rows       int               `json:"rows"`
	Schema     [][2]string       `json:"schema"`
	DTypes     map[string]string `json:"dtypes"`
	Partitions map[string]int    `json:"partitions"`
}

type tableView struct {
	Files     []string   `json:"files"`
	PyArrow   readerView `json:"pyarrow"`
	Pandas    readerView `json:"pandas"`
	DuckDB    readerView `json:"duckdb"`
	FilesMeta []struct {
		File     string            `json:"file"`
		Rows     int               `json:"rows"`
		Metadata map[string]string `json:"metadata"`
		Codecs   []string          `json:"codecs"`
	} `json:"files_meta"`
	Rows [][]json.RawMessage `json:"rows"`
}

// expected counts the log's events per table and partition, straight from
// the store: connections = conn.closed, transactions = tx.observed, labels
// = label.recorded, alerts = distinct alert.raised ids, in the range.
func expected(t *testing.T, store events.Store, q events.Query) map[string]map[string]int {
	t.Helper()
	out := map[string]map[string]int{}
	for _, tb := range Tables {
		out[tb] = map[string]int{}
	}
	seen := map[string]bool{}
	for ev, err := range store.Read(context.Background(), q) {
		if err != nil {
			t.Fatal(err)
		}
		part := "tenant=" + ev.Tenant + "/date=" + ev.Time.UTC().Format(time.DateOnly)
		switch p := ev.Payload.(type) {
		case *events.ConnClosed:
			out[TableConnections][part]++
		case *events.TxObserved:
			out[TableTransactions][part]++
		case *events.LabelRecorded:
			out[TableLabels][part]++
		case *events.AlertRaised:
			if !seen[ev.Tenant+"/"+p.AlertId] {
				seen[ev.Tenant+"/"+p.AlertId] = true
				out[TableAlerts][part]++
			}
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestInterop exports a real log and reads every table back with pyarrow,
// pandas and DuckDB: row counts match the log per tenant and date
// partition, types match docs/export.md, every file is zstd-compressed and
// names its table and schema version, and the features are exactly the
// vectors the pipeline computes in a replay of the same log.
func TestInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("imports a Zeek log, runs the pipeline and Python; skipped with -short")
	}
	store, all, resolved, acked := interopLog(t)
	out := t.TempDir()
	st, err := Run(context.Background(), store, Config{Out: out, Scores: true, Pipeline: shortSpan})
	if err != nil {
		t.Fatal(err)
	}
	views := readBack(t, out)
	want := expected(t, store, events.Query{})

	// The features a replay of the same log computes.
	captured = nil
	if _, _, err := replay.Run(append([]events.Event(nil), all...), pipeline.Config{Detectors: []string{"export-capture"}}); err != nil {
		t.Fatal(err)
	}
	want[TableFeatures] = map[string]int{}
	for _, v := range captured {
		if v.Tenant != "" {
			want[TableFeatures]["tenant="+v.Tenant+"/date="+v.Start.UTC().Format(time.DateOnly)]++
		}
	}
	docs := documentedColumns(t)
	for _, tb := range Tables {
		v, ok := views[tb]
		if !ok {
			t.Fatalf("table %s missing from the read-back", tb)
		}
		if total(want[tb]) == 0 {
			t.Fatalf("the test log has no %s rows: it must exercise every table", tb)
		}
		if st.Tables[tb].Rows != total(want[tb]) {
			t.Errorf("%s: export.json says %d rows, the log has %d", tb, st.Tables[tb].Rows, total(want[tb]))
		}
		for name, r := range map[string]readerView{"pyarrow": v.PyArrow, "pandas": v.Pandas, "duckdb": v.DuckDB} {
			if r.Rows != total(want[tb]) {
				t.Errorf("%s read with %s: %d rows, the log has %d", tb, name, r.Rows, total(want[tb]))
			}
			if !maps.Equal(r.Partitions, want[tb]) {
				t.Errorf("%s read with %s: rows per partition %v, the log has %v", tb, name, r.Partitions, want[tb])
			}
		}
		// Types as documented, for pyarrow (and so pandas) and DuckDB.
		doc := docs[tb]
		if len(doc) == 0 {
			t.Fatalf("docs/export.md documents no column of %s", tb)
		}
		var pa, dd [][2]string
		for _, c := range doc {
			pa = append(pa, [2]string{c.name, c.arrow})
			dd = append(dd, [2]string{c.name, c.duckdb})
		}
		if !slices.Equal(v.PyArrow.Schema, pa) {
			t.Errorf("%s: pyarrow reads columns\n%v\ndocs/export.md says\n%v", tb, v.PyArrow.Schema, pa)
		}
		if !sameColumns(v.DuckDB.Schema, dd) {
			t.Errorf("%s: DuckDB reads columns\n%v\ndocs/export.md says\n%v", tb, v.DuckDB.Schema, dd)
		}
		for _, c := range doc {
			if strings.HasPrefix(c.arrow, "timestamp") && v.Pandas.DTypes[c.name] != "datetime64[ns, UTC]" {
				t.Errorf("%s.%s: pandas dtype %s, want datetime64[ns, UTC]", tb, c.name, v.Pandas.DTypes[c.name])
			}
		}
		for _, f := range v.FilesMeta {
			if !strings.HasPrefix(f.File, "tenant=") || !strings.HasSuffix(f.File, ".parquet") {
				t.Errorf("%s: file %s is not tenant=…/date=…/part-N.parquet", tb, f.File)
			}
			if f.Metadata["halo.table"] != tb || f.Metadata["halo.schema_version"] != strconv.Itoa(SchemaVersion) {
				t.Errorf("%s/%s: metadata %v", tb, f.File, f.Metadata)
			}
			if !slices.Equal(f.Codecs, []string{"ZSTD"}) {
				t.Errorf("%s/%s: codecs %v, want ZSTD", tb, f.File, f.Codecs)
			}
		}
	}
	// The 001 log's labels cover 47 (device, window) pairs (bench/RESULTS.md);
	// the analyst's false-positive verdict names a window without making it
	// malicious.
	malicious, verdicts := checkFeatureRows(t, views[TableFeatures].Rows, captured, true)
	if malicious != 47 {
		t.Errorf("%d windows labeled malicious, want the 47 of the Zeek log's labels", malicious)
	}
	if verdicts == 0 {
		t.Errorf("no window labeled false-positive (not malicious): want the window of the analyst's verdict")
	}
	// The analyst's work is folded into the alerts.
	found := 0
	for _, r := range views[TableAlerts].Rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = string(c)
		}
		got := strings.Join(cells, ",")
		switch {
		case strings.Contains(got, `"`+resolved+`"`):
			found++
			if !strings.HasPrefix(got, `"`+resolved+`","resolved","false-positive",false,true,`) {
				t.Errorf("resolved alert read back as %s", got)
			}
		case strings.Contains(got, `"`+acked+`"`):
			found++
			if !strings.HasPrefix(got, `"`+acked+`","acknowledged","",true,false,`) {
				t.Errorf("acknowledged alert read back as %s", got)
			}
		}
	}
	if found != 2 {
		t.Errorf("found %d of the resolved and the acknowledged alert", found)
	}
}

// sameColumns compares DuckDB's columns with the documented ones. DuckDB
// puts the Hive partition columns last in its own order.
func sameColumns(got, want [][2]string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	less := func(a, b [2]string) int { return strings.Compare(a[0], b[0]) }
	slices.SortFunc(g, less)
	slices.SortFunc(w, less)
	return slices.Equal(g, w)
}

// checkFeatureRows compares the exported features with the vectors the
// pipeline computed, value for value.
// It returns how many windows are labeled malicious, and labeled
// false-positive without being malicious.
func checkFeatureRows(t *testing.T, rows [][]json.RawMessage, vecs []features.Vector, scores bool) (malicious, verdicts int) {
	t.Helper()
	type key struct {
		tenant, device string
		start          int64
	}
	want := map[key][]float64{}
	for _, v := range vecs {
		if v.Tenant != "" {
			want[key{v.Tenant, v.Device, v.Start.UnixNano()}] = v.Values
		}
	}
	scored := 0
	for _, r := range rows {
		var k key
		var vals []float64
		var score *float64
		var mal bool
		var label *string
		if len(r) != 7 || json.Unmarshal(r[0], &k.tenant) != nil || json.Unmarshal(r[1], &k.device) != nil || json.Unmarshal(r[2], &k.start) != nil ||
			json.Unmarshal(r[3], &vals) != nil || json.Unmarshal(r[4], &score) != nil || json.Unmarshal(r[5], &mal) != nil || json.Unmarshal(r[6], &label) != nil {
			t.Fatalf("features row %s", r)
		}
		if label != nil && *label == "false-positive" && !mal {
			verdicts++
		}
		w, ok := want[k]
		if !ok {
			t.Fatalf("exported window %+v: the pipeline computed no such vector", k)
		}
		if !slices.Equal(vals, w) {
			t.Fatalf("window %+v: exported %v, the pipeline computed %v", k, vals, w)
		}
		if score != nil {
			scored++
		}
		if mal {
			malicious++
		}
	}
	switch {
	case scores && (scored == 0 || scored == len(rows)):
		t.Errorf("%d of %d windows have an anomaly score: want the cohorts' models to score the windows after training, and only those", scored, len(rows))
	case !scores && scored != 0:
		t.Errorf("%d windows have an anomaly score without Scores", scored)
	}
	return malicious, verdicts
}
