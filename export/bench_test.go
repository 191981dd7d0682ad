package export

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/cputime"
)

// The export benchmarks (bench/RESULTS.md, "Export"): a synthetic fleet's
// edge events (2000 terminals, 300k connections, a quarter of them plain
// HTTP with 3 transactions each: 1.5M events, one day) exported from
// memory to files on disk, and pyarrow writing the same rows with the same
// compression in the same run.

const exportBenchConns = 300_000

var (
	exportOnce sync.Once
	exportEvs  []events.Event
)

func exportEvents(b *testing.B) []events.Event {
	exportOnce.Do(func() {
		f := &fleet{Tenant: "bench", Devices: 2000, Start: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Step: 200 * time.Millisecond, TxPerHTTP: 3, Seed: 11}
		exportEvs = f.Events(exportBenchConns)
	})
	return exportEvs
}

// BenchmarkExport measures rows written per second:
//   - tables: connections and transactions (the row tables), from the
//     events to zstd files on disk, with 1 and 2 workers;
//   - all: every table, features (windows, features, anomaly models)
//     included, 2 workers, without and with the anomaly scores;
//   - pyarrow: pq.write_table of the same connections and transactions
//     rows with zstd level 1, from Arrow tables already in memory.
func BenchmarkExport(b *testing.B) {
	evs := exportEvents(b)
	run := func(b *testing.B, cfg Config) Stats {
		var st Stats
		cpu0 := cputime.Process()
		for b.Loop() {
			out := b.TempDir()
			cfg.Out = out
			var err error
			if st, err = Write(context.Background(), evs, cfg); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(out)
			b.StartTimer()
		}
		b.ReportMetric(float64(st.Rows())*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(len(evs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		// CPU time of the whole process (every goroutine, the GC, the
		// removal of the files between runs): on a shared machine the
		// wall-clock rates depend on the other sessions' load; this does
		// much less.
		b.ReportMetric(float64(len(evs))*float64(b.N)/(cputime.Process()-cpu0).Seconds(), "events/cpu-s")
		return st
	}
	rowTables := []string{TableConnections, TableTransactions}
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("tables/workers=%d", w), func(b *testing.B) {
			run(b, Config{Tables: rowTables, Workers: w})
		})
	}
	b.Run("all/workers=2", func(b *testing.B) {
		st := run(b, Config{Workers: 2})
		b.ReportMetric(float64(st.Windows), "windows")
	})
	b.Run("all-scores/workers=2", func(b *testing.B) {
		run(b, Config{Workers: 2, Scores: true})
	})
	b.Run("pyarrow", func(b *testing.B) {
		out := b.TempDir()
		st, err := Write(context.Background(), evs, Config{Out: out, Tables: rowTables})
		if err != nil {
			b.Fatal(err)
		}
		var files []string
		for _, tb := range rowTables {
			if st.Tables[tb].Files != 1 {
				b.Fatalf("%s: %d files, want 1 (one day)", tb, st.Tables[tb].Files)
			}
			files = append(files, filepath.Join(out, tb, filepath.FromSlash(st.Tables[tb].Partitions[0]), "part-0.parquet"))
		}
		script := filepath.Join("..", "bench", "pyarrow_write.py")
		res, err := exec.Command("python3", append([]string{script, strconv.Itoa(b.N)}, files...)...).CombinedOutput()
		if err != nil {
			b.Fatalf("python3 %s (pip install -r notebooks/requirements.txt): %v\n%s", script, err, res)
		}
		var rate, size float64
		if _, err := fmt.Sscanf(strings.TrimSpace(string(res)), "%g rows/s %g bytes", &rate, &size); err != nil {
			b.Fatalf("pyarrow_write.py printed %q: %v", res, err)
		}
		b.ReportMetric(rate, "rows/s")
	})
}
