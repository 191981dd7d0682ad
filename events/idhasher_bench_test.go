package events_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/halo-sec/halo/events"
)

// BenchmarkAlertIDs derives the alerter's ids of the Zeek replay's shapes
// with DerivedID and with the ways that hash a shared first block once: an
// alert's updates and alerts of one detector, tenant and device
// prefix (IDHasher).
func BenchmarkAlertIDs(b *testing.B) {
	const alert = "al-0f4e2a8c-1b2d-5e6f-8a9b-0c1d2e3f4a5b"
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("dst:38.90.%d.%d", i/256, i%256)
	}
	var nb [20]byte
	b.Run("update/DerivedID", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			events.DerivedID("alert.updated", alert, string(strconv.AppendUint(nb[:0], uint64(i%5000), 10)))
		}
	})
	b.Run("update/IDHasher", func(b *testing.B) {
		var h events.IDHasher
		for i := 0; b.Loop(); i++ {
			h.ID("alert.updated", alert, string(strconv.AppendUint(nb[:0], uint64(i%5000), 10)))
		}
	})
	b.Run("alert/DerivedID", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			events.DerivedID("alert", "new-destination", "zeek", "147.32.83.161", keys[i%len(keys)], "2022-06-12T17:54:00Z")
		}
	})
	b.Run("alert/IDHasher", func(b *testing.B) {
		var h events.IDHasher
		for i := 0; b.Loop(); i++ {
			h.ID("alert", "new-destination", "zeek", "147.32.83.161", keys[i%len(keys)], "2022-06-12T17:54:00Z")
		}
	})
}
