package zeek_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/halo-sec/halo/events"
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
