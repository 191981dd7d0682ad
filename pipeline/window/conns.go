package window

import "math"

// connTable holds the open connections of one device, waiting for their
// conn.closed. Most devices have a handful open, so it is a slice searched
// linearly; past smallConns it switches to a map.
type connTable struct {
	small []openConn
	m     map[string]openConn
	// floor is at most the open time of every connection held (exact after
	// dropOlder, lowered by put): dropOlder skips the scan when nothing
	// can be older than its cut, which is nearly always.
	floor int64
}

const smallConns = 8

type openConn struct {
	id     string
	opened int64
	dest   dest
}

func (c *connTable) len() int {
	if c.m != nil {
		return len(c.m)
	}
	return len(c.small)
}

// get returns the connection id.
func (c *connTable) get(id string) (openConn, bool) {
	if c.m != nil {
		oc, ok := c.m[id]
		return oc, ok
	}
	for i := range c.small {
		if c.small[i].id == id {
			return c.small[i], true
		}
	}
	return openConn{}, false
}

// take removes and returns the connection id.
func (c *connTable) take(id string) (openConn, bool) {
	if c.m != nil {
		oc, ok := c.m[id]
		if ok {
			delete(c.m, id)
		}
		return oc, ok
	}
	for i := range c.small {
		if c.small[i].id == id {
			oc := c.small[i]
			last := len(c.small) - 1
			c.small[i] = c.small[last]
			c.small[last] = openConn{}
			c.small = c.small[:last]
			return oc, true
		}
	}
	return openConn{}, false
}

// put adds or replaces a connection and reports whether it was new.
func (c *connTable) put(oc openConn) bool {
	if c.len() == 0 || oc.opened < c.floor {
		c.floor = oc.opened
	}
	if c.m != nil {
		_, dup := c.m[oc.id]
		c.m[oc.id] = oc
		return !dup
	}
	for i := range c.small {
		if c.small[i].id == oc.id {
			c.small[i] = oc
			return false
		}
	}
	if len(c.small) < smallConns {
		c.small = append(c.small, oc)
		return true
	}
	c.m = make(map[string]openConn, 2*smallConns)
	for _, s := range c.small {
		c.m[s.id] = s
	}
	c.small = nil
	c.m[oc.id] = oc
	return true
}

// removeIf drops the connections for which drop is true and returns how
// many it dropped.
func (c *connTable) removeIf(drop func(*openConn) bool) int {
	n := 0
	if c.m != nil {
		for id, oc := range c.m {
			if drop(&oc) {
				delete(c.m, id)
				n++
			}
		}
		return n
	}
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
	return n
}

// dropOlder drops the connections opened before cut and returns how many
// it dropped.
func (c *connTable) dropOlder(cut int64) int {
	if c.len() == 0 || c.floor >= cut {
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
	if c.m == nil {
		return append([]openConn(nil), c.small...)
	}
	out := make([]openConn, 0, len(c.m))
	for _, oc := range c.m {
		out = append(out, oc)
	}
	return out
}
