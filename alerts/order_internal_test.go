package alerts

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
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

// Set's last alert, last raised and last tenant change nothing: on random raises,
// updates, acknowledgements and resolutions — runs about one alert, about
// one alert between raises of others, other tenants naming it — the set
// folds what a set that always looks its maps up
// folds.
func TestSetLastAlert(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	cached, plain := NewSet(), NewSet()
	var ids []string
	updated := "" // the alert of the last change
	hits := 0
	for i := range 5000 {
		tenant := []string{"acme", "globex"}[r.IntN(2)]
		var ev events.Event
		switch k := r.IntN(10); {
		case k == 0 || len(ids) == 0:
			id := fmt.Sprintf("al-%d", r.IntN(3000))
			ids = append(ids, id)
			ev = raised(tenant, "pos-1", id, "inbound", events.Severity_SEVERITY_HIGH, time.Duration(i)*time.Second)
		default:
			id := ids[len(ids)-1]
			switch r.IntN(4) {
			case 0:
				id = ids[r.IntN(len(ids))]
			case 1: // the alert updated last, others raised since
				id = cmp.Or(updated, id)
			}
			updated = id
			ev = alertChange(r, k, tenant, id, i)
			for _, a := range []*Alert{cached.last, cached.lastRaised} {
				if a != nil && a.ID == id && a.Tenant == tenant {
					hits++
					break
				}
			}
		}
		ev.Seq = uint64(i + 1)
		cached.Apply(&ev)
		plain.last, plain.lastRaised, plain.lastTenant = nil, nil, nil // always the maps
		plain.Apply(&ev)
	}
	for _, tenant := range []string{"acme", "globex"} {
		got, _, err := cached.List(tenant, Filter{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := plain.List(tenant, Filter{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("tenant %s: the set through its last alert folds %d alerts, the plain one %d, or differently", tenant, len(got), len(want))
		}
		if !reflect.DeepEqual(cached.OpenCounts(tenant), plain.OpenCounts(tenant)) {
			t.Fatalf("tenant %s: open counts %v, plain %v", tenant, cached.OpenCounts(tenant), plain.OpenCounts(tenant))
		}
	}
	if hits < 1000 {
		t.Fatalf("%d events about the last alert: the test checks little", hits)
	}
}

// insertAt finds the position a bisection of the whole order finds: on
// random orders (alerts at a few times, ids random) and alerts late by a
// little or a lot, or at the first alert's time.
func TestInsertAtMatchesSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for range 2000 {
		n := 1 + r.IntN(300)
		order := make([]*Alert, n)
		for i := range order {
			order[i] = &Alert{Time: t0.Add(time.Duration(r.IntN(n/4+1)) * time.Minute), ID: fmt.Sprintf("al-%05d", r.IntN(100000))}
		}
		slices.SortFunc(order, func(x, y *Alert) int {
			if x.before(y.Time, y.ID) {
				return -1
			}
			return 1
		})
		last := order[n-1]
		a := &Alert{Time: last.Time.Add(-time.Duration(r.IntN(n/4+2)) * time.Minute), ID: fmt.Sprintf("al-%05d", r.IntN(100000))}
		if r.IntN(5) == 0 {
			a.Time = order[0].Time
		}
		if a.Time.Equal(last.Time) && last.ID < a.ID {
			a.ID = "al-" // not after the last: insertAt's precondition
		}
		want := sort.Search(n, func(i int) bool { return !order[i].before(a.Time, a.ID) })
		if got := insertAt(order, a); got != want {
			t.Fatalf("insertAt of %v %s into %d alerts = %d, want %d", a.Time, a.ID, n, got, want)
		}
	}
}

// alertChange is a random test's change to the alert id of pos-1: an
// acknowledgement (k 8), a resolution (k 9), else its n-th update (n
// seconds after t0, one new evidence id).
func alertChange(r *rand.Rand, k int, tenant, id string, n int) events.Event {
	switch k {
	case 8:
		return events.New(tenant, "pos-1", &events.AlertAcknowledged{AlertId: id, Actor: "op"})
	case 9:
		return events.New(tenant, "pos-1", &events.AlertResolved{AlertId: id, Actor: "op", Verdict: events.Verdict_VERDICT_BENIGN})
	}
	e := events.NewID()
	return events.New(tenant, "pos-1", &events.AlertUpdated{AlertId: id, Count: uint32(n), LastSeen: t0.Add(time.Duration(n) * time.Second).UnixNano(),
		Score: r.Float64(), Evidence: [][]byte{e[:]}})
}
