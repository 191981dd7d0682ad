package window_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/pipeline/window"
)

// counting counts the allocations of an allocator.
type counting struct {
	memory.Allocator
	n atomic.Int64
}

func (c *counting) Allocate(size int) []byte {
	c.n.Add(1)
	return c.Allocator.Allocate(size)
}

// With Config.Recycle, windows released on another goroutine while the
// assembler runs lend their memory to later windows, and every batch is
// still byte for byte the batch of an assembler that does not recycle;
// every byte goes back to the allocator.
func TestRecycle(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			evs := randomLog(rand.New(rand.NewPCG(seed, 7)), 4000)
			cfg := window.Config{Size: 10 * time.Second, Lateness: 5 * time.Second}
			run := func(cfg window.Config) ([][]byte, int64) {
				mem := &counting{Allocator: checked(t)}
				a := newAssembler(t, cfg, 3, mem)
				ch := make(chan *window.Window, 64)
				done := make(chan [][]byte)
				go func() { // the consumer: serialize, then release
					var out [][]byte
					for w := range ch {
						var buf bytes.Buffer
						wr := ipc.NewWriter(&buf, ipc.WithSchema(window.Schema))
						if err := wr.Write(w.Batch); err != nil {
							t.Error(err)
						}
						if err := wr.Close(); err != nil {
							t.Error(err)
						}
						out = append(out, buf.Bytes())
						w.Release()
					}
					done <- out
				}()
				for i := range evs {
					a.Add(&evs[i])
					for _, w := range a.Closed() {
						ch <- w
					}
				}
				a.Flush()
				for _, w := range a.Closed() {
					ch <- w
				}
				close(ch)
				return <-done, mem.n.Load()
			}
			want, allocs := run(cfg)
			cfg.Recycle = true
			got, recycled := run(cfg)
			if len(want) < 20 || len(got) != len(want) {
				t.Fatalf("%d windows recycling, %d not", len(got), len(want))
			}
			if recycled > allocs/2 {
				t.Errorf("%d allocations recycling, %d not", recycled, allocs)
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("window %d differs when recycling", i)
				}
			}
		})
	}
}
