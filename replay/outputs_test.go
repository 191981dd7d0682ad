package replay

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
)

// TestOutputsMatchWholeOutputs: folding a replay's outputs chunk by chunk
// as it makes them (RunSortedTo into Outputs) gives what the whole outputs
// give (Since, AlertsOf, the alert fold): the same alerts in the same
// order, interventions, report and page, with and without a warm-up.
func TestOutputsMatchWholeOutputs(t *testing.T) {
	evs, _ := importLog(t, "008-zeek-mixed/data/conn.log.labeled")
	labels := LabelsFromEvents(evs)
	whole, _, err := Run(slices.Clone(evs), pipeline.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mid := evs[len(evs)/2].Time
	for _, from := range []time.Time{{}, mid} {
		o := NewOutputs(from)
		chunks := 0
		if _, err := RunSortedTo(context.Background(), events.Values(evs), pipeline.Config{}, nil, func(c []events.Event) error {
			chunks++
			return o.Add(c)
		}); err != nil {
			t.Fatal(err)
		}
		kept := Since(whole, from)
		set := alerts.NewSet()
		var raised [][2]string
		var ivs []byte
		for i := range kept {
			set.Apply(&kept[i])
			switch p := kept[i].Payload.(type) {
			case *events.AlertRaised:
				raised = append(raised, [2]string{kept[i].Tenant, p.AlertId})
			case *events.InterventionApplied:
				ivs = append(kept[i].AppendJSON(ivs), '\n')
			}
		}
		if len(raised) < 100 || chunks < 2 {
			t.Fatalf("from %v: %d alerts in %d chunks: the log should raise many", from, len(raised), chunks)
		}
		if !reflect.DeepEqual(o.Raised, raised) || !bytes.Equal(o.Interventions, ivs) {
			t.Fatalf("from %v: %d alerts raised, want %d; interventions %q, want %q", from, len(o.Raised), len(raised), o.Interventions, ivs)
		}
		for _, r := range raised {
			got, _ := o.Set.Get(r[0], r[1])
			want, _ := set.Get(r[0], r[1])
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("from %v: alert %s folds to %+v, want %+v", from, r[1], got, want)
			}
		}
		candidate := AlertsOf(kept)
		if len(o.Candidate()) != len(candidate) {
			t.Fatalf("from %v: %d candidate alert events, want %d", from, len(o.Candidate()), len(candidate))
		}
		days := DeviceDays(evs)
		got, want := Evaluate(o.Candidate(), labels, time.Minute, days, nil), Evaluate(candidate, labels, time.Minute, days, nil)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("from %v: report %+v, want %+v", from, got.Overall, want.Overall)
		}
		if b1, b2 := CompareBaseline(candidate[:len(candidate)/2], o.Candidate()), CompareBaseline(candidate[:len(candidate)/2], candidate); !reflect.DeepEqual(b1, b2) {
			t.Fatalf("from %v: baseline %+v, want %+v", from, b1, b2)
		}
		var p1, p2 bytes.Buffer
		if err := WriteHTML(&p1, got, o.Candidate(), labels, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := WriteHTML(&p2, want, candidate, labels, time.Minute); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p1.Bytes(), p2.Bytes()) {
			t.Fatalf("from %v: report.html differs", from)
		}
	}
}
