package pipeline

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// fleet returns minutes of ordinary traffic from n devices of one cohort:
// a few connections a minute to shared hosts, with some variation.
func fleet(n, minutes int, t0 time.Time, seq *int) []events.Event {
	var out []events.Event
	id := func() events.ID { *seq++; return events.DerivedID("fleet", fmt.Sprint(*seq)) }
	for m := 0; m < minutes; m++ {
		for d := 0; d < n; d++ {
			dev := fmt.Sprintf("pos-%02d", d)
			k := 3 + (m+d)%3
			for c := 0; c < k; c++ {
				at := t0.Add(time.Duration(m)*time.Minute + time.Duration(d*997+c*9000)*time.Millisecond)
				host := []string{"mgmt.example", "pay.example", "updates.example"}[(c+d)%3]
				conn := fmt.Sprintf("%s-%d-%d", dev, m, c)
				out = append(out,
					events.Event{ID: id(), Tenant: "acme", Device: dev, Time: at, Payload: &events.ConnOpened{ConnId: conn, DstHost: host, DstPort: 443, Mode: events.ConnMode_CONN_MODE_CONNECT}},
					events.Event{ID: id(), Tenant: "acme", Device: dev, Time: at.Add(300 * time.Millisecond), Payload: &events.ConnClosed{ConnId: conn, BytesUp: uint64(800 + 37*((m*d+c)%11)), BytesDown: uint64(4000 + 91*((m+c)%7)), DurationNs: int64(300 * time.Millisecond), Reason: events.CloseReason_CLOSE_REASON_CLIENT}},
				)
			}
		}
	}
	return out
}

// exfiltration returns 20 minutes of a fleet's ordinary traffic, then a
// device's big uploads to a new host, then 3 more minutes of the fleet's.
func exfiltration() []events.Event {
	seq := 0
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	evs := fleet(10, 20, t0, &seq)
	evs = append(evs, exfilUploads(t0)...)
	return append(evs, fleet(10, 3, t0.Add(22*time.Minute), &seq)...)
}

// exfilUploads is pos-04's 30 big uploads to a new host, a second apart,
// from t0 + 21 minutes.
func exfilUploads(t0 time.Time) []events.Event {
	var evs []events.Event
	for k := 0; k < 30; k++ {
		at := t0.Add(21*time.Minute + time.Duration(k)*time.Second)
		c := fmt.Sprint("x", k)
		evs = append(evs,
			events.Event{ID: events.DerivedID("x", c), Tenant: "acme", Device: "pos-04", Time: at, Payload: &events.ConnOpened{ConnId: c, DstHost: "drop.evil.example", DstPort: 443, Mode: events.ConnMode_CONN_MODE_CONNECT}},
			events.Event{ID: events.DerivedID("y", c), Tenant: "acme", Device: "pos-04", Time: at.Add(time.Second), Payload: &events.ConnClosed{ConnId: c, BytesUp: 5_000_000, BytesDown: 2000, DurationNs: int64(time.Second), Reason: events.CloseReason_CLOSE_REASON_CLIENT}},
		)
	}
	return evs
}

