package models

import (
	"math/bits"
	"math/rand"
	"sync"
)

// stream draws exactly the values rand.New(rand.NewSource(seed)) draws
// (Intn, Float64), without the method calls through the Source interface
// that cost the isolation fitter a tenth of its time.
//
// math/rand's source is an additive lagged Fibonacci generator: each
// output is the sum of the outputs 607 and 273 draws before it (its
// 607-value ring, fed at one position and tapped at another, moves both
// back by one per draw). So the first 607 outputs of the standard source
// are drawn from it, and every later one is computed from them by that
// sum; TestStreamMatchesMathRand compares the two streams.
type stream struct {
	ring [streamLen]uint64 // the last 607 outputs, output n at n mod 607
	k    int               // position of the next output
	warm bool              // the ring holds outputs already returned
}

const (
	streamLen = 607 // math/rand's rngLen
	streamTap = 273 // rngLen − rngTap
)

func newStream(seed int64) *stream {
	s := new(stream)
	lastRing.Lock()
	if lastRing.ok && lastRing.seed == seed {
		s.ring = lastRing.ring
		lastRing.Unlock()
		return s
	}
	lastRing.Unlock()
	src := rand.NewSource(seed).(rand.Source64)
	for i := range s.ring {
		s.ring[i] = src.Uint64()
	}
	lastRing.Lock()
	lastRing.seed, lastRing.ring, lastRing.ok = seed, s.ring, true
	lastRing.Unlock()
	return s
}

// lastRing holds the first outputs of the last seed newStream drew from:
// seeding math/rand's source (about 15 µs) is most of a stream's cost, and
// a cohort's model is trained again and again with the seed of its key.
var lastRing struct {
	sync.Mutex
	seed int64
	ok   bool
	ring [streamLen]uint64
}

// uint64 is the source's Uint64.
func (s *stream) uint64() uint64 {
	k := s.k
	x := s.ring[k]
	if s.warm {
		j := k + streamLen - streamTap
		if j >= streamLen {
			j -= streamLen
		}
		x += s.ring[j]
		s.ring[k] = x
	}
	if k++; k == streamLen {
		k, s.warm = 0, true
	}
	s.k = k
	return x
}

// int63 is Rand.Int63.
func (s *stream) int63() int64 { return int64(s.uint64() & (1<<63 - 1)) }

// intn is Rand.Intn (n > 0).
func (s *stream) intn(n int) int {
	if n > 1<<31-1 {
		// Rand.Int63n
		n := int64(n)
		if n&(n-1) == 0 {
			return int(s.int63() & (n - 1))
		}
		max := int64((1 << 63) - 1 - (1<<63)%uint64(n))
		v := s.int63()
		for v > max {
			v = s.int63()
		}
		return int(v % n)
	}
	// Rand.Int31n
	m := int32(n)
	if m&(m-1) == 0 {
		return int(int32(s.int63()>>32) & (m - 1))
	}
	max := int32((1 << 31) - 1 - (1<<31)%uint32(m))
	v := int32(s.int63() >> 32)
	for v > max {
		v = int32(s.int63() >> 32)
	}
	return int(v % m)
}

// ringNext is uint64 on a warm ring r at position k: the output, and the
// next position.
func ringNext(r *[streamLen]uint64, k int) (uint64, int) {
	j := k + streamLen - streamTap
	if j >= streamLen {
		j -= streamLen
	}
	x := r[k] + r[j]
	r[k] = x
	if k++; k == streamLen {
		k = 0
	}
	return x, k
}

// feature draws below(b) until a value not in the bit set known, and after
// each one in it a float64: the isolation fitter's draws of a node's
// feature, where golearn draws again while the feature is constant on the
// node, each time after selectValue's draw (see grow). Features known
// constant are most of those draws; here they take a few instructions
// each, with the ring's position in a register, not three calls.
func (s *stream) feature(b *bound, known []uint64) int {
	if !s.warm || b.n > 1<<31-1 || b.pow2 {
		for {
			f := s.below(b)
			if known[f/64]&(1<<(f%64)) == 0 {
				return f
			}
			s.float64()
		}
	}
	k, ring := s.k, &s.ring
	bm, bn, bmax := b.m, uint64(b.n), b.max
	var x uint64
	for {
		x, k = ringNext(ring, k)
		v := int32(int64(x&(1<<63-1)) >> 32)
		if v > bmax {
			continue // rejected: draw again
		}
		hi, _ := bits.Mul64(bm*uint64(v), bn)
		if known[hi/64]&(1<<(hi%64)) == 0 {
			s.k = k
			return int(hi)
		}
		// float64, its value unused.
		for {
			x, k = ringNext(ring, k)
			if float64(int64(x&(1<<63-1)))/(1<<63) != 1 {
				break
			}
		}
	}
}

