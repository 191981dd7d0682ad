package window

import (
	"fmt"
	"testing"
)

// BenchmarkConnTable: a device's connections opened and closed, with open
// at a time (the Zeek logs' busy hosts hold tens to hundreds): a put and a
// take a connection, ids of Zeek's 18 bytes.
func BenchmarkConnTable(b *testing.B) {
	for _, open := range []int{1, 3, 16, 300} {
		b.Run(fmt.Sprint("open=", open), func(b *testing.B) {
			ids := make([]string, 4096)
			for i := range ids {
				ids[i] = fmt.Sprintf("C%017x", uint64(i)*0x9E3779B97F4A7C15>>8)
			}
			var c connTable
			d := dest{host: "h", ok: true}
			for i := range open {
				c.put(ids[i], int64(i), &d)
			}
			b.ResetTimer()
			for i := range b.N {
				c.put(ids[(i+open)%len(ids)], int64(i+open), &d)
				if _, ok := c.take(ids[i%len(ids)]); !ok {
					b.Fatal("not joined")
				}
			}
		})
	}
}
