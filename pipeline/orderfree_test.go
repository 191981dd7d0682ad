package pipeline

import (
	"bytes"
	"context"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/models"
)

// TestOrderFreeEventsMoveFreely: labels and the pipeline's own outputs
// (OrderFree) may come anywhere among the events a processor consumes —
// at their time, all at the end, all at the start — with the same outputs
// and stats; a traffic event moved is not order-free.
func TestOrderFreeEventsMoveFreely(t *testing.T) {
	traffic := goldenEvents()
	var free []events.Event
	for i := 0; i < len(traffic); i += 7 {
		ev := traffic[i]
		free = append(free,
			events.Event{ID: events.NewID(), Schema: events.SchemaVersion, Tenant: ev.Tenant, Device: ev.Device, Time: ev.Time,
				Payload: &events.LabelRecorded{Label: "Malicious", Malicious: true, Start: ev.Time.UnixNano(), End: ev.Time.Add(time.Second).UnixNano()}},
			events.Event{ID: events.NewID(), Schema: events.SchemaVersion, Tenant: ev.Tenant, Device: ev.Device, Time: ev.Time,
				Payload: &events.AlertRaised{AlertId: "live-" + ev.ID.String(), Detector: "scan", Score: 0.5}})
	}
	for i := range free {
		if !OrderFree(&free[i]) {
			t.Fatalf("%s is not order-free", free[i].Type())
		}
	}
	if OrderFree(&traffic[0]) {
		t.Fatalf("%s is order-free", traffic[0].Type())
	}
	run := func(evs []events.Event) ([]byte, Stats) {
		t.Helper()
		p, err := NewProcessor(Config{DetectorOptions: map[string]map[string]string{"new-destination": {"learning": "2m"}, "anomaly": {"min_cold_span": "1m"}}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		outs, err := p.ProcessAll(context.Background(), evs, IsPipelineOutput, nil)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for _, o := range outs {
			b.Write(o.AppendJSON(nil))
			b.WriteByte('\n')
		}
		return b.Bytes(), p.Stats()
	}
	inPlace := append([]events.Event(nil), traffic...)
	inPlace = append(inPlace, free...)
	events.SortByTime(inPlace)
	want, wantSt := run(inPlace)
	if !bytes.Contains(want, []byte(`"alert.raised"`)) || wantSt.Events != uint64(len(traffic)+len(free)/2) {
		t.Fatalf("%d events counted, want %d; outputs %.200s", wantSt.Events, len(traffic)+len(free)/2, want)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	shuffled := append([]events.Event(nil), free...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for name, evs := range map[string][]events.Event{
		"at the end":   append(append([]events.Event(nil), traffic...), shuffled...),
		"at the start": append(append([]events.Event(nil), shuffled...), traffic...),
	} {
		if got, st := run(evs); !bytes.Equal(got, want) || !reflect.DeepEqual(st, wantSt) {
			t.Errorf("%s: outputs or stats differ (stats %+v, want %+v)", name, st, wantSt)
		}
	}
	// Moving traffic does change what the processor does (the test can
	// tell).
	moved := append([]events.Event(nil), inPlace...)
	for i := range moved {
		if !OrderFree(&moved[i]) {
			ev := moved[i]
			copy(moved[i:], moved[i+1:])
			moved[len(moved)-1] = ev
			break
		}
	}
	if got, st := run(moved); bytes.Equal(got, want) && reflect.DeepEqual(st, wantSt) {
		t.Error("moving the first traffic event to the end changed nothing")
	}
}

// TestOrderFreeByPayload: OrderFree, IsPipelineOutput and isWindowed,
// which look at the payload's type, say what their definitions by the
// event's type say (a label; IsOutput, a model.deployed only by the
// pipeline; traffic), for every type of the catalogue.
func TestOrderFreeByPayload(t *testing.T) {
	n := 0
	for _, typ := range events.Types() {
		p := events.NewPayload(typ)
		if p == nil {
			t.Fatalf("no payload for %s", typ)
		}
		evs := []events.Event{{Payload: p}}
		if d, ok := p.(*events.ModelDeployed); ok {
			d.Actor = "operator"
			evs = append(evs, events.Event{Payload: &events.ModelDeployed{Actor: models.PipelineActor}})
		}
		for i := range evs {
			ev := &evs[i]
			// IsOutput: what the processor writes; the live pipeline
			// also writes pipeline.configured.
			output := IsOutput(ev.Type()) || ev.Type() == events.TypePipelineConfigured
			if d, ok := ev.Payload.(*events.ModelDeployed); ok {
				output = d.Actor == models.PipelineActor
			}
			if got := IsPipelineOutput(ev); got != output {
				t.Errorf("%s %v: IsPipelineOutput %v, want %v", ev.Type(), ev.Payload, got, output)
			}
			free := ev.Type().Kind() == events.KindLabel || output
			if got := OrderFree(ev); got != free {
				t.Errorf("%s %v: OrderFree %v, want %v", ev.Type(), ev.Payload, got, free)
			}
			n += b2i(free)
			if got, want := isWindowed(ev), ev.Type().Kind() == events.KindTraffic; got != want {
				t.Errorf("%s: isWindowed %v, want %v", ev.Type(), got, want)
			}
		}
	}
	if n != 6 { // label.recorded, alert.raised, alert.updated, intervention.applied, the pipeline's model.deployed, pipeline.configured
		t.Fatalf("%d order-free events, want 6", n)
	}
	if (&events.Event{}).Type() != "" || OrderFree(&events.Event{}) || IsPipelineOutput(&events.Event{}) || isWindowed(&events.Event{}) {
		t.Fatal("an event without a payload is order-free or an output")
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
