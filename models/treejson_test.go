package models

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"testing"
)

// edgeFloats are split values at every boundary of encoding/json's float
// format: exponent form below 1e-6 and from 1e21, shortened negative
// exponents, signed zero, subnormals, the extremes.
var edgeFloats = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.5, 1e-6, 9.99999e-7, 1e-7, -1e-7, 1e-10, 1.5e-300,
	5e-324, math.SmallestNonzeroFloat64, 1e20, 1e21, -1e21, 9.999999999999999e20, 1.7976931348623157e308,
	123456789.125, 0.1, 1.0 / 3, 2.5e-5,
}

func TestMarshalContentMatchesJSON(t *testing.T) {
	trees := []Tree{
		{Feature: []int{0, -1, -1}, Split: edgeFloats[:3], Left: []int{1, -1, -1}, Right: []int{2, -1, -1}, Size: []int{10, 4, 6}},
		{Feature: []int{}, Split: []float64{}, Left: nil, Right: []int{}, Size: nil, Positive: []int{}},
		{Feature: []int{-1}, Split: edgeFloats, Left: []int{-1}, Right: []int{-1}, Size: []int{math.MaxInt64, math.MinInt64}, Positive: []int{3}},
		{Feature: []int{0, 9, 10, 99, 100, 999, 1000, 1001, -1, -2, -9, -10, -99, -100, -1000}, Split: []float64{}, Left: []int{511, 255, 12}, Right: []int{256}, Size: []int{9999, 10000, 65536}, Positive: []int{0, 1}},
	}
	v1 := loadFixture(t, "v1-iforest.json")
	odd := `sha256:"\<>&` + "\u2028\x01é" // escaped by encoding/json
	for _, a := range []*Artifact{
		smallIForest(t), smallForest(t), v1, {Kind: KindIForest, Trees: trees}, {Kind: KindForest}, {Trees: []Tree{}},
		{Version: 1, ID: odd, Trees: trees}, {Version: 2, ID: odd, Format: `x,"id":"","kind":""`, Trees: trees},
		{Version: 2, Kind: KindForest}, {Version: 2, Trees: []Tree{}}, {Version: 2, ID: "sha256:0"},
	} {
		want, err := jsonEncoding(a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := marshalContent(a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("version %d: marshalContent differs from encoding/json:\n got %s\nwant %s", a.Version, got, want)
		}
	}
	if smallIForest(t).Version != 2 || v1.Version != 1 {
		t.Fatal("the cases above miss version 1 or 2")
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		a := &Artifact{Trees: []Tree{{Split: []float64{1, bad}}}}
		if _, err := marshalContent(a, nil); err == nil {
			t.Fatalf("split %v encoded without an error", bad)
		}
	}
}

// jsonEncoding is the JSON encoding of a by encoding/json alone, as
// marshalContent writes it: the Artifact's fields in order, but from
// version 2 the "id" member last (the outer field hides the embedded
// one of the same name, and is encoded after the embedded fields).
func jsonEncoding(a *Artifact) ([]byte, error) {
	if !idLast(a.Version) {
		return json.Marshal(a)
	}
	return json.Marshal(struct {
		*Artifact
		ID string `json:"id"`
	}{a, a.ID})
}

// TestContentOwnsItsBytes: seal, Save and content encode in recycled
// buffers; what content returns must not be one of them, which the next
// encoding overwrites.
func TestContentOwnsItsBytes(t *testing.T) {
	a, b := smallIForest(t), smallForest(t)
	_, first, err := a.content()
	if err != nil {
		t.Fatal(err)
	}
	kept := bytes.Clone(first)
	for range 3 {
		if _, _, err := b.content(); err != nil {
			t.Fatal(err)
		}
		if err := b.Save(io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(first, kept) {
		t.Fatal("a later encoding changed the bytes an earlier content returned")
	}
}

// TestSaveOfChangedArtifact: a trained artifact keeps the hash of what
// Save writes, not the bytes: Save encodes it again, and refuses one whose
// content changed since its training (it no longer has its ID) rather
// than write bytes SaveSHA256 does not describe.
func TestSaveOfChangedArtifact(t *testing.T) {
	a := smallIForest(t)
	var before bytes.Buffer
	if err := a.Save(&before); err != nil {
		t.Fatal(err)
	}
	threshold := a.Threshold
	a.Threshold++
	if err := a.Save(io.Discard); err == nil {
		t.Fatal("Save of an artifact changed since its training did not fail")
	}
	a.Threshold = threshold
	var after bytes.Buffer
	if err := a.Save(&after); err != nil || !bytes.Equal(after.Bytes(), before.Bytes()) {
		t.Fatalf("Save after the change was undone: %v, same bytes %v", err, bytes.Equal(after.Bytes(), before.Bytes()))
	}
	a.ID = "sha256:00"
	if err := a.Save(io.Discard); err == nil {
		t.Fatal("Save of an artifact whose ID changed did not fail")
	}
}

// FuzzTreeJSON: any split value encodes as encoding/json encodes it.
func FuzzTreeJSON(f *testing.F) {
	for _, x := range edgeFloats {
		f.Add(math.Float64bits(x), int64(x))
	}
	for _, n := range []int64{-1, -10, 9, 10, 99, 100, 999, 1000, 8000} {
		f.Add(uint64(n), n)
	}
	f.Fuzz(func(t *testing.T, bits uint64, n int64) {
		x := math.Float64frombits(bits)
		tree := []Tree{{Feature: []int{int(n)}, Split: []float64{x, -x}, Left: []int{-1}, Right: []int{int(n >> 3)}, Size: []int{1}}}
		want, werr := json.Marshal(tree)
		got, gerr := appendTrees(nil, tree)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%v (%x): json error %v, appendTrees error %v", x, binary.BigEndian.AppendUint64(nil, bits), werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s, want %s", x, got, want)
		}
	})
}

// BenchmarkMarshalContent encodes the content of a cohort model trained
// on the Zeek fixture (100 trees), as training does for the artifact's id.
func BenchmarkMarshalContent(b *testing.B) {
	rows := zeekCohortRows()
	names := make([]string, len(rows[0]))
	for j := range names {
		names[j] = fmt.Sprintf("f%02d", j)
	}
	a, err := TrainIsolationForest(rows, names, IForestOptions{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	c := *a
	c.ID = ""
	buf := new([]byte) // recycled, as seal's
	b.ReportAllocs()
	for b.Loop() {
		if _, err := marshalContent(&c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAppendInts: appendInts writes every int as encoding/json does, around
// the table's bounds and at the extremes, alone, first, amid others, and
// after bytes already in the buffer.
func TestAppendInts(t *testing.T) {
	var vs []int
	for x := -1100; x <= 1100; x++ {
		vs = append(vs, x)
	}
	vs = append(vs, math.MaxInt64, math.MinInt64, 1<<40, -1<<40)
	for _, v := range [][]int{nil, {}, vs, {-1}, {999}, {1000}, {-2}, {0, -1, 7, 42, 999, 1000, -1, 3}} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got := appendInts([]byte("x:"), v)
		if string(got) != "x:"+string(want) {
			t.Fatalf("appendInts(%v) = %s, want x:%s", v, got, want)
		}
		for i, x := range v {
			one, _ := json.Marshal([]int{x})
			if got := appendInts(nil, v[i:i+1]); !bytes.Equal(got, one) {
				t.Fatalf("appendInts([%d]) = %s, want %s", x, got, one)
			}
		}
	}
}

// TestAppendFloats: appendFloats writes a []float64 as encoding/json does,
// +0 and -0 first, last and amid others, after bytes already in the
// buffer, values appendFloatF declines and those at its range's ends,
// and fails on what encoding/json fails on.
func TestAppendFloats(t *testing.T) {
	negZero := math.Copysign(0, -1)
	for _, v := range [][]float64{nil, {}, {0}, {negZero}, {1.5}, {0, 0}, {0, 1.5, negZero, 0, 1e-7, 1e21, 3, 0}, {negZero, 0, 2.25e-300, -7},
		{0.5, 1024, -2, 1e-6, -1e-6, 9.999999999999999e20, 123.456, 1e20}} { // powers of two: appendFloatF declines them
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendFloats([]byte("x:"), v)
		if err != nil || string(got) != "x:"+string(want) {
			t.Fatalf("appendFloats(%v) = %s, %v, want x:%s", v, got, err, want)
		}
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := appendFloats(nil, []float64{0, 1, bad}); err == nil {
			t.Fatalf("appendFloats of %v: no error", bad)
		}
	}
}
