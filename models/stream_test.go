package models

import (
	"math"
	"math/bits"
	"math/rand"
	"testing"
)

// TestStreamMatchesMathRand: stream draws what rand.New(rand.NewSource)
// draws, call for call, well past the first 607 outputs it takes from the
// standard source, for bounds of every kind (1, powers of two, bounds
// whose rejection loop runs often, bounds beyond 31 bits).
func TestStreamMatchesMathRand(t *testing.T) {
	bounds := []int{1, 2, 3, 7, 22, 256, 1000, 2000, 1<<30 + 1, 1<<31 - 1, 1 << 31, 1<<31 + 3, 1 << 40, 3<<61 + 5, math.MaxInt64}
	for _, seed := range []int64{0, 1, -7, 42, 1 << 40, math.MinInt64, math.MaxInt64} {
		want := rand.New(rand.NewSource(seed))
		got := newStream(seed)
		pick := rand.New(rand.NewSource(seed ^ 99)) // which call to make
		for i := range 20_000 {
			if pick.Intn(3) == 0 {
				if g, w := got.float64(), want.Float64(); math.Float64bits(g) != math.Float64bits(w) {
					t.Fatalf("seed %d, call %d: Float64 %v, math/rand %v", seed, i, g, w)
				}
				continue
			}
			n := bounds[pick.Intn(len(bounds))]
			g := 0
			if pick.Intn(2) == 0 {
				g = got.intn(n)
			} else {
				b := newBound(n)
				g = got.below(&b)
			}
			if w := want.Intn(n); g != w {
				t.Fatalf("seed %d, call %d: Intn(%d) %d, math/rand %d", seed, i, n, g, w)
			}
		}
	}
}

// TestBelowIsModulo: below's remainder by multiplication is v % n for
// 32-bit values at the edges and at random, and bounds of every size.
func TestBelowIsModulo(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	ns := []int{1, 2, 3, 5, 7, 22, 255, 256, 257, 1000, 1774, 2000, 65537, 1<<30 + 1, 1<<31 - 3, 1<<31 - 1}
	for range 200 {
		ns = append(ns, 1+r.Intn(1<<31-1), 1+r.Intn(5000))
	}
	for _, n := range ns {
		b := newBound(n)
		vs := []int32{0, 1, int32(n - 1), b.max, b.max - 1, 1<<31 - 1}
		for range 500 {
			vs = append(vs, r.Int31())
		}
		for _, v := range vs {
			if v < 0 || v > b.max {
				continue // rejected before the remainder
			}
			if hi, _ := bits.Mul64(b.m*uint64(v), uint64(n)); int(hi) != int(v%int32(n)) {
				t.Fatalf("%d %% %d: %d by multiplication, %d", v, n, hi, v%int32(n))
			}
		}
	}
}

// TestSampleIsBelow: sample draws what as many calls of below draw, and
// of math/rand's Intn, cold and warm, for bounds of every kind,
// interleaved with other draws.
func TestSampleIsBelow(t *testing.T) {
	bounds := []int{1, 2, 3, 22, 256, 1774, 2000, 1<<30 + 1, 1<<31 - 1} // int32 draws
	for _, seed := range []int64{0, 1, 42, math.MinInt64} {
		want, got := newStream(seed), newStream(seed)
		std := rand.New(rand.NewSource(seed))
		pick := rand.New(rand.NewSource(seed ^ 5))
		for i := range 3000 {
			b := newBound(bounds[pick.Intn(len(bounds))])
			dst := make([]int32, pick.Intn(700))
			got.sample(dst, &b, nil)
			for k, g := range dst {
				if w := want.below(&b); int(g) != w {
					t.Fatalf("seed %d, sample %d (n %d), draw %d: %d, below %d", seed, i, b.n, k, g, w)
				}
				if w := std.Intn(b.n); int(g) != w {
					t.Fatalf("seed %d, sample %d (n %d), draw %d: %d, math/rand %d", seed, i, b.n, k, g, w)
				}
			}
			g := got.float64()
			if w := want.float64(); g != w {
				t.Fatalf("seed %d, after sample %d: float64 %v, %v", seed, i, g, w)
			}
			if w := std.Float64(); math.Float64bits(g) != math.Float64bits(w) {
				t.Fatalf("seed %d, after sample %d: float64 %v, math/rand %v", seed, i, g, w)
			}
		}
	}
}

// TestStreamReseeded: a stream of a seed drawn from before (newStream's
// copy of the last seed's outputs) draws what math/rand draws, whichever
// seeds came between, and one being drawn from does not change the copy.
func TestStreamReseeded(t *testing.T) {
	for _, seed := range []int64{5, 5, 6, 5, 5, math.MinInt64, 6, 6} {
		s := newStream(seed)
		want := rand.New(rand.NewSource(seed))
		for i := range 2000 {
			if g, w := s.uint64(), want.Uint64(); g != w {
				t.Fatalf("seed %d, draw %d: %d, math/rand %d", seed, i, g, w)
			}
		}
	}
}

// TestSampleOf: sample with of writes of[r] for each draw r that sample
// without it writes, cold and warm, and leaves the stream where it does.
func TestSampleOf(t *testing.T) {
	pick := rand.New(rand.NewSource(9))
	for _, n := range []int{1, 2, 3, 256, 1774, 2000} {
		of := make([]int32, n)
		for i := range of {
			of[i] = int32(pick.Intn(n))
		}
		b := newBound(n)
		plain, mapped := newStream(int64(n)), newStream(int64(n))
		for i := range 40 { // the ring warms up after 607 draws
			dst := make([]int32, 1+pick.Intn(300))
			got := make([]int32, len(dst))
			plain.sample(dst, &b, nil)
			mapped.sample(got, &b, of)
			for k, r := range dst {
				if got[k] != of[r] {
					t.Fatalf("n %d, sample %d, draw %d: %d, of[%d] = %d", n, i, k, got[k], r, of[r])
				}
			}
			if g, w := mapped.float64(), plain.float64(); g != w {
				t.Fatalf("n %d, after sample %d: float64 %v, %v", n, i, g, w)
			}
		}
	}
}

// TestFeatureIsBelow: feature draws what grow drew before it, below until
// a value not in known and a float64 after each one in it, cold and warm,
// for bounds of every kind and sets of every density (all but one value
// known included), and leaves the stream where those draws do.
func TestFeatureIsBelow(t *testing.T) {
	pick := rand.New(rand.NewSource(3))
	// 1<<29 + 1: a bound Int31n rejects draws for, one in four.
	for _, n := range []int{1, 2, 3, 22, 64, 65, 130, 1<<29 + 1} {
		b := newBound(n)
		want, got := newStream(int64(n)), newStream(int64(n))
		none := make([]uint64, (n+63)/64)
		for i := range 2000 {
			known := none // none known: one value drawn
			if n <= 200 {
				known = make([]uint64, (n+63)/64)
				density := pick.Intn(4)
				for f := range n {
					if pick.Intn(4) < density {
						known[f/64] |= 1 << (f % 64)
					}
				}
				free := pick.Intn(n)
				known[free/64] &^= 1 << (free % 64)
			}
			var w int
			for {
				w = want.below(&b)
				if known[w/64]&(1<<(w%64)) == 0 {
					break
				}
				want.float64()
			}
			if g := got.feature(&b, known); g != w {
				t.Fatalf("n %d, draw %d: feature %d, below %d", n, i, g, w)
			}
			if g, w := got.float64(), want.float64(); g != w {
				t.Fatalf("n %d, after draw %d: float64 %v, %v", n, i, g, w)
			}
		}
	}
}
