package window

import (
	"fmt"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

func TestOversize(t *testing.T) {
	defer func(m int) { maxStrBytes = m }(maxStrBytes)
	maxStrBytes = 1000
	a, err := New(Config{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	added := 0
	for i := range 100 {
		ev := events.Event{ID: events.DerivedID("oversize", fmt.Sprint(i)), Tenant: "acme", Device: "d", Time: t0.Add(time.Duration(i) * time.Millisecond),
			Payload: &events.ConnOpened{ConnId: fmt.Sprintf("c%03d", i), DstHost: "host-with-a-long-name.example.com"}}
		if a.Add(&ev) {
			added++
		}
	}
	st := a.Stats()
	if st.Oversize == 0 || st.Added != uint64(added) || st.Oversize+st.Added != 100 {
		t.Fatalf("stats %+v", st)
	}
	// A refused conn.opened is not remembered for the join.
	if st.OpenConns != added {
		t.Errorf("%d open connections for %d added", st.OpenConns, added)
	}
	a.Flush()
	ws := a.Closed()
	defer func() {
		for _, w := range ws {
			w.Release()
		}
	}()
	if len(ws) != 1 || int(ws[0].Batch.NumRows()) != added {
		t.Fatalf("%d windows", len(ws))
	}
}
