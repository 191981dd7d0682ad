package replay

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
)

// RunSorted is RunContext over events already in (event time, id) order (a
// TimeSorter's output, say), so that a range larger than memory can be
// replayed: only the pipeline's state and its outputs are held. It stops
// at the first error of seq.
func RunSorted(ctx context.Context, seq iter.Seq2[events.Event, error], cfg pipeline.Config, progress func(done int)) ([]events.Event, pipeline.Stats, error) {
	var out []events.Event
	st, err := RunSortedTo(ctx, seq, cfg, progress, func(c []events.Event) error {
		out = append(out, c...)
		return nil
	})
	if err != nil {
		return nil, st, err
	}
	return out, st, nil
}

// RunSortedTo is RunSorted handing the outputs to sink as they are made
// (pipeline.Processor.ProcessSeqTo), so that a replay keeps only what it
// needs of them: see Outputs.
func RunSortedTo(ctx context.Context, seq iter.Seq2[events.Event, error], cfg pipeline.Config, progress func(done int), sink func([]events.Event) error) (pipeline.Stats, error) {
	proc, err := pipeline.NewProcessor(cfg)
	if err != nil {
		return pipeline.Stats{}, err
	}
	defer proc.Close()
	err = proc.ProcessSeqTo(ctx, seq, pipeline.IsPipelineOutput, progress, sink)
	return proc.Stats(), err
}

// runBatchesTo is RunSortedTo over the events of batches, each taken where
// it is (pipeline.Processor.ProcessBatchesTo), for ahead, whose batches
// hold no order-free event (pipeline.OrderFree), hence none of the
// pipeline's outputs that RunSortedTo skips: nothing is asked of them.
func runBatchesTo(ctx context.Context, batches iter.Seq2[[]events.Event, error], cfg pipeline.Config, progress func(done int), sink func([]events.Event) error) (pipeline.Stats, error) {
	proc, err := pipeline.NewProcessor(cfg)
	if err != nil {
		return pipeline.Stats{}, err
	}
	defer proc.Close()
	err = proc.ProcessBatchesTo(ctx, batches, nil, progress, sink)
	return proc.Stats(), err
}

// RangeTally gathers, one event at a time in the order the log yields
// them, what a report needs of a range besides the replay's outputs: the
// labels recorded in it, the live pipeline's alerts (for --baseline) and
// its device-days, counting only events at or after From (the rest is
// warm-up). A label or live alert the log holds twice (the same id and
// time: a repeat, which a read with Query.Repeats yields) is taken once.
type RangeTally struct {
	From   time.Time
	Labels []Label
	Live   []events.Event // alert.raised events, when KeepLive
	// KeepLive keeps the live alerts (--baseline needs them).
	KeepLive bool
	// InRange and WarmUp count the events at or after From and before it
	// (repeats included).
	InRange, WarmUp int
	// Window, when set, makes Add note the (device, window) pairs with
	// traffic in range (Activity), for Evaluate.
	Window     time.Duration
	days       deviceDays
	kept       map[events.ID]time.Time // labels and live alerts taken
	active     Activity
	lastActive pair // the pair last put in active: a device's events come in runs
}

// Activity is the set of (device, window) pairs with traffic: the pairs a
// labeled span can make positive (Evaluate). A span's windows without any
// of the device's events hold no labeled event, and no detector could see
// them.
type Activity map[pair]struct{}

// Activity returns the pairs with traffic among the events added in range
// (nil without Window).
func (t *RangeTally) Activity() Activity { return t.active }

// first reports whether ev is the first of its id and time among the
// labels and live alerts taken.
func (t *RangeTally) first(ev *events.Event) bool {
	if at, ok := t.kept[ev.ID]; ok && at.Equal(ev.Time) {
		return false
	}
	if t.kept == nil {
		t.kept = map[events.ID]time.Time{}
	}
	t.kept[ev.ID] = ev.Time
	return true
}

// Add counts ev.
func (t *RangeTally) Add(ev *events.Event) {
	if !t.From.IsZero() && ev.Time.Before(t.From) {
		t.WarmUp++
		return
	}
	t.InRange++
	switch ev.Type() {
	case events.TypeConnOpened, events.TypeConnClosed, events.TypeConnBlocked, events.TypeTxObserved, events.TypeAuthFailed:
		if t.Window > 0 && ev.Device != "" {
			if p := (pair{ev.Tenant, ev.Device, floorDiv(ev.Time.UnixNano(), int64(t.Window))}); p != t.lastActive || t.active == nil {
				if t.active == nil {
					t.active = Activity{}
				}
				t.active[p], t.lastActive = struct{}{}, p
			}
		}
	case events.TypeLabelRecorded:
		if t.first(ev) {
			t.Labels = append(t.Labels, LabelsFromEvents([]events.Event{*ev})...)
		}
	case events.TypeAlertRaised:
		if t.KeepLive && t.first(ev) {
			t.Live = append(t.Live, *ev)
		}
	}
	t.days.add(ev)
}

// DeviceDays is DeviceDays of the events counted in range.
func (t *RangeTally) DeviceDays() int { return len(t.days) }

// deviceDays is a set of (tenant, device, UTC day) of events that name a
// device.
type deviceDays map[deviceDay]struct{}

type deviceDay struct {
	tenant, device string
	day            int64 // days since the Unix epoch, UTC
}

func (s *deviceDays) add(ev *events.Event) {
	if ev.Device == "" {
		return
	}
	if *s == nil {
		*s = deviceDays{}
	}
	(*s)[deviceDay{ev.Tenant, ev.Device, floorDiv(ev.Time.Unix(), 86400)}] = struct{}{}
}

// ReadInto reads q's range from store into s, for s.Sorted to yield in
// (time, id) order. With s.DropRepeats the read keeps repeated events
// (Query.Repeats) for the sorter to drop: the same events as a read that
// drops them, without remembering every id of the range. each, when not
// nil, is called with every event read, in log order (repeats included
// when s drops them), before it is added.
func ReadInto(ctx context.Context, store events.Store, q events.Query, s *events.TimeSorter, each func(*events.Event)) error {
	q.Repeats = s.DropRepeats
	for ev, err := range store.Read(ctx, q) {
		if err != nil {
			return fmt.Errorf("reading the log after %d events: %w", s.Len(), err)
		}
		if each != nil {
			each(&ev)
		}
		if err := s.Add(ev); err != nil {
			return err
		}
	}
	return ctx.Err()
}
