package replay

import (
	"context"
	"testing"
	"time"

	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/internal/cputime"
	"github.com/halo-sec/halo/pipeline/window/windowtest"
	"github.com/halo-sec/halo/replay/zeek"
)

// BenchmarkReplayFleet is BenchmarkReplay over a fleet's traffic instead of
// imported Zeek logs: 600k edge events of 500 terminals over 2 hours
// (windowtest.Synthetic: connections, transactions, some failures, blocked
// attempts and repeats), about 10 events per device and minute, so the
// cohort's model trains after the first hour. The Zeek logs are sparse
// (16 events per window of a partition); a fleet's windows are full.
//
//	go test ./replay -run '^$' -bench ReplayFleet -benchtime 3x -count 3
func BenchmarkReplayFleet(b *testing.B) {
	defer BatchGC()() // as halo replay runs (the raw read too)
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: b.TempDir()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	all := windowtest.Synthetic(600_000, 500, 2*time.Hour, 7)
	for i := range all { // two days ago: the log refuses events from the future
		all[i].Time = all[i].Time.Add(-48 * time.Hour)
	}
	n := len(all)
	if err := zeek.Append(ctx, store, all); err != nil {
		b.Fatal(err)
	}
	benchRawRead(b, store, n)
	// As halo replay runs by default (the range fits the default
	// --sort-buffer), and with a buffer of a quarter of a million events
	// (--sort-buffer 262144), what a range larger than the buffer costs:
	// replayed during the read (the log is in order), it is not sorted on
	// disk (before session 5 it was, in three runs, merged).
	for _, c := range []struct {
		name   string
		buffer int
	}{{"full-replay", 0}, {"full-replay-sorted-on-disk", 1 << 18}} {
		b.Run(c.name, func(b *testing.B) {
			var st ReadRunStats
			overlapped := 0
			cpu := cputime.Process()
			for b.Loop() {
				_, st = replayLikeCLI(b, store, n, c.buffer)
				overlapped += b2i(st.Overlapped)
			}
			if st.Windows == 0 {
				b.Fatal("no windows: the pipeline did not run")
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(st.Windows), "windows")
			b.ReportMetric(float64(overlapped)/float64(b.N), "overlapped")
			cpuMs(b, cpu)
		})
	}
}
