package alerts

import (
	"strconv"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// BenchmarkApplyEvidence folds the updates of alerts that gather many
// evidence ids, as the Zeek replay's four inbound alerts do (3 000–4 200
// updates each, one new id apiece, MaxEvidence reached): each update's id
// is checked against those the alert holds.
func BenchmarkApplyEvidence(b *testing.B) {
	const alerts, updates = 4, 4000
	var chunk []events.Event
	for a := range alerts {
		id := "al-" + string(rune('a'+a))
		chunk = append(chunk, raised("zeek", "pos-1", id, "inbound", events.Severity_SEVERITY_HIGH, 0))
		for n := range updates {
			e := events.DerivedID("e", id, strconv.Itoa(n))
			chunk = append(chunk, events.New("zeek", "pos-1", &events.AlertUpdated{AlertId: id, Count: uint32(n + 2),
				LastSeen: t0.Add(time.Duration(n) * time.Second).UnixNano(), Evidence: [][]byte{e[:]}}))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		s := NewSet()
		s.ApplyAll(chunk)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(chunk)), "ns/event")
}
