package models

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzLoad feeds Load arbitrary bytes: it must return an artifact or an
// error, never panic, and a loaded artifact (of format version 1 or 2)
// must save, load again to the same id, encode as encoding/json does,
// score and explain. Because an altered artifact fails the id
// check long before the structure checks, each input is also tried
// "forged": decoded leniently, its id recomputed, and loaded again, which
// drives the structure checks and the compiler with arbitrary trees.
func FuzzLoad(f *testing.F) {
	for _, a := range []*Artifact{smallIForest(f), smallForest(f)} {
		data := save(f, a)
		f.Add(data)
		f.Add(data[:len(data)/3])
	}
	for _, name := range []string{"v1-iforest.json", "v1-forest.json"} { // format version 1
		data := readFixture(f, name)
		f.Add(data)
		f.Add(data[:len(data)/3])
	}
	for _, v := range []string{"1", "2", "3"} {
		f.Add([]byte(`{"format":"halo.model","version":` + v + `}`))
		f.Add([]byte(`{"format":"halo.model","version":` + v + `,"kind":"iforest","features":["a"],"baselines":[{"median":0,"mad":0,"scale":1}],"threshold":0.5,"rows":10,"params":{"trees":1,"depth":1,"sample":2,"fpr":0.01},"trees":[{"feature":[0,-1,-1],"split":[0.5,0,0],"left":[1,-1,-1],"right":[2,-1,-1],"size":[2,1,1]}],"id":""}`))
	}
	f.Add([]byte(`[]`))
	f.Add([]byte{})

	f.Fuzz(fuzzLoad)
}

func fuzzLoad(t *testing.T, data []byte) {
	exercise(t, data)
	var a Artifact
	if json.Unmarshal(data, &a) != nil {
		return
	}
	id, err := a.contentID()
	if err != nil {
		return
	}
	a.ID = id
	forged, err := json.Marshal(&a)
	if err != nil {
		return
	}
	exercise(t, forged)
}

func exercise(t *testing.T, data []byte) {
	a, err := Load(bytes.NewReader(data))
	if err != nil {
		return
	}
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatalf("loaded artifact does not save: %v", err)
	}
	b, err := Load(&buf)
	if err != nil {
		t.Fatalf("saved artifact does not load: %v", err)
	}
	if b.ID != a.ID {
		t.Fatalf("id changed over a round trip: %s, %s", a.ID, b.ID)
	}
	// The members in the order of a's version, as encoding/json writes them.
	want, werr := jsonEncoding(a)
	got, gerr := marshalContent(a, nil)
	if werr != nil || gerr != nil || !bytes.Equal(got, want) {
		t.Fatalf("version %d: marshalContent %s, %v; encoding/json %s, %v", a.Version, got, gerr, want, werr)
	}
	row := make([]float64, len(a.Features))
	if _, err := a.Score([][]float64{row}); err != nil {
		t.Fatalf("scoring a zero row: %v", err)
	}
	if _, err := a.Explain(row); err != nil {
		t.Fatalf("explaining a zero row: %v", err)
	}
}
