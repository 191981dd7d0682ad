package models

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
)

// appendFloatF appends f (finite, not 0) as strconv.AppendFloat(b, f,
// 'f', -1, 64) does, the shortest text that reads back as f: the same
// bytes (TestAppendFloatFMatchesStrconv, FuzzAppendFloatF). It reports
// false, appending nothing, for what its table does not cover (outside
// about [1e-8, 1e25)) and for a significand that is a power of two, which
// the caller formats with strconv.
//
// It is strconv's own algorithm for the digits, Dragonbox (Junekey Jeon,
// "Dragonbox: A New Floating-Point Binary-to-Decimal Conversion
// Algorithm"), as Go's internal/strconv writes it (ftoadbox.go,
// Copyright 2025 The Go Authors, BSD-style license), with the digits
// written straight into place: strconv's digits go to a buffer, then
// byte by byte through its general 'f' layout, which was about half of
// the time an artifact's split values took to write.
func appendFloatF(b []byte, f float64) ([]byte, bool) {
	u := math.Float64bits(f)
	exp := int(u>>52) & 0x7ff
	mant := u & (1<<52 - 1)
	if exp == 0 || exp == 0x7ff || mant == 0 {
		// Subnormal, infinite or NaN, or a power of two (Dragonbox's
		// special case; a zero too): not here.
		return b, false
	}
	mant |= 1 << 52
	exp -= 1023 + 52 // f = mant · 2^exp

	// Dragonbox, κ = 2 (internal/strconv dboxFtoa64, Algorithm 5.2).
	const (
		p10κ  = 100
		p10κ1 = p10κ * 10
	)
	k0 := -((exp * 78913) >> 18) // -⌊exp·log10(2)⌋
	k := 2 + k0
	if k < ftoaPowMin || k >= ftoaPowMin+len(ftoaPow10) {
		return b, false
	}
	φ := ftoaPow10[k-ftoaPowMin]
	if k < 0 || k > 55 {
		φ[1]++
	}
	β := exp + 1 + ((k * 108853) >> 15) - 1 // exp + pow10's binary exponent − 1
	zi, exact := ftoaMulPow(uint64(mant*2+1)<<β, φ)
	s, r := zi/p10κ1, uint32(zi%p10κ1)
	δi := uint32(φ[0] >> (64 - 1 - β))

	var e10 int // the value is s · 10^e10
	switch {
	case r < δi && (r != 0 || !exact || mant%2 == 0):
		var z int
		s, z = ftoaTrimZeros(s)
		e10 = -k0 + 1 + z
	case r == δi && ftoaParityOK(mant*2-1, φ, β, mant):
		var z int
		s, z = ftoaTrimZeros(s)
		e10 = -k0 + 1 + z
	default:
		if r < δi { // r == 0, exact, mant odd
			s--
			r = p10κ * 10
		}
		// Algorithm 5.4.
		D := r + p10κ/2 - δi/2
		t, ρ := D/p10κ, D%p10κ
		yru := 10*s + uint64(t)
		if ρ == 0 {
			parity, exact := ftoaParity(mant*2, φ, β)
			if parity != ((D-p10κ/2)%2 != 0) || exact && yru%2 != 0 {
				yru--
			}
		}
		s, e10 = yru, -k0
	}

	// s's digits (at most 17), right-aligned in d[i:], in 32-bit
	// arithmetic: the last eight first when there are more. d has room
	// before them for a sign, "0." and the zeros after the point (at most
	// seven in the table's range, from 1e-8), so that the text is laid
	// out in d and appended at once, not in pieces of unknown lengths (a
	// memmove call each): the 32 bytes from d[i] are copied, and the
	// text's length kept. The text ends at d[end].
	const end = 32
	var d [2 * end]byte
	i := end
	hi := uint32(s)
	if s >= 1e8 {
		// Eight digits at once (ftoaPut8).
		ftoaPut8(&d, 24, uint32(s%1e8))
		hi = uint32(s / 1e8) // < 10^9
		i = 24
	}
	if i == 24 && hi >= 1e6 {
		// Seven to nine more (most split values have 16 or 17 digits):
		// eight at fixed places too, and the ninth, the leading zeros
		// then skipped without a branch.
		ftoaPut8(&d, 16, hi%1e8)
		d[15] = '0' + byte(hi/1e8)
		i = 15 + b2i(hi < 1e8) + b2i(hi < 1e7)
	} else {
		for hi >= 100 {
			dd := hi % 100 * 2
			hi /= 100
			i -= 2
			d[i], d[i+1] = ftoaSmalls[dd], ftoaSmalls[dd+1]
		}
		dd := hi * 2
		i--
		d[i] = ftoaSmalls[dd+1]
		if hi >= 10 {
			i--
			d[i] = ftoaSmalls[dd]
		}
	}
	nd := end - i
	dp := nd + e10 // digits before the point

	switch {
	case e10 >= 0: // a whole number
		if f < 0 {
			b = append(b, '-')
		}
		b = append(b, d[i:end]...)
		for range e10 {
			b = append(b, '0')
		}
		return b, true
	case dp > 0 && dp < 8:
		// The digits before the point move one place to the front, the
		// point into the place of the last: the eight bytes from d[i-1]
		// at once, a blend of their words from d[i] (below the point)
		// and d[i-1] (after it), rather than a byte at a time.
		// (i is in [15, 32]: the mask, which changes nothing, spares the
		// bounds checks.)
		i = (i - 1) & 31
		sh := uint(8*dp) & 63
		below := uint64(1)<<sh - 1
		w := binary.LittleEndian.Uint64(d[i+1:]) & below
		w |= '.' << sh
		w |= binary.LittleEndian.Uint64(d[i:]) &^ (below<<8 | 0xff)
		binary.LittleEndian.PutUint64(d[i:], w)
	case dp > 0:
		for k := i; k < i+dp; k++ {
			d[k-1] = d[k]
		}
		i--
		d[i+dp] = '.'
	default:
		if -dp > 7 { // not reached (see d): strconv's then
			return b, false
		}
		for range -dp {
			i--
			d[i] = '0'
		}
		i -= 2
		d[i], d[i+1] = '0', '.'
	}
	if f < 0 {
		i--
		d[i] = '-'
	}
	n := len(b)
	if cap(b)-n < end {
		b = slices.Grow(b, end)
	}
	*(*[end]byte)(b[n : n+end]) = *(*[end]byte)(d[i : i+end])
	return b[:n+end-i], true
}

