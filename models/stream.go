package models

import "math/rand"

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
	src := rand.NewSource(seed).(rand.Source64)
	s := new(stream)
	for i := range s.ring {
		s.ring[i] = src.Uint64()
	}
	return s
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

// float64 is Rand.Float64.
func (s *stream) float64() float64 {
again:
	f := float64(s.int63()) / (1 << 63)
	if f == 1 {
		goto again
	}
	return f
}
