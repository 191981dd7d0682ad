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

// TestCopyString: copyString copies every length of value, with and
// without room for its padded copy on either side, and writes nothing
// before the value nor past copyPad bytes after it.
func TestCopyString(t *testing.T) {
	src := make([]byte, 200)
	for i := range src {
		src[i] = byte(i*7 + 1)
	}
	for n := range 100 {
		for _, lo := range []int{0, 3, len(src) - n - copyPad, len(src) - n} {
			if lo < 0 {
				continue
			}
			for _, room := range []int{0, copyPad/2 + 1, copyPad, 2 * copyPad} {
				dst := bytes.Repeat([]byte{0xA5}, 8+n+room)
				copyString(dst, 8, src, lo, lo+n)
				if !bytes.Equal(dst[8:8+n], src[lo:lo+n]) {
					t.Fatalf("length %d at %d, room %d: copied %x, want %x", n, lo, room, dst[8:8+n], src[lo:lo+n])
				}
				if !bytes.Equal(dst[:8], bytes.Repeat([]byte{0xA5}, 8)) {
					t.Fatalf("length %d at %d, room %d: bytes before the value written", n, lo, room)
				}
				if rest := dst[min(len(dst), 8+max(n, copyPad)):]; !bytes.Equal(rest, bytes.Repeat([]byte{0xA5}, len(rest))) {
					t.Fatalf("length %d at %d, room %d: bytes past copyPad written", n, lo, room)
				}
			}
		}
	}
}
