package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// smallIForest and smallForest are quick artifacts for format tests.
func smallIForest(t testing.TB) *Artifact {
	t.Helper()
	rows, _, names := synth(1, 300, 3, 4, 1, 2, 6)
	span := Span{Start: time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("CET", 3600)), End: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	a, err := TrainIsolationForest(rows, names, IForestOptions{Seed: 1, Trees: 10, Depth: 4, Sample: 32, Span: span, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func smallForest(t testing.TB) *Artifact {
	t.Helper()
	rows, labels, names := synth(2, 200, 40, 4, 1, 2, 3)
	a, err := TrainRandomForest(rows, labels, names, ForestOptions{Seed: 1, Trees: 5, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func save(t testing.TB, a *Artifact) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestArtifactRoundTrip(t *testing.T) {
	for _, a := range []*Artifact{smallIForest(t), smallForest(t)} {
		t.Run(string(a.Kind), func(t *testing.T) {
			data := save(t, a)
			b, err := Load(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if b.ID != a.ID || !strings.HasPrefix(a.ID, "sha256:") {
				t.Fatalf("loaded id %s, saved %s", b.ID, a.ID)
			}
			if again := save(t, b); !bytes.Equal(again, data) {
				t.Fatal("saving the loaded artifact gives other bytes")
			}
			if a.Kind == KindIForest && b.Span.Start != time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) {
				t.Errorf("span start %v, want 09:00 UTC", b.Span.Start)
			}
			rows, _, _ := synth(9, 500, 20, 4, 1, 2, 6)
			rows = append(rows, []float64{0, 0, 0, 0}, []float64{-1e99, 1e99, 0, 1})
			sa, err := a.Score(rows)
			if err != nil {
				t.Fatal(err)
			}
			sb, err := b.Score(rows)
			if err != nil {
				t.Fatal(err)
			}
			for i := range sa {
				if math.Float64bits(sa[i]) != math.Float64bits(sb[i]) {
					t.Fatalf("row %d: loaded artifact scores %v, trained one %v", i, sb[i], sa[i])
				}
				if sa[i] < 0 || sa[i] > 1 {
					t.Fatalf("row %d: score %v outside [0, 1]", i, sa[i])
				}
			}
			ea, _ := a.Explain(rows[0])
			eb, _ := b.Explain(rows[0])
			if len(ea) != len(eb) || ea[0] != eb[0] {
				t.Fatalf("explanations differ: %+v, %+v", ea, eb)
			}
		})
	}
}

// rewrite decodes an artifact's JSON into a map, lets f change it, and
// encodes it again; reseal recomputes the id as a forger would.
func rewrite(t *testing.T, data []byte, reseal bool, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !reseal {
		return out
	}
	var a Artifact
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatal(err)
	}
	if a.ID, err = a.contentID(); err != nil {
		t.Fatal(err)
	}
	if out, err = json.Marshal(&a); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadRejects(t *testing.T) {
	good := save(t, smallIForest(t))
	goodForest := save(t, smallForest(t))
	v1 := readFixture(t, "v1-iforest.json")
	tree0 := func(m map[string]any) map[string]any { return m["trees"].([]any)[0].(map[string]any) }
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrForeign},
		{"binary", []byte("\x89PNG\r\n\x1a\n"), ErrForeign},
		{"JSON array", []byte("[1,2]"), ErrForeign},
		{"other JSON", []byte(`{"name":"x","version":1}`), ErrForeign},
		{"format of another type", []byte(`{"format":3}`), ErrForeign},
		{"truncated", good[:len(good)/2], ErrCorrupt},
		{"trailing data", append(append([]byte{}, good...), []byte(`{"x":1}`)...), ErrCorrupt},
		{"newer version", rewrite(t, good, false, func(m map[string]any) { m["version"] = 3 }), ErrVersion},
		{"version 0", rewrite(t, good, false, func(m map[string]any) { m["version"] = 0 }), ErrVersion},
		{"version 2 as 1", rewrite(t, good, false, func(m map[string]any) { m["version"] = 1 }), ErrCorrupt},
		{"version 1 as 2", rewrite(t, v1, false, func(m map[string]any) { m["version"] = 2 }), ErrCorrupt},
		{"version 1 threshold altered", rewrite(t, v1, false, func(m map[string]any) { m["threshold"] = 0.99 }), ErrCorrupt},
		{"version 1 id altered", rewrite(t, v1, false, func(m map[string]any) { m["id"] = "sha256:00" }), ErrCorrupt},
		{"version 1 split altered", rewrite(t, v1, false, func(m map[string]any) { tree0(m)["split"].([]any)[0] = 1e9 }), ErrCorrupt},
		{"unknown field", rewrite(t, good, false, func(m map[string]any) { m["extra"] = true }), ErrCorrupt},
		{"threshold altered", rewrite(t, good, false, func(m map[string]any) { m["threshold"] = 0.99 }), ErrCorrupt},
		{"id altered", rewrite(t, good, false, func(m map[string]any) { m["id"] = "sha256:00" }), ErrCorrupt},
		{"split altered", rewrite(t, good, false, func(m map[string]any) { tree0(m)["split"].([]any)[0] = 1e9 }), ErrCorrupt},
		// Forged: the id is recomputed, the structure checks still fail.
		{"child out of range", rewrite(t, good, true, func(m map[string]any) { tree0(m)["left"].([]any)[0] = 100000 }), ErrCorrupt},
		{"cycle", rewrite(t, good, true, func(m map[string]any) { tree0(m)["left"].([]any)[0] = 0 }), ErrCorrupt},
		{"feature out of range", rewrite(t, good, true, func(m map[string]any) { tree0(m)["feature"].([]any)[0] = 4 }), ErrCorrupt},
		{"ragged tree", rewrite(t, good, true, func(m map[string]any) { tree0(m)["size"] = []any{1} }), ErrCorrupt},
		{"unknown kind", rewrite(t, good, true, func(m map[string]any) { m["kind"] = "svm" }), ErrCorrupt},
		{"tree count", rewrite(t, good, true, func(m map[string]any) { m["trees"] = m["trees"].([]any)[:3] }), ErrCorrupt},
		{"duplicate features", rewrite(t, good, true, func(m map[string]any) { m["features"] = []any{"a", "a", "b", "c"} }), ErrCorrupt},
		{"baselines", rewrite(t, good, true, func(m map[string]any) { m["baselines"] = []any{} }), ErrCorrupt},
		{"forest without counts", rewrite(t, goodForest, true, func(m map[string]any) { delete(tree0(m), "positive") }), ErrCorrupt},
		{"iforest as forest", rewrite(t, good, true, func(m map[string]any) { m["kind"] = "forest" }), ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := Load(bytes.NewReader(c.data))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, %v; want %v", a, err, c.want)
			}
			t.Logf("%v", err)
		})
	}
}

func TestScoreInputs(t *testing.T) {
	a := smallIForest(t)
	if _, err := a.Score([][]float64{{1, 2, 3, 4}, {1, 2, 3}}); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("short row: %v", err)
	}
	big, _, _ := synth(3, 5000, 0, 4, 0, 1, 1)
	big[4321] = []float64{1, math.NaN(), 3, 4}
	big[4999] = []float64{1}
	if _, err := a.Score(big); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "row 4321") {
		t.Errorf("NaN in a parallel chunk: %v", err)
	}
	if err := a.ScoreInto(make([]float64, 1), big); !errors.Is(err, ErrInput) {
		t.Errorf("dst too short: %v", err)
	}
	if _, err := a.Explain([]float64{1}); !errors.Is(err, ErrInput) {
		t.Errorf("Explain short row: %v", err)
	}
	var zero Artifact
	if _, err := zero.Score(nil); err == nil {
		t.Error("Score on a zero artifact: no error")
	}
	if err := zero.Save(&bytes.Buffer{}); err == nil {
		t.Error("Save of a zero artifact: no error")
	}
	if s, err := a.Score(nil); err != nil || len(s) != 0 {
		t.Errorf("no rows: %v, %v", s, err)
	}
}

