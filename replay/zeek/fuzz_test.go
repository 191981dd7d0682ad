package zeek_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/replay/zeek"
)

// FuzzRead feeds arbitrary input to Read: it must never panic, every event
// it emits must be valid, and the counts must add up. The seed corpus in
// testdata/fuzz/FuzzRead holds the headers and first records of each real
// log under shared/data/zeek.
func FuzzRead(f *testing.F) {
	f.Add([]byte(header + "1.5\tCa\t10.0.0.5\t1\t10.0.0.1\t2\ttcp\t-\t-\t-\t-\tS0\tS\t1\t0\tMalicious\tC&C\n"))
	f.Add([]byte(`{"ts":"2022-09-29T14:40:56.755299Z","uid":"C","id.orig_h":"::1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":2,"proto":"tcp","label":"Malicious"}` + "\n"))
	f.Add([]byte("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttunnel_parents   label   detailed-label\r\n1e3\tC\t1.2.3.4\t1\t5.6.7.8\t2\ttcp\t-   Malicious   DDoS\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var n, labels int
		st, err := zeek.Read(bytes.NewReader(data), zeek.Options{Tenant: "fuzz", MaxLineBytes: 4096}, func(e events.Event) error {
			if err := e.Validate(); err != nil {
				t.Fatalf("invalid event emitted: %v", err)
			}
			if e.Type() == events.TypeLabelRecorded {
				labels++
			}
			n++
			return nil
		})
		if err != nil && !errors.Is(err, zeek.ErrNotConnLog) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if st.Emitted != n || st.Labels != labels || st.Emitted != 2*(st.Records-st.Skipped)+st.Labels || st.Skipped > st.Records {
			t.Fatalf("inconsistent stats %+v for %d events", st, n)
		}
	})
}
