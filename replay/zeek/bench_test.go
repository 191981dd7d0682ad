package zeek_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/replay/zeek"
)

func benchRead(b *testing.B, rel string) {
	data, err := os.ReadFile(filepath.Join(dataDir(b), rel))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	records := 0
	for b.Loop() {
		st, err := zeek.Read(bytes.NewReader(data), zeek.Options{Tenant: "bench", Source: "bench"}, func(events.Event) error { return nil })
		if err != nil || st.Skipped != 0 {
			b.Fatal(err, st.Errors)
		}
		records += st.Records
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReadTSV reads the largest TSV log (9,048 records), decoding and
// building all events, into a sink that drops them.
func BenchmarkReadTSV(b *testing.B) {
	benchRead(b, "stratosphere/011-zeek-mixed/data/conn.log.labeled")
}

// BenchmarkReadJSON reads the JSON-lines log (4,504 records).
func BenchmarkReadJSON(b *testing.B) {
	benchRead(b, "stratosphere/002-zeek-scenario-port-scanning/conn.log")
}

// BenchmarkImportEndToEnd is halo import zeek without the command line:
// parse a log, sort, and append to an embedded JetStream log on disk,
// acknowledged. Compare records/s with BenchmarkRead* (parsing alone) in
// the same run. sparse: the largest labeled TSV log, one host over 24 hours
// (a record every 10 s: hardly two events of a partition within the log's
// 1 s batch span, so about one log message per event); dense: the JSON
// port-scan log (4,504 records in minutes, many events per message).
func BenchmarkImportEndToEnd(b *testing.B) {
	b.Run("sparse-tsv", func(b *testing.B) { benchImport(b, "stratosphere/011-zeek-mixed/data/conn.log.labeled") })
	b.Run("dense-json", func(b *testing.B) { benchImport(b, "stratosphere/002-zeek-scenario-port-scanning/conn.log") })
}

func benchImport(b *testing.B, rel string) {
	path := filepath.Join(dataDir(b), rel)
	ctx := context.Background()
	records, evCount := 0, 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store, err := natsstore.Open(ctx, natsstore.Config{DataDir: b.TempDir()}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var evs []events.Event
		st, err := zeek.ImportFile(path, zeek.Options{Tenant: "bench"}, func(ev events.Event) error {
			evs = append(evs, ev)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := zeek.Append(ctx, store, evs); err != nil {
			b.Fatal(err)
		}
		records += st.Records
		evCount += len(evs)
		b.StopTimer()
		if got := store.Stats().Appended; got != uint64(len(evs)) {
			b.Fatalf("log acknowledged %d of %d events", got, len(evs))
		}
		store.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(evCount)/b.Elapsed().Seconds(), "events/s")
}
