package models

import (
	"math"
	"math/big"
	"math/rand"
	"strconv"
	"testing"
)

// checkFloatF compares appendFloatF with strconv on f; a value it leaves
// to strconv must be one it is meant to leave.
func checkFloatF(t *testing.T, f float64) bool {
	t.Helper()
	got, ok := appendFloatF([]byte("x"), f)
	if !ok {
		u := math.Float64bits(f)
		exp, mant := int(u>>52)&0x7ff, u&(1<<52-1)
		if mant != 0 && exp != 0 && exp != 0x7ff && math.Abs(f) >= 1e-8 && math.Abs(f) < 1e24 {
			t.Errorf("appendFloatF(%b) declined a value in its range", f)
			return false
		}
		if string(got) != "x" {
			t.Errorf("appendFloatF(%b) declined but appended %q", f, got)
			return false
		}
		return true
	}
	want := strconv.AppendFloat([]byte("x"), f, 'f', -1, 64)
	if string(got) != string(want) {
		t.Errorf("appendFloatF(%b) = %q, strconv %q", f, got, want)
		return false
	}
	return true
}

// TestAppendFloatFMatchesStrconv compares the artifact's float text with
// strconv's on edge values, random bit patterns of every exponent the
// table covers, values drawn as the fitter draws its splits, and the
// splits of trees fitted on the fixtures.
func TestAppendFloatFMatchesStrconv(t *testing.T) {
	edge := []float64{1, -1, 0.1, 0.2, 0.3, 1e-6, 1e-7, 1e-8, 9.999999999999999e-7, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25,
		math.Nextafter(1e21, 0), math.Nextafter(1e-6, 1), 123456789012345678, 5e-324, math.MaxFloat64, math.SmallestNonzeroFloat64,
		0.000001, 1.000001, 2.5, 0.5, 3, 7, 1024, 1e15, 1e16, 1e17, 9007199254740993, 4503599627370497, 0.30000000000000004,
		math.Inf(1), math.Inf(-1), math.NaN(), 0, math.Copysign(0, -1)}
	for p := -30; p <= 80; p++ {
		v := math.Ldexp(1, p)
		edge = append(edge, v, math.Nextafter(v, 0), math.Nextafter(v, math.Inf(1)), v*3, v*5, v*7)
	}
	for p := -10; p <= 26; p++ {
		v := math.Pow(10, float64(p))
		edge = append(edge, v, math.Nextafter(v, 0), math.Nextafter(v, math.Inf(1)), v*3, v/3, v*1.5)
	}
	for _, f := range edge {
		checkFloatF(t, f)
		checkFloatF(t, -f)
	}
	rng := rand.New(rand.NewSource(1))
	n := 3_000_000
	if testing.Short() {
		n = 300_000
	}
	bad := 0
	for i := 0; i < n && bad < 10; i++ {
		// A random significand at a random exponent from 2^-30 to 2^83.
		e := uint64(1023-30+rng.Intn(114)) << 52
		f := math.Float64frombits(e | rng.Uint64()&(1<<52-1))
		if i%2 == 1 {
			f = -f
		}
		if !checkFloatF(t, f) {
			bad++
		}
		// A split as the fitter draws it: lo + u·(hi − lo), nudged.
		lo := float64(rng.Intn(1000)) * math.Pow(10, float64(rng.Intn(8)-3))
		hi := lo + float64(1+rng.Intn(100000))*math.Pow(10, float64(rng.Intn(8)-4))
		s := lo + rng.Float64()*(hi-lo)
		if s == lo {
			s += 0.000001
		}
		if !checkFloatF(t, s) {
			bad++
		}
		// Short decimals: the digits Dragonbox's trimming shortens.
		d := float64(rng.Intn(100000)) / math.Pow(10, float64(rng.Intn(12)))
		if d != 0 && !checkFloatF(t, d) {
			bad++
		}
	}
	// Every split of the trees fitted on the fixtures.
	splits := 0
	for _, c := range fitFixtures() {
		for _, tr := range fitIsolation(c.rows, 100, 8, 256, 7) {
			for i, f := range tr.Split {
				if tr.Feature[i] >= 0 && f != 0 {
					checkFloatF(t, f)
					splits++
				}
			}
		}
	}
	if splits < 1000 {
		t.Fatalf("only %d splits checked", splits)
	}
}

