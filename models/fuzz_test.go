package models

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzLoad feeds Load arbitrary bytes: it must return an artifact or an
// error, never panic, and a loaded artifact must save, load again to the
// same id, score and explain. Because an altered artifact fails the id
// check long before the structure checks, each input is also tried
// "forged": decoded leniently, its id recomputed, and loaded again, which
// drives the structure checks and the compiler with arbitrary trees.
func FuzzLoad(f *testing.F) {
	for _, a := range []*Artifact{smallIForest(f), smallForest(f)} {
		data := save(f, a)
		f.Add(data)
		f.Add(data[:len(data)/3])
	}
	f.Add([]byte(`{"format":"halo.model","version":1}`))
	f.Add([]byte(`{"format":"halo.model","version":1,"kind":"iforest","features":["a"],"baselines":[{"median":0,"mad":0,"scale":1}],"threshold":0.5,"rows":10,"params":{"trees":1,"depth":1,"sample":2,"fpr":0.01},"trees":[{"feature":[0,-1,-1],"split":[0.5,0,0],"left":[1,-1,-1],"right":[2,-1,-1],"size":[2,1,1]}]}`))
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
	row := make([]float64, len(a.Features))
	if _, err := a.Score([][]float64{row}); err != nil {
		t.Fatalf("scoring a zero row: %v", err)
	}
	if _, err := a.Explain(row); err != nil {
		t.Fatalf("explaining a zero row: %v", err)
	}
}
