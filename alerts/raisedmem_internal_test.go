package alerts

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// Alerts raised share chunks of memory (their structs, features and one
// evidence id): on random raises — no evidence, one id, several, an id of
// another length, no features, a few, many — and updates appending evidence
// to random alerts, every alert folds what a plain fold of its own events
// gives (evidenceIDs, features copied), and no alert's evidence or
// features change another's.
func TestRaisedAlertsOwnTheirMemory(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	s := NewSet()
	type want struct {
		evidence []events.ID
		features []Feature
	}
	wants := map[string]*want{}
	var ids []string
	for i := range 3000 {
		if i < 400 || r.IntN(3) == 0 {
			id := fmt.Sprintf("al-%d", i)
			var evidence [][]byte
			switch r.IntN(6) {
			case 0: // none
			case 1:
				evidence = [][]byte{idBytes(events.NewID()), idBytes(events.NewID())}
			case 2:
				evidence = [][]byte{[]byte("short")}
			default:
				evidence = [][]byte{idBytes(events.NewID())}
			}
			n := r.IntN(5)
			if r.IntN(20) == 0 {
				n = 60 + r.IntN(200) // larger than a chunk's quarter, or than a chunk
			}
			var fs []*events.Feature
			w := &want{evidence: evidenceIDs(evidence)}
			for k := range n {
				f := &events.Feature{Name: fmt.Sprint("f", k), Value: r.Float64(), Baseline: r.Float64()}
				fs = append(fs, f)
				w.features = append(w.features, Feature{Name: f.Name, Value: f.Value, Baseline: f.Baseline})
			}
			ev := events.New("acme", "pos-1", &events.AlertRaised{AlertId: id, Detector: "d", Severity: events.Severity_SEVERITY_LOW,
				Evidence: evidence, Features: fs})
			ev.Time = t0.Add(time.Duration(i) * time.Second)
			s.Apply(&ev)
			wants[id], ids = w, append(ids, id)
			continue
		}
		id := ids[r.IntN(len(ids))]
		e := events.NewID()
		ev := events.New("acme", "pos-1", &events.AlertUpdated{AlertId: id, Count: uint32(i), Evidence: [][]byte{e[:]}})
		s.Apply(&ev)
		w := wants[id]
		if !slices.Contains(w.evidence, e) {
			w.evidence = append(w.evidence, e)
		}
	}
	for _, id := range ids {
		a, ok := s.Get("acme", id)
		if !ok {
			t.Fatalf("alert %s not folded", id)
		}
		w := wants[id]
		if !reflect.DeepEqual(a.Evidence, w.evidence) || !reflect.DeepEqual(a.Features, w.features) {
			t.Fatalf("alert %s: evidence %v, features %v; want %v, %v", id, a.Evidence, a.Features, w.evidence, w.features)
		}
	}
}