// TestPipelineTrainsCohortModels: after enough windows of a cohort, the
// pipeline trains its IsolationForest by event time, records
// model.deployed, and from then on anomalies are judged by the model, not
// the cold-start rules; the same history trains the same model.
func TestPipelineTrainsCohortModels(t *testing.T) {
	run := func(dir string) ([]events.Event, *Processor) {
		proc, err := NewProcessor(Config{ModelDir: dir, Detectors: []string{"anomaly"}, DetectorOptions: map[string]map[string]string{"anomaly": {"min_train": "150", "min_span": "1m", "min_cold": "20"}}})
		if err != nil {
			t.Fatal(err)
		}
		evs := exfiltration()
		var outs []events.Event
		for i := range evs {
			outs = append(outs, proc.Process(&evs[i])...)
		}
		outs = append(outs, proc.Flush()...)
		return outs, proc
	}
	dir := t.TempDir()
	outs, proc := run(dir)
	defer proc.Close()
	var deployed []*events.ModelDeployed
	var byModel, cold int
	for _, o := range outs {
		switch p := o.Payload.(type) {
		case *events.ModelDeployed:
			deployed = append(deployed, p)
		case *events.AlertRaised:
			if p.Detector != "anomaly" {
				continue
			}
			if strings.HasPrefix(p.Explanation, "model ") {
				byModel++
				if o.Device != "pos-04" {
					t.Errorf("model alert on %s: %s", o.Device, p.Explanation)
				}
			} else {
				cold++
			}
		}
	}
	if len(deployed) == 0 {
		t.Fatal("no model.deployed after 200 windows of the cohort")
	}
	d := deployed[0]
	if d.Kind != "iforest" || d.Cohort != "acme//" || d.Threshold <= 0 || len(d.Features) == 0 || d.Artifact == "" {
		t.Fatalf("model.deployed %+v", d)
	}
	if _, err := os.Stat(d.Artifact); err != nil || filepath.Dir(d.Artifact) != dir {
		t.Fatalf("artifact %s: %v", d.Artifact, err)
	}
	if byModel == 0 {
		t.Fatalf("the exfiltrating device was not flagged by the trained model (cold-start alerts: %d)", cold)
	}
	t.Logf("%d models deployed; %d anomaly alerts by the model, %d by cold-start rules", len(deployed), byModel, cold)
	// Deterministic: the same history trains the same model.
	outs2, proc2 := run(t.TempDir())
	defer proc2.Close()
	var ids2 []string
	for _, o := range outs2 {
		if p, ok := o.Payload.(*events.ModelDeployed); ok {
			ids2 = append(ids2, p.ModelId)
		}
	}
	if len(ids2) != len(deployed) || ids2[0] != deployed[0].ModelId {
		t.Fatalf("a second run trained other models: %v vs %v", ids2, deployed[0].ModelId)
	}
}

// TestNoModelEventsDropsOnlyModelDeployed: a processor with NoModelEvents
// (a replay's, whose sink drops model.deployed) emits exactly what one
// without it does, model.deployed left out, its alerts naming the same
// models though it seals them only then (detect.ModelPublisher.Unpublished).
func TestNoModelEventsDropsOnlyModelDeployed(t *testing.T) {
	run := func(noModelEvents bool) []events.Event {
		proc, err := NewProcessor(Config{NoModelEvents: noModelEvents, Detectors: []string{"anomaly"}, DetectorOptions: map[string]map[string]string{"anomaly": {"min_train": "150", "min_span": "1m", "min_cold": "20"}}})
		if err != nil {
			t.Fatal(err)
		}
		defer proc.Close()
		evs := exfiltration()
		var outs []events.Event
		for i := range evs {
			outs = append(outs, proc.Process(&evs[i])...)
		}
		return append(outs, proc.Flush()...)
	}
	var want []byte
	deployed, named := 0, 0
	for _, o := range run(false) {
		if p, ok := o.Payload.(*events.ModelDeployed); ok {
			deployed++
			if p.ModelId == "" || len(p.ArtifactSha256) != 32 {
				t.Fatalf("model.deployed %v", p)
			}
			continue
		}
		if p, ok := o.Payload.(*events.AlertRaised); ok && strings.HasPrefix(p.Explanation, "model ") {
			named++
		}
		want = append(o.AppendJSON(want), '\n')
	}
	if deployed == 0 || named == 0 {
		t.Fatalf("%d model.deployed, %d alerts naming a model: the test trains and names none", deployed, named)
	}
	var got []byte
	for _, o := range run(true) {
		if o.Type() == events.TypeModelDeployed {
			t.Fatalf("NoModelEvents: %v", o.Payload)
		}
		got = append(o.AppendJSON(got), '\n')
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("NoModelEvents changed the other outputs:\n%s\nwant\n%s", got, want)
	}
}