// ftoaPut8 writes x (< 10^8) as eight digits, leading zeros included,
// into d[at:at+8], in one 64-bit word: its halves of four digits, then
// their pairs, then their digits split in every lane at once (SWAR),
// quotients by multiplication (x·10486>>20 is x/100 below 10^4,
// x·103>>10 is x/10 below 100; TestFtoaPut8). This is a third of the
// instructions of the four pairs looked up one by one.
func ftoaPut8(d *[64]byte, at int, x uint32) {
	v := uint64(x/10000) | uint64(x%10000)<<32 // the first four digits in the low lane
	q := v * 10486 >> 20 & 0x0000007f_0000007f
	v = q | (v-q*100)<<16
	q = v * 103 >> 10 & 0x000f000f_000f000f
	v = q | (v-q*10)<<8
	binary.LittleEndian.PutUint64(d[at:], v|0x30303030_30303030)
}

// ftoaParityOK is the test of Algorithm 5.2 when r = δ: the digits s are
// kept when z's parity is odd, or it is exact and mant is even.
func ftoaParityOK(mant2 uint64, φ [2]uint64, β int, mant uint64) bool {
	parity, exact := ftoaParity(mant2, φ, β)
	return parity || (exact && mant%2 == 0)
}

// ftoaMulPow is internal/strconv's dboxMulPow64: the upper 128 bits of
// the 192-bit x·φ, as their upper word and whether the lower is 0.
func ftoaMulPow(x uint64, φ [2]uint64) (uint64, bool) {
	hi, lo := bits.Mul64(x, φ[0])
	t, _ := bits.Mul64(x, φ[1])
	lo, c := bits.Add64(lo, t, 0)
	return hi + c, lo == 0
}

// ftoaParity is internal/strconv's dboxParity64.
func ftoaParity(mant2 uint64, φ [2]uint64, β int) (parity, isInt bool) {
	high := mant2 * φ[0]
	hl, ll := bits.Mul64(mant2, φ[1])
	rHi, rLo := high+hl, ll
	parity = (rHi>>(64-β))&1 != 0
	isInt = (rHi<<β)|(rLo>>(64-β)) == 0
	return parity, isInt
}

// ftoaTrimZeros is internal/strconv's trimZeros: x without its trailing
// decimal zeros, and how many there were.
func ftoaTrimZeros(x uint64) (uint64, int) {
	const (
		div1e8m  = 0xc767074b22e90e21
		div1e8le = math.MaxUint64 / 100000000
		div1e4m  = 0xd288ce703afb7e91
		div1e4le = math.MaxUint64 / 10000
		div1e2m  = 0x8f5c28f5c28f5c29
		div1e2le = math.MaxUint64 / 100
		div1e1m  = 0xcccccccccccccccd
		div1e1le = math.MaxUint64 / 10
	)
	p := 0
	for d := bits.RotateLeft64(x*div1e8m, -8); d <= div1e8le; d = bits.RotateLeft64(x*div1e8m, -8) {
		x = d
		p += 8
	}
	if d := bits.RotateLeft64(x*div1e4m, -4); d <= div1e4le {
		x = d
		p += 4
	}
	if d := bits.RotateLeft64(x*div1e2m, -2); d <= div1e2le {
		x = d
		p += 2
	}
	if d := bits.RotateLeft64(x*div1e1m, -1); d <= div1e1le {
		x = d
		p++
	}
	return x, p
}

