package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/pipeline/window"
)

// orderedHistory mixes every kind of input ProcessAll handles: traffic
// that trains cohort models and raises alerts of every window and event
// detector, a policy change, enrolments that move devices into another
// cohort, clock ticks, and outputs of an earlier run to skip.
func orderedHistory() []events.Event {
	seq := 0
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	evs := fleet(10, 20, t0, &seq)
	evs = append(evs, goldenEvents()...)
	evs = append(evs, exfilUploads(t0)...)
	// Inbound connections, more than a chunk of event findings
	// (evChunk), each its own evidence, most about one alert.
	for k := range evChunk + 60 {
		c := fmt.Sprint("in", k)
		evs = append(evs, events.Event{ID: events.DerivedID("in", c), Tenant: "acme", Device: "pos-08", Time: t0.Add(5*time.Minute + time.Duration(k)*700*time.Millisecond),
			Payload: &events.ConnOpened{ConnId: c, DstIp: fmt.Sprint("198.51.100.", k%7), DstPort: 23, Inbound: true}})
	}
	evs = append(evs, scanEvents("pos-02", t0.Add(12*time.Minute), 40)...)
	evs = append(evs, fleet(10, 3, t0.Add(22*time.Minute), &seq)...)
	// A payment replayed from another device after a scan: the replay both
	// raises an alert and (with one partition) closes the scan's window,
	// whose findings come after its own.
	fp := []byte("fedcba9876543210")
	evs = append(evs, scanEvents("pos-07", t0.Add(28*time.Minute+10*time.Second), 40)...)
	for i, dev := range []string{"pos-05", "pos-06"} {
		evs = append(evs, events.Event{ID: events.DerivedID("late-replay", dev), Tenant: "acme", Device: dev, Time: t0.Add(27*time.Minute + time.Duration(i)*150*time.Second),
			Payload: &events.TxObserved{Method: "POST", Host: "pay.example", Path: "/v1/charge", StrictFp: fp, Status: 200, Outcome: events.TxOutcome_TX_OUTCOME_FORWARDED}})
	}
	state := func(at time.Time, dev string, p events.Payload) events.Event {
		seq++
		return events.Event{ID: events.DerivedID("state", fmt.Sprint(seq)), Tenant: "acme", Device: dev, Time: at, Payload: p}
	}
	evs = append(evs,
		state(t0.Add(-time.Minute), "", &events.TenantCreated{DisplayName: "Acme"}),
		state(t0.Add(10*time.Minute), "", &events.PolicyChanged{Version: 2, Document: []byte("rules:\n- detector: \"*\"\n  min_severity: info\n  actions: [quarantine]\n")}),
		state(t0.Add(11*time.Minute), "pos-01", &events.DeviceEnrolled{Model: "t650", Firmware: "2.1"}),
		state(t0.Add(11*time.Minute), "pos-02", &events.DeviceEnrolled{Model: "t650", Firmware: "2.1"}),
		state(t0.Add(15*time.Minute), "", &events.ClockTick{Partition: 0}),
		state(t0.Add(16*time.Minute), "pos-03", &events.AlertRaised{AlertId: "earlier-run", Detector: "scan"}),
	)
	events.SortByTime(evs)
	return evs
}

func orderedConfig(partitions int) Config {
	return Config{Partitions: partitions, DetectorOptions: map[string]map[string]string{
		"new-destination": {"learning": "2m"},
		"anomaly":         {"min_train": "150", "min_span": "1m", "min_cold": "20", "min_cold_span": "1m"},
	}}
}