// TestFtoaPow10 computes ftoaPow10 again: ⌊10^k · 2^b⌋ in [2^127, 2^128).
func TestFtoaPow10(t *testing.T) {
	one := big.NewInt(1)
	lim := new(big.Rat).SetInt(new(big.Int).Lsh(one, 128))
	two := big.NewRat(2, 1)
	for i, got := range ftoaPow10 {
		k := int64(ftoaPowMin + i)
		var r *big.Rat
		if k >= 0 {
			r = new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(k), nil))
		} else {
			r = new(big.Rat).SetFrac(one, new(big.Int).Exp(big.NewInt(10), big.NewInt(-k), nil))
		}
		for r.Cmp(lim) < 0 {
			r.Mul(r, two)
		}
		for r.Cmp(lim) >= 0 {
			r.Quo(r, two)
		}
		d := new(big.Int).Div(r.Num(), r.Denom())
		hi, lo := new(big.Int).DivMod(d, new(big.Int).Lsh(one, 64), new(big.Int))
		if hi.Uint64() != got[0] || lo.Uint64() != got[1] {
			t.Errorf("10^%d: table %#x %#x, want %#x %#x", k, got[0], got[1], hi, lo)
		}
	}
}

// FuzzAppendFloatF compares appendFloatF with strconv on any bits.
func FuzzAppendFloatF(f *testing.F) {
	for _, v := range []float64{1, 0.1, 1234.5678, 1e-7, 1e20, 3.0000000000000004} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, u uint64) {
		checkFloatF(t, math.Float64frombits(u))
	})
}

// BenchmarkAppendFloat writes the split values of trees fitted on the
// Zeek fixture as the artifact does (appendFloat) and as strconv does.
func BenchmarkAppendFloat(b *testing.B) {
	var splits []float64
	for _, tr := range fitIsolation(zeekCohortRows(), 100, 8, 256, 1) {
		for i, f := range tr.Split {
			if tr.Feature[i] >= 0 {
				splits = append(splits, f)
			}
		}
	}
	buf := make([]byte, 0, 32*len(splits))
	b.Run("artifact", func(b *testing.B) {
		for b.Loop() {
			buf = buf[:0]
			for _, f := range splits {
				buf, _ = appendFloat(buf, f)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(splits)), "ns/value")
	})
	b.Run("strconv", func(b *testing.B) {
		for b.Loop() {
			buf = buf[:0]
			for _, f := range splits {
				buf = strconv.AppendFloat(buf, f, 'f', -1, 64)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(splits)), "ns/value")
	})
}

// TestFtoaPut8 checks ftoaPut8's lanes against strconv: every value of
// each half of four digits (its quotients by multiplication hold only
// below 10^4 and 100) with the other half's, and random values.
func TestFtoaPut8(t *testing.T) {
	check := func(x uint32) {
		var d [64]byte
		ftoaPut8(&d, 3, x)
		want := strconv.Itoa(int(x) + 1e8)[1:]
		if got := string(d[3:11]); got != want || d[2] != 0 || d[11] != 0 {
			t.Fatalf("ftoaPut8(%d) = %q, want %q", x, d[2:12], want)
		}
	}
	for h := uint32(0); h < 1e4; h++ {
		check(h*1e4 + h)
		check(h*1e4 + 9999 - h)
		check(h)
		check(h * 1e4)
	}
	rng := rand.New(rand.NewSource(2))
	for range 100_000 {
		check(uint32(rng.Int63n(1e8)))
	}
}
