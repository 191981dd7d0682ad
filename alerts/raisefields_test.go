package alerts

import (
	"reflect"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// A raise sets every field of the alert from its event, the rest zero: the
// alert is written field by field into a chunk's zero memory, so a field
// forgotten there would read zero (or a reused value) here.
func TestRaiseSetsEveryField(t *testing.T) {
	s := NewSet()
	for i := range alertChunk + 3 { // into a second chunk
		ev := raised("acme", "pos-7", "al-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "beaconing", events.Severity_SEVERITY_MEDIUM, time.Duration(i)*time.Second)
		ev.Seq = uint64(100 + i)
		p := ev.Payload.(*events.AlertRaised)
		p.Score, p.Key = 0.25+float64(i), "dst-"+p.AlertId
		s.ApplyAll([]events.Event{ev})
		got, ok := s.Get("acme", p.AlertId)
		if !ok {
			t.Fatalf("%s not raised", p.AlertId)
		}
		want := Alert{
			ID: p.AlertId, Tenant: "acme", Device: "pos-7", Detector: "beaconing", Severity: events.Severity_SEVERITY_MEDIUM,
			Score: p.Score, Status: StatusOpen, Time: ev.Time.UTC(), LastSeen: ev.Time.UTC(), Count: 1,
			Summary: p.Summary, Explanation: p.Explanation, Evidence: []events.ID{events.ID(p.Evidence[0])}, Key: p.Key,
			Features:    []Feature{{Name: "bytes", Value: 10, Baseline: 1}},
			WindowStart: time.Unix(0, p.WindowStart).UTC(), WindowEnd: time.Unix(0, p.WindowEnd).UTC(), Seq: ev.Seq,
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("raised %+v\nwant %+v", got, want)
		}
	}
}
