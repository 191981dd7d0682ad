package export

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	pgo "github.com/parquet-go/parquet-go"

	"github.com/halo-sec/halo/events"
)

// TestStreamedFiles exports two tenants' fleets over midnight, in files of
// at most 3000 rows (each smaller than a chunk: written when it ends) and
// of at most a million (a partition per file, streamed chunk by chunk,
// some partitions smaller than a chunk), and reads every file back: each
// partition's files, part-0, part-1, … in turn, hold exactly the
// partition's conn.closed and tx.observed events, in event order, with
// their ids, connection ids, devices and times, each file as full as
// RowsPerFile allows. The rows went to the writers from chunks and id
// texts reused as the writers finished with them.
func TestStreamedFiles(t *testing.T) {
	start := time.Date(2026, 11, 2, 23, 50, 0, 0, time.UTC)
	a := &fleet{Tenant: "alpha", Devices: 30, Start: start, Step: 40 * time.Millisecond, TxPerHTTP: 3, Seed: 5}
	b := &fleet{Tenant: "beta", Devices: 7, Start: start.Add(time.Second), Step: 90 * time.Millisecond, TxPerHTTP: 2, Seed: 6}
	evs := append(a.Events(24000), b.Events(11000)...) // 16 and 16.5 minutes, over midnight
	events.SortByTime(evs)
	for _, perFile := range []int{3000, 1_000_000} {
		t.Run(fmt.Sprintf("rows-per-file=%d", perFile), func(t *testing.T) { checkStreamedFiles(t, evs, perFile) })
	}
}

func checkStreamedFiles(t *testing.T, evs []events.Event, perFile int) {
	out := t.TempDir()
	st, err := Write(context.Background(), evs, Config{Out: out, Tables: []string{TableConnections, TableTransactions}, RowsPerFile: perFile, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}

	type want struct {
		id, conn, device string
		time             int64
	}
	wantConns, wantTxs := map[partKey][]want{}, map[partKey][]want{}
	for i := range evs {
		ev := &evs[i]
		switch p := ev.Payload.(type) {
		case *events.ConnClosed:
			k := keyOf(ev.Tenant, ev.Time.UnixNano())
			wantConns[k] = append(wantConns[k], want{ev.ID.String(), p.ConnId, ev.Device, ev.Time.UnixNano()})
		case *events.TxObserved:
			k := keyOf(ev.Tenant, ev.Time.UnixNano())
			wantTxs[k] = append(wantTxs[k], want{ev.ID.String(), p.ConnId, ev.Device, ev.Time.UnixNano()})
		}
	}
	if len(wantConns) != 4 || len(wantTxs) != 4 {
		t.Fatalf("the log should have 4 partitions (2 tenants, 2 days): %d and %d", len(wantConns), len(wantTxs))
	}

	check := func(table string, wants map[partKey][]want, read func(path string) ([]want, error)) {
		files := 0
		for k, ws := range wants {
			dir := filepath.Join(out, table, "tenant="+k.Tenant, "date="+k.Date())
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			n := (len(ws) + perFile - 1) / perFile
			if len(entries) != n {
				t.Errorf("%s: %d files, want %d for %d rows", dir, len(entries), n, len(ws))
			}
			var got []want
			for i := range n {
				rows, err := read(filepath.Join(dir, fmt.Sprintf("part-%d.parquet", i)))
				if err != nil {
					t.Fatal(err)
				}
				if i < n-1 && len(rows) != perFile {
					t.Errorf("%s part-%d: %d rows, want %d", dir, i, len(rows), perFile)
				}
				got = append(got, rows...)
				files++
			}
			if len(got) != len(ws) {
				t.Errorf("%s: %d rows, want %d", dir, len(got), len(ws))
				continue
			}
			bad := 0
			for i := range ws {
				if got[i] != ws[i] {
					if bad++; bad <= 3 {
						t.Errorf("%s row %d: %+v, want %+v", dir, i, got[i], ws[i])
					}
				}
			}
		}
		if st.Tables[table].Files != files {
			t.Errorf("%s: the manifest counts %d files, %d read", table, st.Tables[table].Files, files)
		}
	}
	check(TableConnections, wantConns, func(path string) ([]want, error) {
		rows, err := pgo.ReadFile[Connection](path)
		var out []want
		for _, r := range rows {
			out = append(out, want{r.EventID, r.ConnID, r.Device, r.End})
		}
		return out, err
	})
	check(TableTransactions, wantTxs, func(path string) ([]want, error) {
		rows, err := pgo.ReadFile[Transaction](path)
		var out []want
		for _, r := range rows {
			out = append(out, want{r.EventID, r.ConnID, r.Device, r.Time})
		}
		return out, err
	})
}
