package alerts

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// ApplyAll folds a chunk as Apply folds its events one by one: on random
// raises (repeats among them), updates, acknowledgements, resolutions and
// events of other types, in chunks of random sizes, the two sets hold the
// same alerts, open counts and position, and their hooks see the same
// changes in the same order.
func TestApplyAllMatchesApply(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	all, one := NewSet(), NewSet()
	var seenAll, seenOne []Alert
	all.OnChange(func(a Alert) { seenAll = append(seenAll, a) })
	one.OnChange(func(a Alert) { seenOne = append(seenOne, a) })
	var ids []string
	seq := uint64(0)
	for range 300 {
		chunk := make([]events.Event, r.IntN(40))
		for i := range chunk {
			tenant := []string{"acme", "globex"}[r.IntN(2)]
			var ev events.Event
			switch k := r.IntN(12); {
			case k == 0 || len(ids) == 0:
				id := fmt.Sprintf("al-%d", r.IntN(500))
				ids = append(ids, id)
				ev = raised(tenant, fmt.Sprint("pos-", r.IntN(3)), id, "inbound", events.Severity_SEVERITY_HIGH, time.Duration(seq)*time.Second)
			case k == 11:
				ev = events.New(tenant, "pos-1", &events.LabelRecorded{})
			default:
				id := ids[len(ids)-1]
				if r.IntN(3) == 0 {
					id = ids[r.IntN(len(ids))]
				}
				ev = alertChange(r, k, tenant, id, int(seq))
			}
			if r.IntN(4) > 0 { // some events not from the log
				seq++
				ev.Seq = seq
			}
			chunk[i] = ev
		}
		all.ApplyAll(chunk)
		for i := range chunk {
			one.Apply(&chunk[i])
		}
		if all.Seq() != one.Seq() {
			t.Fatalf("ApplyAll's position %d, Apply's %d", all.Seq(), one.Seq())
		}
	}
	for _, tenant := range []string{"acme", "globex"} {
		got, _, err := all.List(tenant, Filter{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := one.List(tenant, Filter{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) < 100 || !reflect.DeepEqual(got, want) {
			t.Fatalf("tenant %s: ApplyAll folds %d alerts, Apply %d, or differently", tenant, len(got), len(want))
		}
		if !reflect.DeepEqual(all.OpenCounts(tenant), one.OpenCounts(tenant)) {
			t.Fatalf("tenant %s: open counts %v, Apply's %v", tenant, all.OpenCounts(tenant), one.OpenCounts(tenant))
		}
	}
	if len(seenAll) < 1000 || !reflect.DeepEqual(seenAll, seenOne) {
		t.Fatalf("ApplyAll's hooks saw %d changes, Apply's %d, or others", len(seenAll), len(seenOne))
	}
}
