package alerts

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// An alert's evidence, checked through the index once it holds
// evidenceIndexed ids, is what the plain fold gives: the ids of its raise,
// then each id of its updates not already held, in order, up to
// MaxEvidence. The ids come from a small pool, so that most repeat; some
// alerts are raised with more than evidenceIndexed ids, repeats among
// them; updates carry several ids, some malformed.
func TestEvidenceIndexMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	pool := make([]events.ID, 1500)
	for i := range pool {
		pool[i] = events.DerivedID("e", strconv.Itoa(i))
	}
	s := NewSet()
	want := map[string][]events.ID{}
	var chunk []events.Event
	for a := range 12 {
		id := "al-" + strconv.Itoa(a)
		ev := raised("acme", "pos-1", id, "inbound", events.Severity_SEVERITY_HIGH, time.Duration(a)*time.Second)
		p := ev.Payload.(*events.AlertRaised)
		p.Evidence = nil
		for range []int{1, 3, 70, 200}[a%4] {
			e := pool[r.IntN(len(pool))]
			p.Evidence = append(p.Evidence, e[:])
			want[id] = append(want[id], e) // a raise keeps its ids as they come
		}
		chunk = append(chunk, ev)
	}
	for n := range 20000 {
		id := "al-" + strconv.Itoa(r.IntN(12))
		p := &events.AlertUpdated{AlertId: id, Count: uint32(n + 2), LastSeen: t0.Add(time.Duration(n) * time.Second).UnixNano()}
		for range 1 + r.IntN(3) {
			e := pool[r.IntN(len(pool)/(1+r.IntN(4)))]
			if r.IntN(50) == 0 {
				p.Evidence = append(p.Evidence, e[:5]) // not an id: skipped
				continue
			}
			p.Evidence = append(p.Evidence, e[:])
			if w := want[id]; len(w) < MaxEvidence && !slices.Contains(w, e) {
				want[id] = append(w, e)
			}
		}
		chunk = append(chunk, events.New("acme", "pos-1", p))
	}
	for len(chunk) > 0 { // in chunks, as a replay's outputs come
		n := min(len(chunk), 1+r.IntN(3000))
		s.ApplyAll(chunk[:n])
		chunk = chunk[n:]
	}
	indexed, full := 0, 0
	for id, w := range want {
		a, ok := s.Get("acme", id)
		if !ok {
			t.Fatalf("%s not raised", id)
		}
		if !slices.Equal(a.Evidence, w) {
			t.Fatalf("%s: %d evidence ids, the plain fold %d, or others", id, len(a.Evidence), len(w))
		}
		if len(w) >= evidenceIndexed {
			indexed++
		}
		if len(w) == MaxEvidence {
			full++
			if s.evidence[s.lookup("acme", id)] != nil {
				t.Errorf("%s: an index left at MaxEvidence", id)
			}
		}
	}
	if indexed < 8 || full < 2 {
		t.Fatalf("only %d alerts went through the index, %d reached MaxEvidence", indexed, full)
	}
}
