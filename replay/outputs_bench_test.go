package replay

import (
	"context"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/cputime"
	"github.com/halo-sec/halo/pipeline"
)

// BenchmarkOutputsZeek folds the outputs of a replay of every labeled Zeek
// log (some 21 700 alert events, a few interventions), in the chunks the replay
// hands over, into Outputs: the alert set, the raised order, the
// interventions' JSON and the slimmed candidates. The chunks are copied
// for each fold (Add slims their payloads) before the clock starts.
func BenchmarkOutputsZeek(b *testing.B) {
	store, n := benchLog(b)
	var chunks [][]events.Event
	o := NewOutputs(time.Time{})
	r := ReadRun{Sorter: events.NewTimeSorter(b.TempDir(), 0), Config: pipeline.Config{},
		Sink: func(c []events.Event) error {
			chunks = append(chunks, copyChunk(c))
			return o.Add(c)
		}}
	r.Sorter.DropRepeats = true
	defer r.Sorter.Close()
	if st, err := r.Run(context.Background(), store); err != nil || st.Read != n {
		b.Fatalf("replay: %v (read %d of %d)", err, st.Read, n)
	}
	outputs := 0
	for _, c := range chunks {
		outputs += len(c)
	}
	work := make([][][]events.Event, b.N) // every fold's copies made before the clock, and their garbage collected
	for i := range work {
		for _, c := range chunks {
			work[i] = append(work[i], copyChunk(c))
		}
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process()
	for i := range b.N {
		o2 := NewOutputs(time.Time{})
		for _, c := range work[i] {
			if err := o2.Add(c); err != nil {
				b.Fatal(err)
			}
		}
		if len(o2.Raised) != len(o.Raised) {
			b.Fatalf("%d alerts raised, the replay %d", len(o2.Raised), len(o.Raised))
		}
		work[i] = nil
	}
	if cpu := cputime.Process() - cpu; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(outputs), "ns/output")
}

// copyChunk copies a chunk of outputs with their payloads.
func copyChunk(c []events.Event) []events.Event {
	out := make([]events.Event, len(c), cap(c))
	for i, ev := range c {
		ev.Payload = proto.Clone(ev.Payload).(events.Payload)
		out[i] = ev
	}
	return out
}
