package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"unsafe"
)

// marshalContent is json.Marshal(c) with the trees written by appendTrees:
// the same bytes (TestMarshalContentMatchesJSON), without reflection over
// the bulk of an artifact, its hundreds of node arrays. Trees is the last
// member, so the header is encoded with no trees (`"trees":null}`) and the
// node arrays replace that null. From format version 2 (idLast), the "id"
// member is moved from the header (where the Artifact's field order puts
// it, after "version") to the end, after "trees". The content is written
// into *buf, which keeps it (its callers hash it, or write it, and recycle
// buf); with buf nil, into a buffer of its own.
func marshalContent(c *Artifact, buf *[]byte) ([]byte, error) {
	trees := c.Trees
	h := *c
	h.Trees = nil
	head, err := json.Marshal(&h)
	if err != nil {
		return nil, err
	}
	const tail = `null}`
	last := idLast(c.Version)
	if trees == nil && !last {
		return head, nil
	}
	if !bytes.HasSuffix(head, []byte(tail)) {
		return nil, errors.New("models: encoding artifact: trees are not its last member")
	}
	// The header's "id" member: `,"id":` is not within the string before
	// it, "format" (whose quotes are escaped), and "kind" follows it.
	cut, kind := 0, 0
	if last {
		cut = bytes.Index(head, []byte(`,"id":`))
		kind = bytes.Index(head, []byte(`,"kind":`))
		if cut < 0 || kind < cut {
			return nil, errors.New(`models: encoding artifact: no "id" member before "kind"`)
		}
	}
	if buf == nil {
		buf = new([]byte)
	}
	out := append((*buf)[:0], head[:cut]...)
	out = append(out, head[kind:len(head)-len(tail)]...)
	if trees == nil {
		out = append(out, "null"...)
	} else if out, err = appendTrees(out, trees); err != nil {
		return nil, err
	}
	if last {
		out = append(out, head[cut:kind]...) // `,"id":"…"`
	}
	out = append(out, '}')
	*buf = out
	return out, nil
}

// contentBufs recycles the buffers seal and Save encode content into.
var contentBufs = sync.Pool{New: func() any { return new([]byte) }}

// appendTrees appends trees as encoding/json encodes []Tree.
func appendTrees(b []byte, trees []Tree) ([]byte, error) {
	b = append(b, '[')
	for i := range trees {
		if i > 0 {
			b = append(b, ',')
		}
		t := &trees[i]
		b = appendInts(append(b, `{"feature":`...), t.Feature)
		var err error
		if b, err = appendFloats(append(b, `,"split":`...), t.Split); err != nil {
			return nil, err
		}
		b = appendInts(append(b, `,"left":`...), t.Left)
		b = appendInts(append(b, `,"right":`...), t.Right)
		b = appendInts(append(b, `,"size":`...), t.Size)
		if len(t.Positive) > 0 { // omitempty
			b = appendInts(append(b, `,"positive":`...), t.Positive)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func appendInts(b []byte, v []int) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	if len(v) == 0 {
		return append(b, '[', ']')
	}
	// Every value is written after a comma, the first one's then turned
	// into the bracket. Node indices, features and sizes are small: their
	// text from intText, four bytes written and the excess cut, without a
	// branch on the number of digits (which mispredicts, counts of one,
	// two and three digits alternating along a tree); strconv for the
	// rest. The room for four bytes a value is made once, and each
	// written through a pointer into it: append's check of the capacity,
	// and the slice header it keeps, made half of a value's instructions
	// (and bounds-checked writes as many: the compiler does not know that
	// the text stays within the room).
	start := len(b)
	b = slices.Grow(b, 4*len(v)+1)
	p := unsafe.Pointer(unsafe.SliceData(b))
	n, i := start, 0
	for ; i < len(v); i++ {
		x := v[i]
		if uint(x+1) >= uint(len(intText)) {
			break
		}
		// n ≤ start+4·i, so the four bytes are within the room.
		e := intText[x+1]
		*(*[4]byte)(unsafe.Add(p, n)) = [4]byte{byte(e), byte(e >> 8), byte(e >> 16), byte(e >> 24)}
		n += int(e >> 32)
	}
	b = b[:n]
	for _, x := range v[i:] {
		if uint(x+1) < uint(len(intText)) {
			e := intText[x+1]
			b = append(b, byte(e), byte(e>>8), byte(e>>16), byte(e>>24))
			b = b[:len(b)-4+int(e>>32)]
		} else {
			b = strconv.AppendInt(append(b, ','), int64(x), 10)
		}
	}
	b[start] = '['
	return append(b, ']')
}

// intText[x+1], for x in [-1, 999], holds "," and x's digits in its low
// bytes, and their count from bit 32.
var intText = func() (t [1001]uint64) {
	for i := range t {
		s := "," + strconv.Itoa(i-1)
		var e uint64
		for k := len(s) - 1; k >= 0; k-- {
			e = e<<8 | uint64(s[k])
		}
		t[i] = e | uint64(len(s))<<32
	}
	return t
}()

func appendFloats(b []byte, v []float64) ([]byte, error) {
	if v == nil {
		return append(b, "null"...), nil
	}
	if len(v) == 0 {
		return append(b, '[', ']'), nil
	}
	// Every value is written after a comma, the first one's then turned
	// into the bracket (as appendInts); a +0, a leaf's split (half of a
	// tree's), as two bytes without a call; one appendFloat writes in
	// 'f' form, by appendFloatF (a split of the fitter's but rarely
	// another), without appendFloat's call and tests of it.
	start := len(b)
	for _, f := range v {
		if math.Float64bits(f) == 0 {
			b = append(b, ',', '0')
			continue
		}
		if a := math.Abs(f); a >= 1e-6 && a < 1e21 { // not NaN or ±Inf
			var ok bool
			if b, ok = appendFloatF(append(b, ','), f); ok {
				continue
			}
			b = b[:len(b)-1]
		}
		var err error
		if b, err = appendFloat(append(b, ','), f); err != nil {
			return nil, err
		}
	}
	b[start] = '['
	return append(b, ']'), nil
}

// appendFloat appends f as encoding/json writes a float64: the shortest
// representation, in exponent form only below 1e-6 or from 1e21 on, with
// a two-digit negative exponent shortened ("1e-07" → "1e-7").
func appendFloat(b []byte, f float64) ([]byte, error) {
	if f == 0 && !math.Signbit(f) { // a leaf's split: half of a tree's
		return append(b, '0'), nil
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	} else if out, ok := appendFloatF(b, f); ok {
		return out, nil
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}
