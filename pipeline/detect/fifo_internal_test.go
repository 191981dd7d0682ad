package detect

import (
	"math/rand/v2"
	"testing"
)

// TestFifoMatchesSlice: random pushes and pops of a fifo give the records
// a plain slice queue gives, at every position, and a pop leaves nothing of
// a record in the queue's memory.
func TestFifoMatchesSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q fifo[*int]
	var want []*int
	for step := range 200000 {
		switch r := rng.IntN(100); {
		case r < 52 || len(want) == 0:
			v := new(int)
			*v = step
			q.push(v)
			want = append(want, v)
		case r < 99:
			front := q.at(0)
			q.pop()
			if *front != nil {
				t.Fatalf("step %d: the record popped still holds %d", step, **front)
			}
			want = want[1:]
		default:
			q.reset()
			want = want[:0]
		}
		if q.len() != len(want) {
			t.Fatalf("step %d: %d records, want %d", step, q.len(), len(want))
		}
		if len(want) > 0 {
			for _, i := range []int{0, len(want) / 2, len(want) - 1, rng.IntN(len(want))} {
				if got := *q.at(i); got != want[i] {
					t.Fatalf("step %d: record %d is %d, want %d", step, i, *got, *want[i])
				}
			}
		}
	}
	if len(q.chunks) > 2+len(want)/fifoChunk {
		t.Errorf("%d chunks held for %d records", len(q.chunks), len(want))
	}
}