// A row's score does not depend on the rows scored with it or on the
// number of goroutines.
func TestScoreIndependentOfParallelism(t *testing.T) {
	a := smallIForest(t)
	rows, _, _ := synth(4, 20000, 200, 4, 1, 2, 6)
	all, err := a.Score(rows)
	if err != nil {
		t.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(1)
	one, err := a.Score(rows)
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	single := make([]float64, 1)
	for i := 0; i < len(rows); i += 97 {
		if err := a.ScoreInto(single, rows[i:i+1]); err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(single[0]) != math.Float64bits(all[i]) || math.Float64bits(one[i]) != math.Float64bits(all[i]) {
			t.Fatalf("row %d: alone %v, one core %v, in bulk %v", i, single[0], one[i], all[i])
		}
	}
}

// Save writes what a trainer sealed: exactly the JSON encoding of the
// artifact (jsonEncoding: from version 2 with "id" last), as it writes a
// loaded one, of version 2 or 1.
func TestSaveIsTheJSONEncoding(t *testing.T) {
	rows, labels, names := synth(4, 400, 40, 6, 1, 2, 6)
	ifo, err := TrainIsolationForest(rows, names, IForestOptions{Seed: 3, Trees: 20, Span: Span{Start: time.Date(2026, 11, 27, 8, 0, 0, 0, time.FixedZone("x", 3600)), End: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}})
	if err != nil {
		t.Fatal(err)
	}
	rf, err := TrainRandomForest(rows, labels, names, ForestOptions{Seed: 3, Trees: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*Artifact{ifo, rf, loadFixture(t, "v1-iforest.json"), loadFixture(t, "v1-forest.json")} {
		enc, err := jsonEncoding(a)
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.NewBuffer(append(enc, '\n'))
		var got bytes.Buffer
		if err := a.Save(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("%s: Save wrote %d bytes, not the %d of its JSON encoding", a.Kind, got.Len(), want.Len())
		}
		loaded, err := Load(bytes.NewReader(got.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		var again bytes.Buffer
		if err := loaded.Save(&again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), want.Bytes()) {
			t.Fatalf("%s: a loaded artifact saves differently", a.Kind)
		}
		// SaveSHA256 is the hash of what Save writes, trained or loaded.
		for _, x := range []*Artifact{a, loaded} {
			if sum, err := x.SaveSHA256(); err != nil || sum != sha256.Sum256(want.Bytes()) {
				t.Fatalf("%s: SaveSHA256 %x, %v; want the hash of the %d bytes Save writes", a.Kind, sum, err, want.Len())
			}
		}
	}
	if _, err := (&Artifact{}).SaveSHA256(); err == nil {
		t.Fatal("SaveSHA256 of an artifact neither trained nor loaded did not fail")
	}
}

// TestCheckRowIsScoreIntosError: CheckRow returns the error ScoreInto
// returns for the same row alone, and nil for a row it scores.
func TestCheckRowIsScoreIntosError(t *testing.T) {
	a := smallIForest(t)
	var zero Artifact
	for _, c := range []struct {
		a   *Artifact
		row []float64
	}{
		{a, []float64{1, 2, 3, 4}}, {a, []float64{1, 2, 3}}, {a, nil}, {a, []float64{1, math.NaN(), 3, 4}},
		{a, []float64{1, 2, math.Inf(-1), 4}}, {a, []float64{1, 2, 3, 2 * MaxAbsValue}}, {&zero, []float64{1, 2, 3, 4}}, {nil, nil},
	} {
		want := c.a.ScoreInto(make([]float64, 1), [][]float64{c.row})
		got := c.a.CheckRow(c.row)
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Errorf("row %v: CheckRow %v, ScoreInto %v", c.row, got, want)
		}
	}
}

// readFixture reads a file of testdata; loadFixture loads it.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func loadFixture(t testing.TB, name string) *Artifact {
	t.Helper()
	a, err := Load(bytes.NewReader(readFixture(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a
}

// TestFormatVersions: testdata/v1-*.json are smallIForest and smallForest
// as version 1 wrote them (Save at dde4626, the "id" member after
// "version"). They load, save to the same bytes, score as the artifacts
// trained now, version 2, whose content differs only in the version and
// where the "id" member is; a copy with one byte of a split changed does
// not load. Version 2 writes "id" last, and its ID and SaveSHA256 are the
// SHA-256 of the content and of the file, as in version 1.
func TestFormatVersions(t *testing.T) {
	for _, c := range []struct {
		file  string
		fresh *Artifact
	}{{"v1-iforest.json", smallIForest(t)}, {"v1-forest.json", smallForest(t)}} {
		t.Run(c.file, func(t *testing.T) {
			data := readFixture(t, c.file)
			if !bytes.HasPrefix(data, []byte(`{"format":"halo.model","version":1,"id":"sha256:`)) {
				t.Fatalf("not a version 1 file: %.60s", data)
			}
			old := loadFixture(t, c.file)
			a := c.fresh
			if old.Version != 1 || a.Version != 2 {
				t.Fatalf("versions %d and %d, want 1 and 2", old.Version, a.Version)
			}
			if got := save(t, old); !bytes.Equal(got, data) {
				t.Fatal("the version 1 artifact saves to other bytes")
			}
			if sum, err := old.SaveSHA256(); err != nil || sum != sha256.Sum256(data) {
				t.Fatalf("version 1 SaveSHA256 %x, %v; want the file's", sum, err)
			}
			// The same content but for the version and the id's place.
			oc, ac := old.contentCopy(), a.contentCopy()
			oc.Version = 2
			ob, err := marshalContent(&oc, nil)
			if err != nil {
				t.Fatal(err)
			}
			ab, err := marshalContent(&ac, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ob, ab) {
				t.Fatal("the version 1 fixture's content differs from the artifact trained now")
			}
			if old.ID == a.ID {
				t.Fatal("versions 1 and 2 have the same id")
			}
			rows, _, _ := synth(9, 500, 20, 4, 1, 2, 6)
			rows = append(rows, []float64{0, 0, 0, 0}, []float64{-1e99, 1e99, 0, 1})
			so, err := old.Score(rows)
			if err != nil {
				t.Fatal(err)
			}
			sa, err := a.Score(rows)
			if err != nil {
				t.Fatal(err)
			}
			for i := range so {
				if math.Float64bits(so[i]) != math.Float64bits(sa[i]) {
					t.Fatalf("row %d: version 1 scores %v, version 2 %v", i, so[i], sa[i])
				}
			}

			// Version 2: "id" last, the file the content with the ID and a
			// newline, hashed by SaveSHA256, loaded to the same ID.
			v2 := save(t, a)
			content, err := marshalContent(&ac, nil)
			if err != nil {
				t.Fatal(err)
			}
			id := sha256.Sum256(content)
			if want := "sha256:" + hex.EncodeToString(id[:]); a.ID != want {
				t.Fatalf("id %s, the content's SHA-256 %s", a.ID, want)
			}
			if !bytes.HasSuffix(content, []byte(`,"id":""}`)) || !bytes.Equal(v2, append(content[:len(content)-2:len(content)-2], a.ID+`"}`+"\n"...)) {
				t.Fatalf("version 2 file is not its content with the id last: ...%s", v2[len(v2)-100:])
			}
			if sum, err := a.SaveSHA256(); err != nil || sum != sha256.Sum256(v2) {
				t.Fatalf("version 2 SaveSHA256 %x, %v; want the file's", sum, err)
			}
			b, err := Load(bytes.NewReader(v2))
			if err != nil || b.ID != a.ID || b.Version != 2 {
				t.Fatalf("version 2 file loads as %v, %v", b, err)
			}

			// A split's first digit changed, in either version's file.
			for _, file := range [][]byte{data, v2} {
				at := bytes.Index(file, []byte(`"split":[`)) + len(`"split":[`)
				bad := bytes.Clone(file)
				bad[at] = '0' + (bad[at]-'0'+1)%10
				if _, err := Load(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("a file with a split altered (%.20s) loads: %v", bad[at-9:], err)
				}
			}
		})
	}
}

// contentID computes the artifact's ID from its content (what Load checks
// and seal sets, through sealContent).
func (a *Artifact) contentID() (string, error) {
	id, _, err := a.content()
	return id, err
}

// content returns the artifact's ID and a copy of its JSON encoding with
// ID empty.
func (a *Artifact) content() (string, []byte, error) {
	buf := contentBufs.Get().(*[]byte)
	defer contentBufs.Put(buf)
	id, b, err := a.contentInto(buf)
	return id, bytes.Clone(b), err
}

// TestUnsealedSealsTheSame: an artifact trained Unsealed has no ID until
// Seal, which gives it the ID, the saved bytes and the hash of them of the
// same training sealed, once, from however many goroutines (go test -race),
// though other trainings reuse the trainer's buffers in between; Save and
// SaveSHA256 of one never sealed seal it first.
func TestUnsealedSealsTheSame(t *testing.T) {
	rows, _, names := synth(5, 400, 4, 6, 2, 2, 6)
	opts := IForestOptions{Seed: 3, Trees: 20, Depth: 6, Sample: 64, CreatedBy: "test",
		Span: Span{Start: time.Date(2026, 11, 28, 9, 0, 0, 0, time.FixedZone("CET", 3600)), End: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}}
	sealed, err := TrainIsolationForest(rows, names, opts)
	if err != nil {
		t.Fatal(err)
	}
	want, wantSum := save(t, sealed), sha256.Sum256(save(t, sealed))
	if sum, err := sealed.SaveSHA256(); err != nil || sum != wantSum || sealed.Seal() != nil {
		t.Fatalf("sealed: SaveSHA256 %x, %v; Seal %v", sum, err, sealed.Seal())
	}
	lazyOpts := opts
	lazyOpts.Unsealed = true
	train := func() *Artifact {
		a, err := TrainIsolationForest(rows, names, lazyOpts)
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != "" {
			t.Fatalf("unsealed artifact has ID %s", a.ID)
		}
		if a.Span.Start.Location() != time.UTC || a.Format != FormatName {
			t.Fatalf("unsealed artifact not normalised as a sealed one: %v %q", a.Span.Start, a.Format)
		}
		return a
	}
	lazy, saved, hashed := train(), train(), train()
	// Other trainings, their buffers recycled, before the seals.
	other, _, _ := synth(6, 500, 4, 6, 1, 2, 6)
	for range 3 {
		if _, err := TrainIsolationForest(other, names, IForestOptions{Seed: 9, Trees: 30, Depth: 7, Sample: 128}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := lazy.Seal(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if lazy.ID != sealed.ID {
		t.Fatalf("sealed late: ID %s, sealed at training %s", lazy.ID, sealed.ID)
	}
	if got := save(t, lazy); !bytes.Equal(got, want) {
		t.Fatalf("sealed late, Save writes %d bytes unlike the %d of the sealed training", len(got), len(want))
	}
	if got := save(t, saved); !bytes.Equal(got, want) || saved.ID != sealed.ID {
		t.Fatalf("Save of an unsealed artifact: ID %s, %d bytes, want %s and the %d bytes of the sealed training", saved.ID, len(got), sealed.ID, len(want))
	}
	if sum, err := hashed.SaveSHA256(); err != nil || sum != wantSum || hashed.ID != sealed.ID {
		t.Fatalf("SaveSHA256 of an unsealed artifact: %x, %v, ID %s; want %x, %s", sum, err, hashed.ID, wantSum, sealed.ID)
	}
}
