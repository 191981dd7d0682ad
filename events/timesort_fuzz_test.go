package events

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzRunReader: a run file of any bytes yields events or an error, never
// a panic or a hang, and never more events than the run claims to hold.
func FuzzRunReader(f *testing.F) {
	ev := Event{ID: NewID(), Tenant: "t", Device: "d", Time: time.Unix(1700000000, 5), Payload: &ConnOpened{ConnId: "c", DstHost: "h", DstPort: 443}}
	enc, err := Encode(&ev)
	if err != nil {
		f.Fatal(err)
	}
	rec := binary.AppendUvarint(nil, 7)
	rec = binary.AppendUvarint(rec, uint64(len(enc)))
	rec = append(rec, enc...)
	f.Add(rec, 1)
	f.Add(append(rec, rec...), 2)
	f.Add(rec[:len(rec)-3], 1)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, b []byte, want int) {
		if want < 0 || want > 1000 {
			return
		}
		path := filepath.Join(t.TempDir(), "run")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		r := &runReader{f: fh, r: bufio.NewReader(fh), want: want}
		n := 0
		for {
			err := r.next()
			if errors.Is(err, io.EOF) {
				if n != want {
					t.Fatalf("EOF after %d of %d events", n, want)
				}
				return
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnknownType) {
					t.Fatalf("an error that names no cause: %v", err)
				}
				return
			}
			if n++; n > want {
				t.Fatalf("%d events from a run of %d", n, want)
			}
		}
	})
}
