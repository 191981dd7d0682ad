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
			// run feeds evs and hands each closed window to consume, on
			// another goroutine when concurrent is set.
			run := func(cfg window.Config, concurrent bool) ([][]byte, int64) {
				mem := &counting{Allocator: checked(t)}
				a := newAssembler(t, cfg, 3, mem)
				var out [][]byte
				consume := func(w *window.Window) {
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
				ch := make(chan *window.Window, 64)
				done := make(chan struct{})
				go func() {
					for w := range ch {
						consume(w)
					}
					close(done)
				}()
				collect := func() {
					for _, w := range a.Closed() {
						if concurrent {
							ch <- w
						} else {
							consume(w)
						}
					}
				}
				for i := range evs {
					a.Add(&evs[i])
					collect()
				}
				a.Flush()
				collect()
				close(ch)
				<-done
				return out, mem.n.Load()
			}
			want, allocs := run(cfg, false)
			cfg.Recycle = true
			for _, concurrent := range []bool{false, true} {
				got, recycled := run(cfg, concurrent)
				if len(want) < 20 || len(got) != len(want) {
					t.Fatalf("%d windows recycling, %d not", len(got), len(want))
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("window %d differs when recycling (concurrent %v)", i, concurrent)
					}
				}
				// Released at once, nearly every batch reuses an earlier one's
				// memory; when releases race with closes, it depends.
				if !concurrent && recycled > allocs/4 {
					t.Errorf("%d allocations recycling, %d not", recycled, allocs)
				}
			}
		})
	}
}
