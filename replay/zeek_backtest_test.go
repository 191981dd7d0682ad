package replay

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/replay/zeek"
)

// zeekDir finds ../shared/data/zeek/stratosphere above the working directory.
func zeekDir(t *testing.T) string {
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "data", "zeek", "stratosphere")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		p = filepath.Join(filepath.Dir(d), "shared", "data", "zeek", "stratosphere")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("shared/data/zeek/stratosphere not found above " + dir)
	return ""
}

// TestZeekBacktest imports every labeled Zeek log, runs the pipeline over
// it as a replay does, and reports precision and recall over (device,
// window) pairs. It pins determinism (two runs, same outputs) and logs the
// figures; the 0.9 goal is tracked in bench/RESULTS.md.
func TestZeekBacktest(t *testing.T) {
	base := zeekDir(t)
	files := []string{
		"001-zeek-scenario-malicious/labeled-conn.log",
		"008-zeek-mixed/data/conn.log.labeled",
		"010-zeek-mixed/data/conn.log.labeled",
		"011-zeek-mixed/data/conn.log.labeled",
		"012-zeek-mixed/data/conn.log.labeled",
		"slips-test18-ctu-sme-11/zeek-labeled/conn.log.labeled",
	}
	cfg := pipeline.Config{Detectors: []string{"scan", "flood", "beaconing", "anomaly"}}
	for _, f := range files {
		t.Run(filepath.Dir(f), func(t *testing.T) {
			var evs []events.Event
			st, err := zeek.ImportFile(filepath.Join(base, f), zeek.Options{Tenant: "lab"}, func(ev events.Event) error {
				evs = append(evs, ev)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			labels := LabelsFromEvents(evs)
			dd := DeviceDays(evs)
			outs, stats, err := Run(evs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := Evaluate(AlertsOf(outs), labels, time.Minute, dd)
			t.Logf("%s: %d records, %d labels; %d alerts, %d late; overall P %.2f R %.2f F1 %.2f (tp %d fp %d fn %d); by detector %v; by label %v",
				f, st.Records, len(labels), r.Alerts, stats.LateEvents, r.Overall.Precision, r.Overall.Recall, r.Overall.F1, r.Overall.TP, r.Overall.FP, r.Overall.FN, r.ByDetector, r.ByLabel)
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
