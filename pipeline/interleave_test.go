package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

// TestOutputsIndependentOfInterleaving: the same events give byte-identical
// outputs — alerts, cohort models, interventions — whether they are
// processed in (time, id) order, read back from a log they reached in one
// bulk Append (packed per partition), or from a log they trickled into in
// small appends. The cohort's baselines and model span partitions, so this
// holds only because windows are released in (start, partition) order.
func TestOutputsIndependentOfInterleaving(t *testing.T) {
	seq := 0
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	evs := fleet(12, 20, t0, &seq)
	for k := 0; k < 30; k++ { // one device exfiltrates
		at := t0.Add(21*time.Minute + time.Duration(k)*time.Second)
		c := fmt.Sprint("x", k)
		evs = append(evs,
			events.Event{ID: events.DerivedID("x", c), Tenant: "acme", Device: "pos-04", Time: at, Payload: &events.ConnOpened{ConnId: c, DstHost: "drop.evil.example", DstPort: 443, Mode: events.ConnMode_CONN_MODE_CONNECT}},
			events.Event{ID: events.DerivedID("y", c), Tenant: "acme", Device: "pos-04", Time: at.Add(time.Second), Payload: &events.ConnClosed{ConnId: c, BytesUp: 5_000_000, BytesDown: 2000, DurationNs: int64(time.Second), Reason: events.CloseReason_CLOSE_REASON_CLIENT}},
		)
	}
	evs = append(evs, fleet(12, 3, t0.Add(22*time.Minute), &seq)...)
	slices.SortStableFunc(evs, func(a, b events.Event) int { return a.Time.Compare(b.Time) })
	cfg := Config{Detectors: []string{"anomaly", "new-destination"}, DetectorOptions: map[string]map[string]string{"anomaly": {"min_train": "150", "min_span": "1m", "min_cold": "20"}}}

	process := func(in []events.Event) []byte {
		t.Helper()
		proc, err := NewProcessor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer proc.Close()
		var outs []events.Event
		for i := range in {
			outs = append(outs, proc.Process(&in[i])...)
		}
		outs = append(outs, proc.Flush()...)
		var b []byte
		for _, e := range outs {
			b = e.AppendJSON(b)
			b = append(b, '\n')
		}
		return b
	}
	fromLog := func(chunk func() int) []byte {
		t.Helper()
		ctx := context.Background()
		store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		for rest := evs; len(rest) > 0; {
			n := min(len(rest), chunk())
			if err := store.Append(ctx, rest[:n]...); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		var logged []events.Event
		for ev, err := range store.Read(ctx, events.Query{}) {
			if err != nil {
				t.Fatal(err)
			}
			ev.Recorded, ev.Seq = time.Time{}, 0
			logged = append(logged, ev)
		}
		if len(logged) != len(evs) {
			t.Fatalf("read %d events back, appended %d", len(logged), len(evs))
		}
		if slices.EqualFunc(logged, evs, func(a, b events.Event) bool { return a.ID == b.ID }) {
			t.Fatal("the log kept the appended order: this case tests nothing")
		}
		return process(logged)
	}

	sorted := process(evs)
	if !bytes.Contains(sorted, []byte(`"model.deployed"`)) || !bytes.Contains(sorted, []byte(`"detector":"anomaly"`)) {
		t.Fatalf("no cohort model or anomaly alert: the cross-partition state is not exercised\n%s", sorted)
	}
	bulk := fromLog(func() int { return len(evs) })
	rng := rand.New(rand.NewPCG(1, 2))
	trickled := fromLog(func() int { return 1 + rng.IntN(60) })
	if !bytes.Equal(bulk, sorted) {
		t.Errorf("one bulk append gives other outputs than time order:\nbulk:\n%s\nsorted:\n%s", bulk, sorted)
	}
	if !bytes.Equal(trickled, sorted) {
		t.Errorf("small appends give other outputs than time order:\ntrickled:\n%s\nsorted:\n%s", trickled, sorted)
	}
}
