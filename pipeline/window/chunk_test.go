package window

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// chunk.take hands out zero slices of the length asked, capped at it (an
// append to one cannot reach the next), that never overlap: marks written
// into every slice handed out stay whole, across many chunks and requests
// larger than a chunk.
func TestChunkTake(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var ch chunk[colMem]
	perChunk := chunkBytes / int(unsafe.Sizeof(colMem{}))
	var got [][]colMem
	total := 0
	for total < 5*perChunk {
		n := rng.IntN(40)
		if rng.IntN(50) == 0 {
			n = perChunk + rng.IntN(10) // more than a chunk
		}
		s := ch.take(n, chunkRows)
		if len(s) != n || cap(s) != n {
			t.Fatalf("take(%d): len %d, cap %d", n, len(s), cap(s))
		}
		for i := range s {
			if s[i].list != [3]*memory.Buffer{} || s[i].data.Len() != 0 || s[i].data.NullN() != 0 || s[i].data.DataType() != nil {
				t.Fatalf("take(%d): element %d is not zero", n, i)
			}
			s[i].data.SetNullN(len(got)) // the mark: which request
		}
		got = append(got, s)
		total += n
	}
	// A window of more than chunkRows rows has its own.
	left := len(ch.free) - ch.next
	if big := ch.take(3, chunkRows+1); len(big) != 3 || cap(big) != 3 || len(ch.free)-ch.next != left {
		t.Fatalf("take for a large window: len %d, cap %d, the chunk's free %d of %d", len(big), cap(big), len(ch.free)-ch.next, left)
	}
	for k, s := range got {
		for i := range s {
			if s[i].data.NullN() != k {
				t.Fatalf("request %d, element %d: overwritten by request %d", k, i, s[i].data.NullN())
			}
		}
	}
}