// float64 is Rand.Float64.
func (s *stream) float64() float64 {
again:
	f := float64(s.int63()) / (1 << 63)
	if f == 1 {
		goto again
	}
	return f
}

// bound is intn's arithmetic for one n, done once: the fitter draws
// thousands of values below the same n (the rows, the features), and
// Int31n's two divisions are most of a draw's cost.
type bound struct {
	n    int
	pow2 bool   // n a power of two: a mask
	max  int32  // Int31n's rejection bound
	m    uint64 // 2⁶⁴ / n rounded up: v % n = hi64(lo64(m·v)·n) for 32-bit v
}

func newBound(n int) bound {
	b := bound{n: n}
	if n > 1<<31-1 {
		return b // intn's 63-bit path
	}
	b.pow2 = n&(n-1) == 0
	b.max = int32((1 << 31) - 1 - (1<<31)%uint32(n))
	b.m = ^uint64(0)/uint64(n) + 1
	return b
}

// below is intn(b.n), the same value: the remainder by multiplication
// (Lemire, Kaser and Kurz, "Faster remainder by direct computation",
// exact for every 32-bit dividend and divisor).
func (s *stream) below(b *bound) int {
	if b.n > 1<<31-1 {
		return s.intn(b.n)
	}
	if b.pow2 {
		return int(int32(s.int63()>>32) & int32(b.n-1))
	}
	v := int32(s.int63() >> 32)
	for v > b.max {
		v = int32(s.int63() >> 32)
	}
	hi, _ := bits.Mul64(b.m*uint64(v), uint64(b.n))
	return int(hi)
}

// sample fills dst with below(b) draws, in order: the same values as that
// many calls, with the ring's position in a register and the warm-up test
// made once (a tree's sample is 256 draws, most of a fit's draws). With of
// (len(of) == b.n), each draw r is written as of[r]: a fit's rows stand
// for their distinct rows, mapped as drawn rather than in a second pass.
func (s *stream) sample(dst []int32, b *bound, of []int32) {
	if !s.warm || b.n > 1<<31-1 || b.pow2 {
		for i := range dst {
			dst[i] = int32(s.below(b))
		}
		if of != nil {
			for i, r := range dst {
				dst[i] = of[r]
			}
		}
		return
	}
	k, ring := s.k, &s.ring
	for i := 0; i < len(dst); {
		// uint64, warm: output n is output n-607 plus output n-334, at
		// ring[k] and ring[j]. Drawn in runs over which neither position
		// wraps (at most 334 draws a run) and no more draws than dst has
		// room for, as slices the loop indexes without a wrap test or a
		// count of dst's room a draw.
		j := k + streamLen - streamTap
		if j >= streamLen {
			j -= streamLen
		}
		run := ring[k:min(streamLen, k+streamLen-j, k+len(dst)-i)]
		w := b.draws(dst[i:], run, ring[j:][:len(run)], of)
		i += w
		if k += len(run); k == streamLen {
			k = 0
		}
	}
	s.k = k
}

// draws is sample's loop over a run of the ring: run[t] += tap[t], each
// output drawn below b.n or rejected, written to out as of[r] (or r
// without of); it returns how many it wrote. len(out) >= len(run). Not
// inlined: in sample, its loop's registers were sample's, spilled and
// reloaded from the stack every draw.
//
//go:noinline
func (b *bound) draws(out []int32, run, tap []uint64, of []int32) int {
	bm, bn, bmax := b.m, uint64(b.n), b.max
	tap = tap[:len(run)]
	out = out[:len(run)]
	w := 0
	for t, x := range run {
		x += tap[t]
		run[t] = x
		v := int32(int64(x&(1<<63-1)) >> 32)
		if v > bmax {
			continue // rejected: draw again
		}
		hi, _ := bits.Mul64(bm*uint64(v), bn)
		r := int32(hi)
		if of != nil {
			r = of[hi]
		}
		out[w] = r
		w++
	}
	return w
}
