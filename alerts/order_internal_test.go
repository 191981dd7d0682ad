package alerts

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// A tenant's alerts stay in (Time, ID) order however they arrive: mostly
// in time order (appended), sometimes late, sometimes at one time; and
// updates fold their evidence as evidenceIDs reads it (ids of another
// length skipped, repeats once, at most MaxEvidence).
func TestOrderAndEvidence(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := NewSet()
	var want []string
	for i := range 2000 {
		off := time.Duration(i) * time.Second
		switch r.IntN(5) {
		case 0:
			off -= time.Duration(r.IntN(600)) * time.Second // late
		case 1:
			off = time.Duration(i/10) * time.Second // several at one time
		}
		id := fmt.Sprintf("al-%04d", r.IntN(10000))
		ev := raised("acme", "pos-1", id, "scan", events.Severity_SEVERITY_HIGH, off)
		if _, dup := s.tenants["acme"].lookupID(id); !dup {
			want = append(want, id)
		}
		s.Apply(&ev)
	}
	ta := s.tenants["acme"]
	if !slices.IsSortedFunc(ta.order, func(a, b *Alert) int {
		if a.before(b.Time, b.ID) {
			return -1
		}
		if b.before(a.Time, a.ID) {
			return 1
		}
		return 0
	}) {
		t.Fatal("alerts out of (Time, ID) order")
	}
	if len(ta.order) != len(want) || len(ta.byID) != len(want) {
		t.Fatalf("%d alerts in order, %d by id, want %d", len(ta.order), len(ta.byID), len(want))
	}

	a := ta.order[0]
	first := slices.Clone(a.Evidence)
	one, two := events.NewID(), events.NewID()
	up := events.New("acme", "pos-1", &events.AlertUpdated{AlertId: a.ID, Count: 2, Evidence: [][]byte{one[:], []byte("short"), one[:], two[:]}})
	s.Apply(&up)
	if got := a.Evidence; !slices.Equal(got, append(first, one, two)) {
		t.Fatalf("evidence %v, want %v then %v, %v", got, first, one, two)
	}
	for len(a.Evidence) < MaxEvidence {
		id := events.NewID()
		up := events.New("acme", "pos-1", &events.AlertUpdated{AlertId: a.ID, Count: 2, Evidence: [][]byte{id[:]}})
		s.Apply(&up)
	}
	id := events.NewID()
	up = events.New("acme", "pos-1", &events.AlertUpdated{AlertId: a.ID, Count: 3, Evidence: [][]byte{id[:]}})
	s.Apply(&up)
	if len(a.Evidence) != MaxEvidence || slices.Contains(a.Evidence, id) {
		t.Fatalf("%d evidence ids kept, want the first %d", len(a.Evidence), MaxEvidence)
	}
}

func (ta *tenantAlerts) lookupID(id string) (*Alert, bool) {
	if ta == nil {
		return nil, false
	}
	a, ok := ta.byID[id]
	return a, ok
}
