package features_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/cputime"
)

// BenchmarkBaselineBuildersNarrow: the same events into five Arrow builders
// (device, time, type, port, bytes up), a record batch every 100k rows: the
// kind of probe behind MEASURED.md's 7.4 M events/s, against which issue
// 4's 5 M/s was set. The window batch has 25 columns, ten of them strings
// (BenchmarkBaselineBuilders).
func BenchmarkBaselineBuildersNarrow(b *testing.B) {
	evs := benchLog()
	mem := memory.DefaultAllocator
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		device := array.NewStringBuilder(mem)
		tm := array.NewInt64Builder(mem)
		typ := array.NewInt8Builder(mem)
		port := array.NewUint32Builder(mem)
		up := array.NewUint64Builder(mem)
		for i := range evs {
			ev := &evs[i]
			device.Append(ev.Device)
			tm.Append(ev.Time.UnixNano())
			var p uint32
			var u uint64
			switch pl := ev.Payload.(type) {
			case *events.ConnOpened:
				typ.Append(0)
				p = pl.DstPort
			case *events.ConnClosed:
				typ.Append(1)
				u = pl.BytesUp
			default:
				typ.Append(2)
			}
			port.Append(p)
			up.Append(u)
			if (i+1)%100_000 == 0 || i == len(evs)-1 {
				for _, bl := range []array.Builder{device, tm, typ, port, up} {
					bl.NewArray().Release()
				}
			}
		}
	}
	perSecond(b, len(evs), cpu0)
}
