package window

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestPutStr: putStr appends each value to its column, whether the column
// has room (only its length written) or grows, and counts the bytes.
func TestPutStr(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var w pending
		var want [numStr][]byte
		total := 0
		for s := range numStr {
			if round%3 != 0 { // room of various sizes; none a third of the rounds
				w.data[s] = make([]byte, 0, rng.IntN(64))
			}
		}
		for range rng.IntN(300) {
			s := rng.IntN(numStr)
			b := make([]byte, rng.IntN(40))
			for i := range b {
				b[i] = byte('a' + rng.IntN(26))
			}
			v := string(b)
			if rng.IntN(5) == 0 {
				v = "" // null: nothing appended
			}
			w.putStr(s, v)
			want[s] = append(want[s], v...)
			total += len(v)
		}
		for s := range numStr {
			if !bytes.Equal(w.data[s], want[s]) {
				t.Fatalf("round %d: column %d holds %q, want %q", round, s, w.data[s], want[s])
			}
		}
		if w.strTotal != total {
			t.Fatalf("round %d: strTotal %d, want %d", round, w.strTotal, total)
		}
	}
}
