package detect

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/pipeline/window"
)

// TestFindingsOutliveLaterWindows: the pipeline emits a window's findings
// after the detectors have gone on with later windows, so the findings a
// detector returns (cut from chunks it keeps, written through scratch it
// reuses) must not change when it runs again. Every window's findings
// are written out as they come and again after the last window, and
// appending to a returned slice must not write into another's.
func TestFindingsOutliveLaterWindows(t *testing.T) {
	opts := map[string]map[string]string{
		"new-destination": {"horizon": "2h", "learning": "10m"},
		"beaconing":       {"horizon": "1h30s", "min_count": "4"},
	}
	for seed := range uint64(2) {
		ds, err := New([]string{"beaconing", "new-destination"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		asm, err := window.New(window.Config{Size: time.Minute, Lateness: 5 * time.Second}, 1, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		ctx := &Context{Cohort: func(tenant, device string) string { return tenant + "/pos/1" }}
		var kept [][]Finding
		var first bytes.Buffer
		bw := bufio.NewWriter(&first)
		count := map[string]int{}
		eachWindow(asm, goldenEvents(seed), func(w *window.Window) {
			for _, fs := range RunWindow(nil, []WindowDetector{ds[0].(WindowDetector), ds[1].(WindowDetector)}, w, ctx) {
				for i := range fs {
					count[fs[i].Detector]++
					writeFinding(bw, &fs[i])
				}
				_ = append(fs, Finding{Detector: "appended"}) // must go elsewhere
				kept = append(kept, fs)
			}
		})
		asm.Release()
		bw.Flush()
		if count["beaconing"] < 2 || count["new-destination"] < 2 {
			t.Fatalf("seed %d: findings %v: too few to check", seed, count)
		}
		var again bytes.Buffer
		bw = bufio.NewWriter(&again)
		for _, fs := range kept {
			for i := range fs {
				writeFinding(bw, &fs[i])
			}
		}
		bw.Flush()
		if !bytes.Equal(first.Bytes(), again.Bytes()) {
			t.Fatalf("seed %d: the findings changed after later windows:\nfirst %s\nlater %s", seed, first.Bytes(), again.Bytes())
		}
	}
}
