package models

import (
	"math"
	"slices"
)

// sortFloats sorts a ascending, the same bits as slices.Sort(a) gives:
// already sorted, it is left alone; otherwise a radix sort of the values'
// bits in order-preserving form (scratch is reused and returned). Equal
// float64 values are the same bits except -0 and +0 (and NaN, which
// slices.Sort places first): with either present a goes to slices.Sort,
// since its order among equal values is its own. Values that are all
// whole numbers in [0, 2⁵³) (counts, byte totals: most feature columns)
// are sorted as integers, whose few low bytes are all that differ: fewer
// passes than over their float bits, and each integer converts back to
// the value it came from, bit for bit.
func sortFloats(a []float64, scratch []uint64) []uint64 {
	sorted, special, whole := true, false, true
	prev := math.Inf(-1)
	for _, v := range a {
		special = special || math.Float64bits(v) == 1<<63 || v != v
		sorted = sorted && v >= prev
		whole = whole && isWhole(v)
		prev = v
	}
	if special {
		slices.Sort(a)
		return scratch
	}
	if sorted || len(a) < 2 {
		return scratch
	}
	if len(a) < 64 {
		slices.Sort(a)
		return scratch
	}
	n := len(a)
	if cap(scratch) < 2*n {
		scratch = make([]uint64, 2*n)
	}
	keys, tmp := scratch[:n], scratch[n:2*n]
	differ := sortKeys(a, keys, whole)
	var count [256]int32
	var counts [4][256]int32 // four histograms: equal bytes in a row do not wait on one counter
	for b := range 8 {
		shift := 8 * uint(b)
		if byte(differ>>shift) == 0 {
			continue
		}
		counts = [4][256]int32{}
		i := 0
		for ; i+4 <= n; i += 4 {
			counts[0][byte(keys[i]>>shift)]++
			counts[1][byte(keys[i+1]>>shift)]++
			counts[2][byte(keys[i+2]>>shift)]++
			counts[3][byte(keys[i+3]>>shift)]++
		}
		for ; i < n; i++ {
			counts[0][byte(keys[i]>>shift)]++
		}
		for d := range count {
			count[d] = counts[0][d] + counts[1][d] + counts[2][d] + counts[3][d]
		}
		sum := int32(0)
		for d := range count {
			sum, count[d] = sum+count[d], sum
		}
		for _, k := range keys {
			d := byte(k >> shift)
			tmp[count[d]] = k
			count[d]++
		}
		keys, tmp = tmp, keys
	}
	if whole {
		for i, k := range keys {
			a[i] = float64(k)
		}
		return scratch
	}
	for i, k := range keys {
		a[i] = keyFloat(k)
	}
	return scratch
}

// floatKey is the sort key of a float's bits (sortKey, of a value not
// taken as whole), without a branch: keys in unsigned order are the
// floats in order (a negative's bits all flipped, another's sign set).
func floatKey(bits uint64) uint64 { return bits ^ (uint64(int64(bits)>>63) | 1<<63) }

// keyFloat returns the float whose floatKey is k, bit for bit.
func keyFloat(k uint64) float64 {
	if k>>63 != 0 {
		k &^= 1 << 63
	} else {
		k = ^k
	}
	return math.Float64frombits(k)
}

// wholeSortKeys is the test whether every value of col isWhole and
// sortKeys, without a branch a value: a first pass writes each value's
// key as a whole value into a, testing them all; only when one is not
// whole, a second writes the float keys into b. It returns whole, and the
// bits where the keys sortKeys(col, ·, whole) writes differ: those in a
// when whole, else those in b. (One pass writing both keys kept too many
// values live: the compiler spilled them, twice the instructions a
// value of the two light passes, and most columns are whole.)
func wholeSortKeys(col []float64, a, b []uint64) (whole bool, differ uint64) {
	a = a[:len(col)]
	and, or := ^uint64(0), uint64(0)
	// not is nonzero once a value is not whole (isWhole): its integer
	// is 2⁵³ or more as a uint64, or converts back to other bits than
	// its own but for the sign (-0 converts to +0, and is whole).
	var not uint64
	for i, v := range col {
		k := uint64(int64(v))
		a[i] = k
		not |= k>>53 | (math.Float64bits(float64(int64(k)))^math.Float64bits(v))<<1
		and, or = and&k, or|k
	}
	if not == 0 {
		return true, and ^ or
	}
	b = b[:len(col)]
	and, or = ^uint64(0), uint64(0)
	for i, v := range col {
		f := floatKey(math.Float64bits(v))
		b[i] = f
		and, or = and&f, or|f
	}
	return false, and ^ or
}

// isWhole reports whether v is a whole number in [0, 2⁵³): such values
// sort as integers (sortKey). It converts through int64, one instruction
// each way, where uint64's conversions take a dozen and branches: a value
// outside int64's range converts to an unspecified integer, but none
// below 2⁵³ converts back to it, and a negative one's is at least 2⁵³ as
// a uint64 (-0 converts to 0 and is whole, as v >= 0 says).
func isWhole(v float64) bool { k := int64(v); return uint64(k) < 1<<53 && float64(k) == v }

// sortKeys writes into keys the sort key of each value of col (sortKey;
// whole: every value isWhole) and returns the bits where the keys
// differ: a radix pass over any other byte would move nothing.
func sortKeys(col []float64, keys []uint64, whole bool) (differ uint64) {
	and, or := ^uint64(0), uint64(0)
	for i, v := range col {
		var k uint64
		switch bits := math.Float64bits(v); {
		case whole:
			k = uint64(int64(v)) // v in [0, 2⁵³): isWhole's conversion
		case bits>>63 != 0:
			k = ^bits // negative: all bits flipped
		default:
			k = bits | 1<<63
		}
		keys[i] = k
		and &= k
		or |= k
	}
	return and ^ or
}
