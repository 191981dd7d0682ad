package window

import (
	"bytes"
	"hash/maphash"
	"math"
	"strings"
)

// connTable holds the open connections of one device, waiting for their
// conn.closed. Most devices have one open at a time, so the first is held
// in the table itself, within the device's state, which AddBatch asks the
// memory system for ahead (see devState): the join and remember of such a
// device read no other memory. The others are in tab: up to smallConns
// packed and searched linearly (a hash costs more than comparing the
// lengths of a few), past that an open-addressing table (linear probing)
// of entries held inline, keyed on a seeded hash of the id kept in each
// entry: a take is one hash and probe, and its delete shifts the entries
// after it back (no tombstones, so probes stay short however many
// connections come and go), where a Go map took two hashes (the lookup,
// then the delete). Connection ids up to shortID bytes (Zeek's uids, the
// edge's ids) are copied into the entries, so that a lookup compares them
// there instead of loading the string of the conn.opened payload, long out
// of cache.
type connTable struct {
	n     int      // connections held
	first openConn // one of them when n > 0 (an empty id: none)
	// tab holds the others: nil until a second connection is open; up to
	// smallConns slots, the entries packed in tab[:used]; past that
	// (hashed) a power of two of slots (an empty id: free) at most 3/4
	// used. Like a map it does not shrink: the device's state goes when
	// it holds nothing (see sweep), and MaxOpenPerDevice bounds its size.
	tab  []openConn
	used int // entries in tab
	// floor is at most the open time of every connection held (exact after
	// dropOlder, lowered by put): dropOlder skips the scan when nothing
	// can be older than its cut, which is nearly always.
	floor int64
}

const (
	shortID    = 24
	smallConns = 8
	// minTab is the first size of tab: with the first entry, five
	// connections before it grows.
	minTab = 4
)

// hashed reports whether tab is a hash table rather than a packed slice.
func (c *connTable) hashed() bool { return len(c.tab) > smallConns }

// connSeed keys the ids' hash, so that no set of ids collides in every
// process.
var connSeed = maphash.MakeSeed()

// hashOverride, when set, replaces the seeded hash: tests choose the ids'
// slots with it (collisions, clusters wrapping around the table's end).
var hashOverride func(id string) uint32

func connHash(id string) uint32 {
	if hashOverride != nil {
		return hashOverride(id)
	}
	return uint32(maphash.String(connSeed, id))
}

// openConn is an open connection. The fields a join reads come first: a
// devState's table holds one within the lines AddBatch prefetches.
type openConn struct {
	short  [shortID]byte // the id, when at most shortID bytes
	idLen  int32         // 0: no connection (remember skips empty ids)
	hash   uint32        // connHash of the id, when in a table
	opened int64
	dest   dest
	long   string // the id, when longer than shortID bytes
}

// set makes oc, a zero entry (the table's free slots and an empty first
// are zero: see clear), the entry of connection id opened at opened to
// dst. Field by field: a whole openConn (six strings) stored into a table
// went through a bulk write barrier while the garbage collector marks,
// for about every connection.
func (oc *openConn) set(id string, opened int64, dst *dest) {
	oc.idLen, oc.opened = int32(len(id)), opened
	if len(id) <= shortID {
		copy(oc.short[:], id)
	} else {
		oc.long = id
	}
	oc.dest.set(dst)
}

// clear makes oc zero, field by field (see set).
func (oc *openConn) clear() {
	oc.short, oc.idLen, oc.hash, oc.opened, oc.long = [shortID]byte{}, 0, 0, 0, ""
	oc.dest.set(&dest{})
}

// set makes d a copy of s, field by field (see openConn.set).
func (d *dest) set(s *dest) {
	d.host, d.ip, d.sni, d.tlsFp = s.host, s.ip, s.sni, s.tlsFp
	d.port, d.mode, d.ok, d.hasMode = s.port, s.mode, s.ok, s.hasMode
}