// ftoaSmalls is 00..99 written out.
const ftoaSmalls = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// ftoaPowMin is the power of ten of ftoaPow10[0].
const ftoaPowMin = -8

// ftoaPow10[k-ftoaPowMin] is internal/strconv's pow10Tab entry for 10^k,
// the high and low words of ⌊10^k · 2^b⌋ in [2^127, 2^128)
// (TestFtoaPow10 computes them again).
var ftoaPow10 = [...][2]uint64{
	{0xabcc77118461cefc, 0xfdc20d2b36ba7c3d}, // 1e-8 * 2**154
	{0xd6bf94d5e57a42bc, 0x3d32907604691b4c}, // 1e-7 * 2**151
	{0x8637bd05af6c69b5, 0xa63f9a49c2c1b10f}, // 1e-6 * 2**147
	{0xa7c5ac471b478423, 0x0fcf80dc33721d53}, // 1e-5 * 2**144
	{0xd1b71758e219652b, 0xd3c36113404ea4a8}, // 1e-4 * 2**141
	{0x83126e978d4fdf3b, 0x645a1cac083126e9}, // 1e-3 * 2**137
	{0xa3d70a3d70a3d70a, 0x3d70a3d70a3d70a3}, // 1e-2 * 2**134
	{0xcccccccccccccccc, 0xcccccccccccccccc}, // 1e-1 * 2**131
	{0x8000000000000000, 0x0000000000000000}, // 1e0 * 2**127
	{0xa000000000000000, 0x0000000000000000}, // 1e1 * 2**124
	{0xc800000000000000, 0x0000000000000000}, // 1e2 * 2**121
	{0xfa00000000000000, 0x0000000000000000}, // 1e3 * 2**118
	{0x9c40000000000000, 0x0000000000000000}, // 1e4 * 2**114
	{0xc350000000000000, 0x0000000000000000}, // 1e5 * 2**111
	{0xf424000000000000, 0x0000000000000000}, // 1e6 * 2**108
	{0x9896800000000000, 0x0000000000000000}, // 1e7 * 2**104
	{0xbebc200000000000, 0x0000000000000000}, // 1e8 * 2**101
	{0xee6b280000000000, 0x0000000000000000}, // 1e9 * 2**98
	{0x9502f90000000000, 0x0000000000000000}, // 1e10 * 2**94
	{0xba43b74000000000, 0x0000000000000000}, // 1e11 * 2**91
	{0xe8d4a51000000000, 0x0000000000000000}, // 1e12 * 2**88
	{0x9184e72a00000000, 0x0000000000000000}, // 1e13 * 2**84
	{0xb5e620f480000000, 0x0000000000000000}, // 1e14 * 2**81
	{0xe35fa931a0000000, 0x0000000000000000}, // 1e15 * 2**78
	{0x8e1bc9bf04000000, 0x0000000000000000}, // 1e16 * 2**74
	{0xb1a2bc2ec5000000, 0x0000000000000000}, // 1e17 * 2**71
	{0xde0b6b3a76400000, 0x0000000000000000}, // 1e18 * 2**68
	{0x8ac7230489e80000, 0x0000000000000000}, // 1e19 * 2**64
	{0xad78ebc5ac620000, 0x0000000000000000}, // 1e20 * 2**61
	{0xd8d726b7177a8000, 0x0000000000000000}, // 1e21 * 2**58
	{0x878678326eac9000, 0x0000000000000000}, // 1e22 * 2**54
	{0xa968163f0a57b400, 0x0000000000000000}, // 1e23 * 2**51
	{0xd3c21bcecceda100, 0x0000000000000000}, // 1e24 * 2**48
	{0x84595161401484a0, 0x0000000000000000}, // 1e25 * 2**44
	{0xa56fa5b99019a5c8, 0x0000000000000000}, // 1e26 * 2**41
	{0xcecb8f27f4200f3a, 0x0000000000000000}, // 1e27 * 2**38
	{0x813f3978f8940984, 0x4000000000000000}, // 1e28 * 2**34
	{0xa18f07d736b90be5, 0x5000000000000000}, // 1e29 * 2**31
	{0xc9f2c9cd04674ede, 0xa400000000000000}, // 1e30 * 2**28
}
