package pipeline

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/cputime"
	"github.com/halo-sec/halo/pipeline/detect"
)

// BenchmarkAlerterZeekMix feeds an alerter the mix of findings the Zeek
// replay makes (21,744 findings, 6,530 alerts): inbound findings in runs
// updating a few alerts, one new-destination alert per finding, beaconing
// findings updating a few hundred alerts now and then.
func BenchmarkAlerterZeekMix(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	fs := make([]detect.Finding, 0, 21744)
	add := func(det, dev, key string) {
		at = at.Add(time.Duration(r.IntN(200)) * time.Millisecond)
		e := events.DerivedID("e", fmt.Sprint(len(fs)))
		fs = append(fs, detect.Finding{Detector: det, Tenant: "zeek", Device: dev, Key: key, Score: r.Float64(),
			Time: at, WindowStart: at.Truncate(time.Minute), WindowEnd: at.Truncate(time.Minute).Add(time.Minute),
			Evidence: []events.ID{e}})
	}
	for len(fs) < 21744 {
		switch k := r.IntN(100); {
		case k < 37: // a run of inbound findings about one of 4 devices
			dev := fmt.Sprint("192.168.1.", r.IntN(4))
			for range 1 + r.IntN(6) {
				add("inbound", dev, "inbound")
			}
		case k < 92:
			add("new-destination", fmt.Sprint("192.168.1.", r.IntN(40)), fmt.Sprint("10.", len(fs)))
		default:
			add("beaconing", fmt.Sprint("192.168.1.", r.IntN(40)), fmt.Sprint("b", r.IntN(304)))
		}
	}
	work := make([]detect.Finding, len(fs))
	out := make([]events.Event, 0, len(fs)) // the events appended, as the emitting stage does
	raised := 0
	b.ReportAllocs()
	cpu := cputime.Process()
	for b.Loop() {
		copy(work, fs)
		a := newAlerter(10 * time.Minute) // the default Suppression
		raised = 0
		clear(out)
		out = out[:0]
		for i := range work {
			var n bool
			if out, _, n = a.appendFinding(out, &work[i]); n {
				raised++
			}
		}
	}
	if cpu := cputime.Process() - cpu; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(len(fs)), "cpu-ns/finding")
	}
	b.ReportMetric(float64(raised), "alerts")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(fs)), "ns/finding")
}
