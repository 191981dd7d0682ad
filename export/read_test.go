package export

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/replay"
)

// TestReadFeatures reads an export's features back in Go (what `halo
// models train` starts from): every row, in order, equal to the vectors a
// replay computes, with scores and labels; a tenant's partitions alone.
func TestReadFeatures(t *testing.T) {
	store, _ := shopLog(t)
	out := t.TempDir()
	st, err := Run(context.Background(), store, Config{Out: out, Scores: true, RowsPerFile: 100, Pipeline: shortSpan})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ReadFeatures(out, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != st.Tables[TableFeatures].Rows || st.Tables[TableFeatures].Files < 3 {
		t.Fatalf("read %d rows from %d files, export.json says %d", len(rows), st.Tables[TableFeatures].Files, st.Tables[TableFeatures].Rows)
	}
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
	type key struct {
		tenant, device string
		start          int64
	}
	want := map[key][]float64{}
	for _, v := range captured {
		want[key{v.Tenant, v.Device, v.Start.UnixNano()}] = v.Values
	}
	scored, malicious, labs := 0, 0, 0
	for i, r := range rows {
		if w, ok := want[key{r.Tenant, r.Device, r.Start}]; !ok || !slices.Equal(w, r.Values) {
			t.Fatalf("row %d %s/%s at %d: %v, the pipeline computed %v", i, r.Tenant, r.Device, r.Start, r.Values, w)
		}
		if i > 0 && rows[i-1].Tenant == r.Tenant && rows[i-1].Start > r.Start {
			t.Fatalf("row %d starts before row %d of the same tenant", i, i-1)
		}
		if r.End-r.Start != int64(time.Minute) {
			t.Fatalf("row %d spans %v", i, time.Duration(r.End-r.Start))
		}
		if r.Score != nil {
			scored++
			if r.Threshold == nil {
				t.Fatalf("row %d: a score without a threshold", i)
			}
		}
		if r.Malicious {
			malicious++
		}
		if r.Label != nil {
			labs++
		}
	}
	if scored == 0 || malicious != 47 || labs < malicious {
		t.Fatalf("%d scored, %d malicious, %d labeled rows; want some, 47 (the Zeek log's), at least as many", scored, malicious, labs)
	}
	lab, err := ReadFeatures(out, "lab")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.Tenant == "lab" {
			n++
		}
	}
	if len(lab) != n || n == 0 || lab[0].Tenant != "lab" {
		t.Fatalf("lab alone: %d rows, want %d", len(lab), n)
	}
}

// featureFileSample writes a small features file.
func featureFileSample(t testing.TB) []byte {
	t.Helper()
	s, th, l := 0.7, 0.6, "CC"
	rows := []FeatureRow{
		{Tenant: "t", Device: "d1", Cohort: "t//", Start: 60e9, End: 120e9, Values: make([]float64, 22), Malicious: true, Label: &l, Score: &s, Threshold: &th},
		{Tenant: "t", Device: "d2", Cohort: "t//", Start: 60e9, End: 120e9, Values: []float64{1, 2, 3}},
	}
	var buf bytes.Buffer
	if err := writeFeatures(&buf, [][]FeatureRow{rows}, map[string]string{"halo.features": strings.Join(features.Names, ",")}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadFeaturesRejects(t *testing.T) {
	good := featureFileSample(t)
	rows, err := readFeatureFile(nil, good, "t")
	if err != nil || len(rows) != 2 || *rows[0].Label != "CC" || *rows[0].Score != 0.7 || rows[1].Score != nil || rows[1].Values[2] != 3 || rows[1].Values[21] != 0 {
		t.Fatalf("sample read back as %+v, %v", rows, err)
	}
	var conns bytes.Buffer
	if err := writeRows(&conns, TableConnections, [][]Connection{{{Device: "d"}}}); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"connections file": conns.Bytes(),
		"truncated":        good[:len(good)/2],
		"empty":            nil,
		"garbage":          bytes.Repeat([]byte("PAR1"), 64),
	} {
		if _, err := readFeatureFile(nil, b, "t"); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
	// A directory without a features table is an error, not zero rows.
	if _, err := ReadFeatures(t.TempDir(), ""); err == nil {
		t.Error("ReadFeatures of an empty directory: no error")
	}
	// A corrupt file in an export is an error naming it.
	dir := t.TempDir()
	p := filepath.Join(dir, TableFeatures, "tenant=t", "date=1970-01-01", "part-0.parquet")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, good[:len(good)-9], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFeatures(dir, ""); !errors.Is(err, ErrFormat) || !bytes.Contains([]byte(err.Error()), []byte(p)) {
		t.Errorf("corrupt file: %v", err)
	}
}

// FuzzReadFeatureFile: whatever the bytes, reading a features file returns
// rows or an error, never panics, and allocates at most 256 MiB (a file
// of a few kB; parquet-go allocated gigabytes for the sizes and counts a
// corrupt one states). testdata/fuzz/FuzzReadFeatureFile holds the inputs
// the fuzzer found and featureFileLies.
func FuzzReadFeatureFile(f *testing.F) {
	good := featureFileSample(f)
	f.Add(good)
	f.Add(good[:len(good)-20])
	f.Add(good[4:])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err, alloc := readBounded(b)
		if err == nil && len(rows) > 0 && len(rows[0].Values) != len(features.Names) {
			t.Fatalf("a row with %d values", len(rows[0].Values))
		}
		if alloc > 256<<20 {
			t.Fatalf("reading %d bytes allocated %d MiB (%d rows, %v)", len(b), alloc>>20, len(rows), err)
		}
	})
}
