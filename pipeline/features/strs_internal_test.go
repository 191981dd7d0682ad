package features

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestStrsMatchesArray: strs reads every value of a utf8 column as the
// array does (null: ""), also a slice of it (offsets that do not start at
// 0) and a column with null slots that hold bytes.
func TestStrsMatchesArray(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, withNulls := range []bool{false, true} {
		b := array.NewStringBuilder(memory.DefaultAllocator)
		for i := range 300 {
			if withNulls && rng.IntN(4) == 0 {
				b.AppendNull()
				continue
			}
			b.Append(fmt.Sprint("v", i, rng.IntN(1000))[:rng.IntN(4)+1])
		}
		whole := b.NewStringArray()
		b.Release()
		if withNulls && whole.NullN() == 0 {
			t.Fatal("no nulls")
		}
		// The same values, every third null: slots with bytes.
		valid := make([]byte, (whole.Len()+7)/8)
		for i := range whole.Len() {
			if i%3 != 0 && whole.IsValid(i) {
				valid[i/8] |= 1 << (i % 8)
			}
		}
		bufs := whole.Data().Buffers()
		data := array.NewData(whole.DataType(), whole.Len(), []*memory.Buffer{memory.NewBufferBytes(valid), bufs[1], bufs[2]}, nil, array.UnknownNullCount, 0)
		hidden := array.NewStringData(data)
		data.Release()
		for _, a := range []*array.String{whole, hidden, array.NewSlice(hidden, 37, 251).(*array.String), array.NewSlice(whole, 37, 251).(*array.String), array.NewSlice(whole, 300, 300).(*array.String)} {
			var s strs
			s.bind(a)
			for i := range a.Len() {
				want := ""
				if a.IsValid(i) {
					want = a.Value(i)
				}
				if got := s.at(i); got != want {
					t.Fatalf("nulls %v, row %d of %d: %q, want %q", withNulls, i, a.Len(), got, want)
				}
			}
			a.Release()
		}
	}
}
