package publish

import (
	"errors"
	"strings"
	"testing"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/storetest"
)

func TestSpoolCodec(t *testing.T) {
	evs := storetest.Samples("acme", "pos-1", events.NewID().Time())
	files, bad, _ := encodeSpool(evs, 4096, events.MaxBatchSize)
	if len(files) != 1 || len(bad) != 0 {
		t.Fatalf("%d files, %d bad", len(files), len(bad))
	}
	got, err := decodeSpool(files[0].data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("decoded %d events, want %d", len(got), len(evs))
	}
	for i := range evs {
		if got[i].ID != evs[i].ID || got[i].Type() != evs[i].Type() {
			t.Errorf("event %d: %s %s, want %s %s", i, got[i].ID, got[i].Type(), evs[i].ID, evs[i].Type())
		}
	}
	// Every truncation and every single-bit flip is detected.
	f := files[0].data
	for n := range len(f) {
		if _, err := decodeSpool(f[:n]); !errors.Is(err, errCorruptSpool) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	for i := range len(f) {
		for bit := range 8 {
			c := append([]byte(nil), f...)
			c[i] ^= 1 << bit
			if _, err := decodeSpool(c); !errors.Is(err, errCorruptSpool) {
				t.Fatalf("bit %d of byte %d flipped: %v", bit, i, err)
			}
		}
	}
}

func TestSpoolSplits(t *testing.T) {
	// Count limit.
	var evs []events.Event
	for i := range 25 {
		evs = append(evs, event("acme", "d", i))
	}
	files, _, _ := encodeSpool(evs, 10, events.MaxBatchSize)
	if len(files) != 3 {
		t.Fatalf("25 events, 10 per file: %d files", len(files))
	}
	// Size limit: events of ~200 KiB, five per MiB.
	var big []events.Event
	for i := range 12 {
		ev := event("acme", "d", i)
		ev.Payload = &events.TxObserved{ConnId: "c", Path: "/" + strings.Repeat("y", 200<<10)}
		big = append(big, ev)
	}
	files, bad, _ := encodeSpool(big, 4096, events.MaxBatchSize)
	if len(bad) != 0 {
		t.Fatalf("%d bad", len(bad))
	}
	n := 0
	for _, f := range files {
		if len(f.data)-headerSize > events.MaxBatchSize {
			t.Errorf("file payload %d bytes > %d", len(f.data)-headerSize, events.MaxBatchSize)
		}
		evs, err := decodeSpool(f.data)
		if err != nil {
			t.Fatal(err)
		}
		n += len(evs)
	}
	if n != len(big) || len(files) < 3 {
		t.Errorf("%d events in %d files", n, len(files))
	}
	// An event too large for the log is set aside, the rest is kept.
	huge := event("acme", "d", 99)
	huge.Payload = &events.TxObserved{Path: strings.Repeat("z", events.MaxEventSize)}
	files, bad, why := encodeSpool([]events.Event{evs[0], huge, evs[1]}, 4096, events.MaxBatchSize)
	if len(files) != 1 || len(bad) != 1 || bad[0] != 1 || !errors.Is(why[0], events.ErrTooLarge) {
		t.Errorf("%d files, bad %d (%v)", len(files), len(bad), why)
	}
}

func TestSpoolNames(t *testing.T) {
	for _, seq := range []uint64{1, 42, 1 << 62} {
		got, ok := parseSpoolName(spoolName(seq))
		if !ok || got != seq {
			t.Errorf("%d -> %q -> %d %v", seq, spoolName(seq), got, ok)
		}
	}
	for _, bad := range []string{"1.spool", "00000000000000000000.spool", "0000000000000000000x.spool", "00000000000000000001.spool.tmp", "LOCK"} {
		if _, ok := parseSpoolName(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzDecodeSpool(f *testing.F) {
	files, _, _ := encodeSpool(storetest.Samples("acme", "pos-1", events.NewID().Time()), 4096, events.MaxBatchSize)
	f.Add(files[0].data)
	f.Add([]byte(spoolMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := decodeSpool(b)
		if err != nil {
			if !errors.Is(err, errCorruptSpool) {
				t.Fatalf("error not wrapping errCorruptSpool: %v", err)
			}
			return
		}
		for i := range evs {
			if evs[i].Payload == nil || evs[i].ID.IsZero() {
				t.Fatalf("decoded an incomplete event: %+v", evs[i])
			}
		}
	})
}