// is reports whether oc is connection id (not empty).
func (oc *openConn) is(id string) bool {
	if int(oc.idLen) != len(id) {
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

// slot returns the slot of id (hashed h) in the table and whether it holds
// id; when it does not, the free slot where id would go. The table is
// never full, so the probe ends.
func (c *connTable) slot(id string, h uint32) (int, bool) {
	mask := len(c.tab) - 1
	i := int(h) & mask
	for {
		e := &c.tab[i]
		if e.idLen == 0 {
			return i, false
		}
		if e.hash == h && e.is(id) {
			return i, true
		}
		i = (i + 1) & mask
	}
}

// removeAt removes entry i of tab.
func (c *connTable) removeAt(i int) {
	if c.hashed() {
		c.deleteAt(i)
		return
	}
	c.used--
	c.tab[i] = c.tab[c.used]
	c.tab[c.used].clear()
}

// deleteAt empties slot i of the table, moving back the entries after it
// in its cluster that may not be past a free slot from their home.
func (c *connTable) deleteAt(i int) {
	mask := len(c.tab) - 1
	for j := (i + 1) & mask; c.tab[j].idLen != 0; j = (j + 1) & mask {
		// The entry at j stays when its home is cyclically in (i, j].
		if home := int(c.tab[j].hash) & mask; (j-home)&mask < (j-i)&mask {
			continue
		}
		c.tab[i] = c.tab[j]
		i = j
	}
	c.tab[i].clear()
	c.used--
}

// find returns the index in tab of connection id, or -1.
func (c *connTable) find(id string) int {
	if !c.hashed() {
		for i := range c.tab[:c.used] {
			if c.tab[i].is(id) {
				return i
			}
		}
		return -1
	}
	if i, ok := c.slot(id, connHash(id)); ok {
		return i
	}
	return -1
}

// get returns the destination of connection id.
func (c *connTable) get(id string) (dest, bool) {
	if c.n == 0 || id == "" {
		return dest{}, false
	}
	if c.first.is(id) {
		return c.first.dest, true
	}
	if c.used == 0 {
		return dest{}, false
	}
	if i := c.find(id); i >= 0 {
		return c.tab[i].dest, true
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
		c.first.clear()
		c.n--
		return d, true
	}
	if c.used == 0 {
		return dest{}, false
	}
	i := c.find(id)
	if i < 0 {
		return dest{}, false
	}
	d := c.tab[i].dest
	c.removeAt(i)
	c.n--
	return d, true
}

// put adds or replaces connection id (not empty), opened at opened, and
// reports whether it was new.
func (c *connTable) put(id string, opened int64, dst *dest) bool {
	if c.n == 0 || opened < c.floor {
		c.floor = opened
	}
	if c.first.is(id) {
		c.first.opened = opened
		c.first.dest.set(dst)
		return false
	}
	if c.used == 0 && c.first.idLen == 0 {
		c.first.set(id, opened, dst)
		c.n++
		return true
	}
	if c.hashed() {
		h := connHash(id)
		i, ok := c.slot(id, h)
		if ok {
			c.tab[i].opened = opened
			c.tab[i].dest.set(dst)
			return false
		}
		c.n++
		if c.first.idLen == 0 {
			c.first.set(id, opened, dst)
			return true
		}
		if 4*(c.used+1) > 3*len(c.tab) {
			c.grow()
			i, _ = c.slot(id, h)
		}
		c.insert(i, id, h, opened, dst)
		return true
	}
	for i := range c.tab[:c.used] {
		if oc := &c.tab[i]; oc.is(id) {
			oc.opened = opened
			oc.dest.set(dst)
			return false
		}
	}
	c.n++
	if c.first.idLen == 0 {
		c.first.set(id, opened, dst)
		return true
	}
	if c.used < len(c.tab) {
		c.insert(c.used, id, 0, opened, dst)
		return true
	}
	c.grow()
	if !c.hashed() {
		c.insert(c.used, id, 0, opened, dst)
		return true
	}
	h := connHash(id)
	i, _ := c.slot(id, h)
	c.insert(i, id, h, opened, dst)
	return true
}

// insert puts a new entry for id (hashed h, in a hash table) at slot i,
// which is free (and so zero: see openConn.set).
func (c *connTable) insert(i int, id string, h uint32, opened int64, dst *dest) {
	c.tab[i].set(id, opened, dst)
	c.tab[i].hash = h
	c.used++
}

// grow doubles tab (makes the first), hashing the entries when it becomes
// a hash table.
func (c *connTable) grow() {
	old := c.tab
	c.tab = make([]openConn, max(minTab, 2*len(old)))
	if !c.hashed() {
		copy(c.tab, old[:c.used])
		return
	}
	rehash := len(old) <= smallConns
	mask := len(c.tab) - 1
	for k := range old {
		if old[k].idLen == 0 {
			continue
		}
		if rehash {
			old[k].hash = connHash(old[k].id())
		}
		i := int(old[k].hash) & mask
		for c.tab[i].idLen != 0 {
			i = (i + 1) & mask
		}
		c.tab[i] = old[k]
	}
}

// removeIf drops the connections for which drop is true and returns how
// many it dropped.
func (c *connTable) removeIf(drop func(*openConn) bool) int {
	n := 0
	if c.first.idLen > 0 && drop(&c.first) {
		c.first.clear()
		n++
	}
	if !c.hashed() {
		kept := c.tab[:0]
		for i := range c.tab[:c.used] {
			if drop(&c.tab[i]) {
				n++
			} else {
				kept = append(kept, c.tab[i])
			}
		}
		clear(c.tab[len(kept):c.used])
		c.used = len(kept)
	} else if c.used > 0 {
		// Scan from a free slot: a delete moves back only entries of the
		// cluster after it, which end before that slot, into slots not
		// yet seen or the one seen now (seen again), so each entry is
		// seen once.
		mask := len(c.tab) - 1
		start := 0
		for c.tab[start].idLen != 0 {
			start++
		}
		for k := 1; k <= mask; {
			i := (start + k) & mask
			if c.tab[i].idLen != 0 && drop(&c.tab[i]) {
				c.deleteAt(i)
				n++
				continue
			}
			k++
		}
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
	for k := range c.tab {
		if c.tab[k].idLen != 0 {
			out = append(out, c.tab[k])
		}
	}
	return out
}
