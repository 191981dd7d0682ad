package detect_test

import (
	"slices"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/detect"
)

// TestInboundDescribedOnDemand: an inbound finding's summary, explanation
// and feature are made by Describe (the alerter calls it when the finding
// raises an alert), once, with the text they always had.
func TestInboundDescribedOnDemand(t *testing.T) {
	ds, err := detect.New([]string{"inbound"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := ds[0].(detect.EventDetector)
	ev := events.Event{ID: events.DerivedID("test", "1"), Tenant: "lab", Device: "10.0.0.5", Time: time.Date(2026, 11, 27, 9, 0, 30, 0, time.UTC),
		Payload: &events.ConnOpened{Inbound: true, DstHost: "203.0.113.9", DstPort: 23}}
	var fs []detect.Finding
	for range 40 {
		for _, f := range d.Event(&ev) { // kept past the next call: the evidence copied
			f.Evidence = slices.Clone(f.Evidence)
			fs = append(fs, f)
		}
	}
	if len(fs) != 40 {
		t.Fatalf("%d findings, want 40", len(fs))
	}
	for i := range fs {
		f := &fs[i]
		if f.Summary != "" || f.Features != nil {
			t.Fatalf("finding %d described before Describe: %q", i, f.Summary)
		}
		f.Describe()
		if f.Summary != "203.0.113.9 opened a connection to the device (port 23)" ||
			f.Explanation != "a remote host connected to the device; payment terminals accept no inbound connections" ||
			len(f.Features) != 1 || f.Features[0].Name != "inbound_connections" || f.Features[0].Value != 1 || f.Features[0].Baseline != 0 {
			t.Fatalf("finding %d described as %q, %q, %v", i, f.Summary, f.Explanation, f.Features)
		}
		if len(f.Evidence) != 1 || f.Evidence[0] != ev.ID || f.WindowStart != ev.Time.Truncate(time.Minute) {
			t.Fatalf("finding %d: evidence %v, window %s", i, f.Evidence, f.WindowStart)
		}
		f.Features[0].Value = 2 // a second Describe makes nothing anew
		f.Describe()
		if f.Features[0].Value != 2 {
			t.Fatalf("finding %d described twice", i)
		}
	}
}
