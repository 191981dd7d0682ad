package replay

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/replay/zeek"
	"github.com/halo-sec/halo/replay/zeek/zeektest"
)

// importLog reads one Zeek log of ../shared/data/zeek/stratosphere (rel)
// as halo import zeek does for tenant lab: its events in (time, id) order.
func importLog(t testing.TB, rel string) ([]events.Event, zeek.Stats) {
	t.Helper()
	var evs []events.Event
	st, err := zeek.ImportFile(zeektest.Path(t, rel), zeek.Options{Tenant: "lab"}, func(ev events.Event) error {
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	events.SortByTime(evs)
	return evs, st
}

// TestZeekBacktest imports every labeled Zeek log, runs the pipeline over
// it as a replay does, and reports precision and recall over (device,
// window) pairs. It pins determinism (two runs, same outputs) and logs the
// figures; the 0.9 goal is tracked in bench/RESULTS.md.
// TestZeekPortScan: the unlabeled 002 log holds one scanner (172.16.1.11,
// running Nmap, per its README); the scan detector must find it and only it.
func TestZeekPortScan(t *testing.T) {
	var evs []events.Event
	if _, err := zeek.ImportFile(zeektest.Path(t, "002-zeek-scenario-port-scanning/conn.log"), zeek.Options{Tenant: "lab"},
		func(ev events.Event) error { evs = append(evs, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	events.SortByTime(evs)
	outs, _, err := Run(evs, pipeline.Config{Detectors: []string{"scan"}})
	if err != nil {
		t.Fatal(err)
	}
	devices := map[string]int{}
	for _, a := range AlertsOf(outs) {
		devices[a.Device]++
	}
	if len(devices) != 1 || devices["172.16.1.11"] == 0 {
		t.Fatalf("scan alerts by device: %v, want 172.16.1.11 only", devices)
	}
	t.Logf("scan alerts (raised and updated) for 172.16.1.11: %d", devices["172.16.1.11"])
}

func TestZeekBacktest(t *testing.T) {
	files := zeektest.Labeled
	cfg := pipeline.Config{Detectors: []string{"scan", "flood", "beaconing", "anomaly", "inbound"}}
	// Floors that pin today's figures (measured: 001 P 0.98 R 0.96; the
	// mixed logs P 0.97-0.98 R 1.00; Slips test18 P 1.00 R 1.00 over only 9
	// labeled windows); the goal is 0.9 each.
	floors := map[string][2]float64{
		"001-zeek-scenario-malicious": {0.9, 0.9},
		"008-zeek-mixed/data":         {0.9, 0.95}, "010-zeek-mixed/data": {0.9, 0.95},
		"011-zeek-mixed/data": {0.9, 0.95}, "012-zeek-mixed/data": {0.9, 0.95},
		"slips-test18-ctu-sme-11/zeek-labeled": {0.9, 0.9},
	}
	for _, f := range files {
		t.Run(filepath.Dir(f), func(t *testing.T) {
			evs, st := importLog(t, f)
			labels := LabelsFromEvents(evs)
			dd := DeviceDays(evs)
			outs, stats, err := Run(evs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := Evaluate(AlertsOf(outs), labels, time.Minute, dd, ActivityOf(evs, time.Minute))
			t.Logf("%s: %d records, %d labels; %d alerts, %d late; overall P %.2f R %.2f F1 %.2f (tp %d fp %d fn %d); by detector %v; by label %v",
				f, st.Records, len(labels), r.Alerts, stats.LateEvents, r.Overall.Precision, r.Overall.Recall, r.Overall.F1, r.Overall.TP, r.Overall.FP, r.Overall.FN, r.ByDetector, r.ByLabel)
			if fl := floors[filepath.Dir(f)]; r.Overall.Precision < fl[0] || r.Overall.Recall < fl[1] {
				t.Errorf("%s: precision %.2f recall %.2f, below the floors %.2f / %.2f", f, r.Overall.Precision, r.Overall.Recall, fl[0], fl[1])
			}
			outs2, _, _ := Run(evs, cfg)
			if len(outs2) != len(outs) {
				t.Fatalf("a second run gave %d outputs, the first %d", len(outs2), len(outs))
			}
			for i := range outs {
				if outs[i].ID != outs2[i].ID {
					t.Fatalf("output %d differs between runs", i)
				}
			}
		})
	}
}