func encodeAll(outs []events.Event) []byte {
	var b bytes.Buffer
	for _, o := range outs {
		b.Write(o.AppendJSON(nil))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ProcessAll, on several goroutines, gives the outputs and counts of
// Process one event at a time, every time.
// With one partition, the late replayed payment closes the window of the
// scan before it.
func TestProcessAllMatchesProcess(t *testing.T) {
	for _, partitions := range []int{0, 1} {
		t.Run(fmt.Sprint("partitions-", partitions), func(t *testing.T) { testProcessAll(t, partitions) })
	}
}

func testProcessAll(t *testing.T, partitions int) {
	evs := orderedHistory()
	serial, err := NewProcessor(orderedConfig(partitions))
	if err != nil {
		t.Fatal(err)
	}
	defer serial.Close()
	var want []events.Event
	for i := range evs {
		if IsPipelineOutput(&evs[i]) {
			continue
		}
		want = append(want, serial.Process(&evs[i])...)
	}
	want = append(want, serial.Flush()...)
	kinds := map[events.Type]int{}
	for _, o := range want {
		kinds[o.Type()]++
	}
	// The history exercises what the stages must keep in order.
	for _, k := range []events.Type{events.TypeAlertRaised, events.TypeAlertUpdated, events.TypeInterventionApplied, events.TypeModelDeployed} {
		if kinds[k] == 0 {
			t.Fatalf("the history gives no %s (outputs by type: %v)", k, kinds)
		}
	}
	wantJSON := encodeAll(want)
	defer func(n, r int) { outChunk, seqRun = n, r }(outChunk, seqRun)
	for run := range 5 {
		outChunk = []int{4096, 5, 1, 64, 1000}[run] // outputs gathered in chunks of these sizes
		seqRun = []int{256, 1, 7, 3, 1000}[run]     // traffic events handed to the assembler at once
		p, err := NewProcessor(orderedConfig(partitions))
		if err != nil {
			t.Fatal(err)
		}
		var progress []int
		got, err := p.ProcessAll(context.Background(), slices.Clone(evs), IsPipelineOutput, func(n int) { progress = append(progress, n) })
		if err != nil {
			t.Fatal(err)
		}
		if g := encodeAll(got); !bytes.Equal(g, wantJSON) {
			t.Fatalf("run %d: ProcessAll gave %d outputs, Process %d; first difference at byte %d", run, len(got), len(want), firstDiff(g, wantJSON))
		}
		if gs, ws := p.Stats(), serial.Stats(); gs != ws {
			t.Fatalf("run %d: stats %+v, want %+v", run, gs, ws)
		}
		if len(progress) != (len(evs)-1)/4096 {
			t.Errorf("run %d: progress called %d times for %d events", run, len(progress), len(evs))
		}
		p.Close()

		// ProcessSeqTo hands the same outputs to a sink, chunk by chunk.
		p, err = NewProcessor(orderedConfig(partitions))
		if err != nil {
			t.Fatal(err)
		}
		var sunk []events.Event
		chunks := 0
		if err := p.ProcessSeqTo(context.Background(), events.Values(slices.Clone(evs)), IsPipelineOutput, nil, func(c []events.Event) error {
			if len(c) == 0 {
				t.Errorf("run %d: an empty chunk", run)
			}
			sunk = append(sunk, c...)
			chunks++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if g := encodeAll(sunk); !bytes.Equal(g, wantJSON) {
			t.Fatalf("run %d: ProcessSeqTo gave %d outputs, Process %d; first difference at byte %d", run, len(sunk), len(want), firstDiff(g, wantJSON))
		}
		if outChunk == 1 && chunks < 2 {
			t.Errorf("run %d: %d outputs came in %d chunks of at least %d", run, len(want), chunks, outChunk)
		}
		p.Close()

		// ProcessBatchesTo, over batches of random sizes taken where
		// they are, the same outputs and stats, the batches unchanged.
		p, err = NewProcessor(orderedConfig(partitions))
		if err != nil {
			t.Fatal(err)
		}
		in := slices.Clone(evs)
		inJSON := encodeAll(in)
		rng := rand.New(rand.NewPCG(uint64(run), 9))
		batches := func(yield func([]events.Event, error) bool) {
			for i := 0; i < len(in); {
				j := min(len(in), i+1+rng.IntN(600))
				if !yield(in[i:j], nil) {
					return
				}
				i = j
			}
		}
		sunk = nil
		progress = nil
		if err := p.ProcessBatchesTo(context.Background(), batches, IsPipelineOutput, func(n int) { progress = append(progress, n) }, func(c []events.Event) error {
			sunk = append(sunk, c...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if g := encodeAll(sunk); !bytes.Equal(g, wantJSON) {
			t.Fatalf("run %d: ProcessBatchesTo gave %d outputs, Process %d; first difference at byte %d", run, len(sunk), len(want), firstDiff(g, wantJSON))
		}
		if gs, ws := p.Stats(), serial.Stats(); gs != ws {
			t.Fatalf("run %d: ProcessBatchesTo's stats %+v, want %+v", run, gs, ws)
		}
		if !bytes.Equal(encodeAll(in), inJSON) {
			t.Fatalf("run %d: ProcessBatchesTo changed its batches' events", run)
		}
		if len(progress) != (len(evs)-1)/4096 {
			t.Errorf("run %d: progress called %d times for %d events", run, len(progress), len(evs))
		}
		p.Close()
	}
}

// A batch sequence's error stops ProcessBatchesTo after the events before
// it, and is returned.
func TestProcessBatchesToSeqError(t *testing.T) {
	p, err := NewProcessor(orderedConfig(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	evs := orderedHistory()
	bad := errors.New("torn log")
	err = p.ProcessBatchesTo(context.Background(), func(yield func([]events.Event, error) bool) {
		if yield(evs[:10], nil) {
			yield(nil, bad)
		}
	}, IsPipelineOutput, nil, func([]events.Event) error { return nil })
	if !errors.Is(err, bad) || p.Stats().Events != 10 {
		t.Fatalf("ProcessBatchesTo with a failing sequence: %v after %d events, want %v after 10", err, p.Stats().Events, bad)
	}
}

// A sink's error stops ProcessSeqTo and is returned; the sink is not
// called again.
func TestProcessSeqToSinkError(t *testing.T) {
	defer func(n int) { outChunk = n }(outChunk)
	outChunk = 1
	p, err := NewProcessor(orderedConfig(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	full := errors.New("disk full")
	calls := 0
	err = p.ProcessSeqTo(context.Background(), events.Values(orderedHistory()), IsPipelineOutput, nil, func([]events.Event) error {
		calls++
		return full
	})
	if !errors.Is(err, full) || calls != 1 {
		t.Fatalf("ProcessSeqTo with a failing sink: %v after %d calls, want %v after 1", err, calls, full)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A cancelled context stops ProcessAll with its error.
func TestProcessAllCancelled(t *testing.T) {
	evs := orderedHistory()
	p, err := NewProcessor(orderedConfig(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.ProcessAll(ctx, evs, nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled", err)
	}
}

// panicky is a window detector that panics on the nth window it sees.
type panicky struct{ n, seen int }

func (*panicky) Name() string { return "panicky" }

func (d *panicky) Window(*window.Window, *detect.Context) []detect.Finding {
	if d.seen++; d.seen == d.n {
		panic("panicky detector")
	}
	return nil
}

// A detector that panics makes ProcessAll return an error naming the panic,
// after the other stages are done; nothing hangs.
func TestProcessAllDetectorPanics(t *testing.T) {
	p, err := NewProcessor(orderedConfig(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.winDets = append(p.winDets, &panicky{n: 3})
	_, err = p.ProcessAll(context.Background(), orderedHistory(), IsPipelineOutput, nil)
	if err == nil || !strings.Contains(err.Error(), "panicky detector") {
		t.Fatalf("a detector panicked: %v, want an error naming the panic", err)
	}
}
