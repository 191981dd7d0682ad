package replay

import (
	"context"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/events/storetest"
	"github.com/halo-sec/halo/pipeline"
)

// TestReplayTakesTheLogsPartitions: a log of 64 partitions (halo up
// --partitions 64) holds clock ticks naming one of 64; a replay runs its
// processor on the log's partitions (it ran 16, the default, and took a
// tick of partition 3 for the devices of its own partition 3, ignoring
// those of 16 and above), and a processor of other partitions counts the
// ticks it ignores.
func TestReplayTakesTheLogsPartitions(t *testing.T) {
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: t.TempDir(), Partitions: 64}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	evs := storetest.Traffic("acme", "pos-1", at, 30)
	tick := events.Event{ID: events.NewID(), Time: at.Add(2 * time.Minute),
		Payload: &events.ClockTick{Partition: uint32(events.Partition("pos-1", 64)), Partitions: 64}}
	if err := store.Append(ctx, append(evs, tick)...); err != nil {
		t.Fatal(err)
	}
	sorter := events.NewTimeSorter(t.TempDir(), 0)
	sorter.DropRepeats = true
	defer sorter.Close()
	st, err := (&ReadRun{Sorter: sorter, Sink: func([]events.Event) error { return nil }}).Run(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stats.ForeignTicks != 0 || st.Stats.Windows == 0 {
		t.Fatalf("replay of a 64-partition log: %d foreign ticks, %d windows", st.Stats.ForeignTicks, st.Stats.Windows)
	}
	proc, err := pipeline.NewProcessor(pipeline.Config{Partitions: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	proc.Process(&tick)
	if got := proc.Stats().ForeignTicks; got != 1 {
		t.Fatalf("a processor of 16 partitions given a tick of 64: %d foreign ticks, want 1", got)
	}
}
