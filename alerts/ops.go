package alerts

import (
	"context"
	"fmt"
	"time"

	"github.com/halo-sec/halo/events"
)

// Ack records that actor acknowledged the tenant's alert id, applies it to
// set and returns the alert as it now stands. Acknowledging an acknowledged
// alert records nothing; a resolved one fails with ErrResolved; another
// tenant's alert fails with ErrNotFound.
func Ack(ctx context.Context, store events.Store, set *Set, tenant, id, actor, note string) (Alert, error) {
	set.opMu.Lock()
	defer set.opMu.Unlock()
	a, ok := set.Get(tenant, id)
	if !ok {
		return Alert{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	switch a.Status {
	case StatusResolved:
		return a, fmt.Errorf("%w: %s", ErrResolved, id)
	case StatusAcknowledged:
		return a, nil
	}
	ev := events.New(tenant, a.Device, &events.AlertAcknowledged{AlertId: id, Actor: actor, Note: note})
	if err := store.Append(ctx, ev); err != nil {
		return Alert{}, fmt.Errorf("recording the acknowledgement of %s: %w", id, err)
	}
	set.Apply(&ev)
	a, _ = set.Get(tenant, id)
	return a, nil
}

// Resolve records actor's verdict on the tenant's alert id: alert.resolved
// and, so that the verdict becomes a label, label.recorded (source verdict,
// label = the verdict, malicious = true-positive, the alert's window as the
// time span, its evidence as event ids). It applies the resolution to set
// and returns the alert as it now stands. A verdict is final: resolving a
// resolved alert fails with ErrResolved. Retrying after an error is safe
// (the label's id is derived from the resolution's).
func Resolve(ctx context.Context, store events.Store, set *Set, tenant, id string, verdict Verdict, actor, note string) (Alert, error) {
	if _, err := ParseVerdict(string(verdict)); err != nil {
		return Alert{}, err
	}
	set.opMu.Lock()
	defer set.opMu.Unlock()
	a, ok := set.Get(tenant, id)
	if !ok {
		return Alert{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if a.Status == StatusResolved {
		return a, fmt.Errorf("%w: %s", ErrResolved, id)
	}
	resolved, label := ResolveEvents(a, verdict, actor, note, time.Now())
	if err := store.Append(ctx, resolved, label); err != nil {
		return Alert{}, fmt.Errorf("recording the resolution of %s: %w", id, err)
	}
	set.Apply(&resolved)
	a, _ = set.Get(tenant, id)
	return a, nil
}

// ResolveEvents returns the alert.resolved and label.recorded events that
// record a verdict on a, stamped at now.
func ResolveEvents(a Alert, verdict Verdict, actor, note string, now time.Time) (resolved, label events.Event) {
	resolved = events.New(a.Tenant, a.Device, &events.AlertResolved{AlertId: a.ID, Verdict: verdict.proto(), Actor: actor, Note: note})
	resolved.Time = now.UTC()
	start, end := a.WindowStart, a.WindowEnd
	if start.IsZero() || end.IsZero() {
		start, end = a.Time, a.LastSeen
	}
	if !end.After(start) {
		end = start.Add(time.Nanosecond) // a half-open span [start, end) that holds start
	}
	ids := make([][]byte, len(a.Evidence))
	for i := range a.Evidence {
		ids[i] = a.Evidence[i][:]
	}
	label = events.Event{
		ID: events.DerivedID("label.recorded", "verdict", resolved.ID.String()), Schema: events.SchemaVersion,
		Tenant: a.Tenant, Device: a.Device, Time: resolved.Time,
		Payload: &events.LabelRecorded{
			Label: string(verdict), Detail: a.Detector, Malicious: verdict == VerdictTruePositive,
			Start: start.UnixNano(), End: end.UnixNano(), EventIds: ids,
			Source: events.LabelSource_LABEL_SOURCE_VERDICT, AlertId: a.ID,
		},
	}
	return resolved, label
}
