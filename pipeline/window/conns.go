package window

import (
	"bytes"
	"math"
	"strings"
)

// connTable holds the open connections of one device, waiting for their
// conn.closed. Most devices have one open at a time, so the first is held
// in the table itself, within the device's state, which AddBatch asks the
// memory system for ahead (see devState): the join and remember of such a
// device read no other memory. The others are in a slice searched
// linearly, past smallConns a map. Connection ids up to shortID bytes
// (Zeek's uids, the edge's ids) are copied into the entries, so that a
// lookup compares them there instead of loading the string of the
// conn.opened payload, long out of cache.
type connTable struct {
	n     int      // connections held
	first openConn // one of them when n > 0 (an empty id: none)
	small []openConn
	m     map[string]openConn
	// floor is at most the open time of every connection held (exact after
	// dropOlder, lowered by put): dropOlder skips the scan when nothing
	// can be older than its cut, which is nearly always.
	floor int64
}

const (
	smallConns = 8
	shortID    = 24
)

// openConn is an open connection. The fields a join reads come first: a
// devState's table holds one within the lines AddBatch prefetches.
type openConn struct {
	short  [shortID]byte // the id, when at most shortID bytes
	idLen  int           // 0: no connection (remember skips empty ids)
	opened int64
	dest   dest
	long   string // the id, when longer than shortID bytes
}

func newOpenConn(id string, opened int64, dst *dest) openConn {
	oc := openConn{idLen: len(id), opened: opened, dest: *dst}
	if len(id) <= shortID {
		copy(oc.short[:], id)
	} else {
		oc.long = id
	}
	return oc
}

// is reports whether oc is connection id (not empty).
func (oc *openConn) is(id string) bool {
	if oc.idLen != len(id) {
		return false
	}
	if len(id) <= shortID {
		return string(oc.short[:len(id)]) == id
	}
	return oc.long == id
}

// id returns the connection id (a copy when short).
func (oc *openConn) id() string {
	if oc.idLen <= shortID {
		return string(oc.short[:oc.idLen])
	}
	return oc.long
}

// cmpID compares the ids of x and y (without copies when both are short).
func cmpID(x, y *openConn) int {
	if x.idLen <= shortID && y.idLen <= shortID {
		return bytes.Compare(x.short[:x.idLen], y.short[:y.idLen])
	}
	return strings.Compare(x.id(), y.id())
}

func (c *connTable) len() int { return c.n }

// find returns the entry of connection id outside the map, or nil.
func (c *connTable) find(id string) *openConn {
	if c.n == 0 || id == "" {
		return nil
	}
	if c.first.is(id) {
		return &c.first
	}
	for i := range c.small {
		if c.small[i].is(id) {
			return &c.small[i]
		}
	}
	return nil
}

// get returns the destination of connection id.
func (c *connTable) get(id string) (dest, bool) {
	if oc := c.find(id); oc != nil {
		return oc.dest, true
	}
	if c.m != nil && id != "" {
		oc, ok := c.m[id]
		return oc.dest, ok
	}
	return dest{}, false
}

// take removes connection id and returns its destination.
func (c *connTable) take(id string) (dest, bool) {
	if c.n == 0 || id == "" {
		return dest{}, false
	}
	if c.first.is(id) {
		d := c.first.dest
		c.first = openConn{}
		c.n--
		return d, true
	}
	if c.m != nil {
		oc, ok := c.m[id]
		if ok {
			delete(c.m, id)
			c.n--
		}
		return oc.dest, ok
	}
	for i := range c.small {
		if c.small[i].is(id) {
			d := c.small[i].dest
			last := len(c.small) - 1
			c.small[i] = c.small[last]
			c.small[last] = openConn{}
			c.small = c.small[:last]
			c.n--
			return d, true
		}
	}
	return dest{}, false
}

// put adds or replaces connection id (not empty), opened at opened, and
// reports whether it was new.
func (c *connTable) put(id string, opened int64, dst *dest) bool {
	if c.n == 0 || opened < c.floor {
		c.floor = opened
	}
	if oc := c.find(id); oc != nil {
		oc.opened, oc.dest = opened, *dst
		return false
	}
	if c.m != nil {
		// New when the map grew: one hash and probe of id, where a
		// lookup for the answer before the store took two.
		had := len(c.m)
		c.m[id] = newOpenConn(id, opened, dst)
		if len(c.m) == had {
			return false
		}
		c.n++
		return true
	}
	c.n++
	if c.first.idLen == 0 {
		c.first = newOpenConn(id, opened, dst)
		return true
	}
	if len(c.small) < smallConns {
		c.small = append(c.small, newOpenConn(id, opened, dst))
		return true
	}
	c.m = make(map[string]openConn, 2*smallConns)
	for i := range c.small {
		c.m[c.small[i].id()] = c.small[i]
	}
	c.small = nil
	c.m[id] = newOpenConn(id, opened, dst)
	return true
}

// removeIf drops the connections for which drop is true and returns how
// many it dropped.
func (c *connTable) removeIf(drop func(*openConn) bool) int {
	n := 0
	if c.first.idLen > 0 && drop(&c.first) {
		c.first = openConn{}
		n++
	}
	if c.m != nil {
		for id, oc := range c.m {
			if drop(&oc) {
				delete(c.m, id)
				n++
			}
		}
	} else {
		kept := c.small[:0]
		for _, oc := range c.small {
			if drop(&oc) {
				n++
			} else {
				kept = append(kept, oc)
			}
		}
		clear(c.small[len(kept):])
		c.small = kept
	}
	c.n -= n
	return n
}

// dropOlder drops the connections opened before cut and returns how many
// it dropped.
func (c *connTable) dropOlder(cut int64) int {
	if c.n == 0 || c.floor >= cut {
		return 0
	}
	floor := int64(math.MaxInt64)
	n := c.removeIf(func(oc *openConn) bool {
		if oc.opened < cut {
			return true
		}
		floor = min(floor, oc.opened)
		return false
	})
	c.floor = floor
	return n
}

// all returns every open connection (in no particular order).
func (c *connTable) all() []openConn {
	out := make([]openConn, 0, c.n)
	if c.first.idLen > 0 {
		out = append(out, c.first)
	}
	out = append(out, c.small...)
	for _, oc := range c.m {
		out = append(out, oc)
	}
	return out
}
