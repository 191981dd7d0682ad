package window

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/halo-sec/halo/events"
)

// The connection table finds ids of every length, short (compared in the
// entry) and long, in its first entry and its table.
func TestConnTable(t *testing.T) {
	ids := []string{"a", "c1", "CjWx8k3HFVe8nUtlHd", strings.Repeat("x", shortID-1), strings.Repeat("x", shortID),
		strings.Repeat("x", shortID+1), "0b6f2a4e-8c1d-4c3f-9a57-2f7d1e6b9c10"}
	for _, n := range []int{1, len(ids), smallConns + 1, 4 * smallConns} {
		var c connTable
		var all []string
		for i := range n {
			id := ids[i%len(ids)] + strings.Repeat("-", i/len(ids))
			all = append(all, id)
			if !c.put(strings.Clone(id), int64(i), &dest{host: id, ok: true}) {
				t.Fatalf("%q not new", id)
			}
		}
		// The first entry's id, and the last put's (in the map when
		// there is one).
		again := map[string]bool{all[0]: true, all[n-1]: true}
		for id := range again {
			if c.put(strings.Clone(id), 99, &dest{host: "again", ok: true}) {
				t.Fatalf("%q new twice", id)
			}
		}
		if _, ok := c.get(all[0] + "?"); ok {
			t.Fatal("found an id never put")
		}
		if _, ok := c.get(""); ok {
			t.Fatal("found the empty id")
		}
		if got := len(c.all()); got != n || c.len() != n {
			t.Fatalf("%d held, all gives %d, want %d", c.len(), got, n)
		}
		for _, id := range all {
			dst, ok := c.take(strings.Clone(id))
			want := id
			if again[id] {
				want = "again"
			}
			if !ok || dst.host != want {
				t.Fatalf("take %q: %v %+v", id, ok, dst)
			}
			if _, ok := c.get(id); ok {
				t.Fatalf("%q still there", id)
			}
		}
		if c.len() != 0 || len(c.all()) != 0 {
			t.Fatal(fmt.Sprint(c.len(), " left"))
		}
	}
}

// refConns is the connection table the assembler had before connTable: a
// slice (past 8 entries a map) of each device's open connections, with the
// assembler's remember, forgetOldest and sweep around it.
type refConns struct {
	small []refConn
	m     map[string]refConn
}

type refConn struct {
	id     string
	opened int64
	dest   dest
}

func (c *refConns) len() int {
	if c.m != nil {
		return len(c.m)
	}
	return len(c.small)
}

func (c *refConns) get(id string) (refConn, bool) {
	if c.m != nil {
		oc, ok := c.m[id]
		return oc, ok
	}
	for i := range c.small {
		if c.small[i].id == id {
			return c.small[i], true
		}
	}
	return refConn{}, false
}

func (c *refConns) take(id string) (refConn, bool) {
	if c.m != nil {
		oc, ok := c.m[id]
		delete(c.m, id)
		return oc, ok
	}
	for i := range c.small {
		if c.small[i].id == id {
			oc := c.small[i]
			c.small = slices.Delete(c.small, i, i+1)
			return oc, true
		}
	}
	return refConn{}, false
}

func (c *refConns) put(oc refConn) {
	if c.m != nil {
		c.m[oc.id] = oc
		return
	}
	for i := range c.small {
		if c.small[i].id == oc.id {
			c.small[i] = oc
			return
		}
	}
	if len(c.small) < 8 {
		c.small = append(c.small, oc)
		return
	}
	c.m = make(map[string]refConn)
	for _, s := range c.small {
		c.m[s.id] = s
	}
	c.small = nil
	c.m[oc.id] = oc
}

func (c *refConns) all() []refConn {
	out := append([]refConn(nil), c.small...)
	for _, oc := range c.m {
		out = append(out, oc)
	}
	slices.SortFunc(out, func(x, y refConn) int { return cmp.Or(cmp.Compare(x.opened, y.opened), strings.Compare(x.id, y.id)) })
	return out
}

// remember is the assembler's remember and forgetOldest of before.
func (c *refConns) remember(id string, t int64, dst dest, limit int) (forgot int) {
	if c.len() >= limit {
		if _, ok := c.take(id); !ok {
			all := c.all()
			forgot = max(1, len(all)/8)
			for _, oc := range all[:forgot] {
				c.take(oc.id)
			}
		}
	}
	c.put(refConn{id: id, opened: t, dest: dst})
	return forgot
}

func (c *refConns) dropOlder(cut int64) int {
	n := 0
	for _, oc := range c.all() {
		if oc.opened < cut {
			c.take(oc.id)
			n++
		}
	}
	return n
}

// The device tables and the assembler's remember and forgetOldest do what
// the per-device table of before did, on random workloads of opens (new
// ids and reopened ones, past the limit), closes, lookups and horizon
// sweeps: the same joins and destinations, the same connections
// forgotten, the same counts.
func TestConnTableMatchesReference(t *testing.T) {
	for _, h := range testHashes {
		t.Run(h.name, func(t *testing.T) {
			defer func(f func(string) uint32) { hashOverride = f }(hashOverride)
			hashOverride = h.f
			connTableMatchesReference(t)
		})
	}
}

// testHashes are the seeded hash and ones that crowd the table: ids in
// few homes, all in one, or chosen by the id's last byte (clusters
// wrapping around the table's end, in the fuzz target).
var testHashes = []struct {
	name string
	f    func(string) uint32
}{
	{"seeded", nil},
	{"few", func(id string) uint32 { return connHashSeeded(id) % 5 }},
	{"one", func(string) uint32 { return 7 }},
	{"last-byte", func(id string) uint32 { return uint32(id[len(id)-1]) }},
}

func connHashSeeded(id string) uint32 { return uint32(maphash.String(connSeed, id)) }

func connTableMatchesReference(t *testing.T) {
	forgetting := 0 // runs that forgot connections for the limit
	defer func() {
		if forgetting < 10 {
			t.Errorf("%d runs forgot connections for the limit", forgetting)
		}
	}()
	for run := range 40 {
		rng := rand.New(rand.NewPCG(uint64(run), 7))
		limit := 1 + rng.IntN(40)
		opens := 40 + rng.IntN(40) // percent of the operations
		forgot := 0
		a, err := New(Config{MaxOpenPerDevice: limit}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := &a.parts[0]
		devs := make([]*devState, 1+rng.IntN(12))
		refs := make([]refConns, len(devs))
		for i := range devs {
			devs[i] = &devState{}
		}
		idOf := func() string {
			k := rng.IntN(3 * limit)
			switch rng.IntN(5) {
			case 0:
				return fmt.Sprint(k)
			case 1:
				return fmt.Sprintf("C%017d", k) // Zeek's 18
			case 2:
				return fmt.Sprintf("%0*d", shortID, k)
			case 3:
				return ""
			default:
				return fmt.Sprintf("%040d", k) // long
			}
		}
		now := int64(0)
		for op := range 3000 {
			i := rng.IntN(len(devs))
			d, ref := devs[i], &refs[i]
			id := idOf()
			switch r := rng.IntN(100); {
			case r < opens:
				now += int64(rng.IntN(3))                   // ties in open times
				opened := now - int64(rng.IntN(2))*int64(5) // and some out of order
				pl := &events.ConnOpened{ConnId: strings.Clone(id), DstHost: fmt.Sprint(op), DstIp: fmt.Sprint(i), DstPort: uint32(op),
					Mode: events.ConnMode(rng.IntN(4)), Sni: fmt.Sprint(opened), TlsFp: id}
				before := a.stats.ForgottenConns
				a.remember(p, d, pl, opened)
				if id != "" {
					want := ref.remember(id, opened, dest{host: pl.DstHost, ip: pl.DstIp, port: pl.DstPort, mode: enumIndex(int32(pl.Mode), ModeNames),
						hasMode: true, sni: pl.Sni, tlsFp: pl.TlsFp, ok: true}, limit)
					forgot += want
					if got := int(a.stats.ForgottenConns - before); got != want {
						t.Fatalf("run %d op %d: open %q forgot %d, want %d", run, op, id, got, want)
					}
				}
			case r < opens+(95-opens)*2/3:
				got, ok := d.conns.take(id)
				want, wok := ref.take(id)
				if ok != wok || got != want.dest {
					t.Fatalf("run %d op %d: take %q: %v %+v, want %v %+v", run, op, id, ok, got, wok, want.dest)
				}
				if ok {
					p.openConns--
				}
			case r < opens+(95-opens)*5/6:
				got, ok := d.conns.get(id)
				want, wok := ref.get(id)
				if ok != wok || got != want.dest {
					t.Fatalf("run %d op %d: get %q: %v %+v, want %v %+v", run, op, id, ok, got, wok, want.dest)
				}
			default:
				cut := now - int64(rng.IntN(200))
				for k := range refs {
					if got, want := devs[k].conns.dropOlder(cut), refs[k].dropOlder(cut); got != want {
						t.Fatalf("run %d op %d: device %d dropOlder(%d) %d, want %d", run, op, k, cut, got, want)
					} else {
						p.openConns -= got
					}
				}
			}
			held := 0
			for k, d := range devs {
				held += refs[k].len()
				if d.conns.len() != refs[k].len() || len(d.conns.all()) != refs[k].len() {
					t.Fatalf("run %d op %d: device %d holds %d, want %d", run, op, k, d.conns.len(), refs[k].len())
				}
				if floor := d.conns.floorOf(); d.conns.len() > 0 && d.conns.floor > floor {
					t.Fatalf("run %d op %d: device %d floor %d above %d", run, op, k, d.conns.floor, floor)
				}
			}
			if p.openConns != held {
				t.Fatalf("run %d op %d: %d held, want %d", run, op, p.openConns, held)
			}
		}
		if forgot > 0 {
			forgetting++
		}
		for k, d := range devs {
			var got []refConn
			for _, oc := range d.conns.all() {
				got = append(got, refConn{id: oc.id(), opened: oc.opened, dest: oc.dest})
			}
			slices.SortFunc(got, func(x, y refConn) int { return cmp.Or(cmp.Compare(x.opened, y.opened), strings.Compare(x.id, y.id)) })
			if want := refs[k].all(); !slices.Equal(got, want) {
				t.Fatalf("run %d: device %d holds %v, want %v", run, k, got, want)
			}
		}
		a.Release()
	}
}

// floorOf is the least open time held.
func (c *connTable) floorOf() int64 {
	floor := int64(math.MaxInt64)
	for _, oc := range c.all() {
		floor = min(floor, oc.opened)
	}
	return floor
}

// connOps runs the operations ops describes (two bytes each: what, and
// which id) on a connection table and on a map of the same connections,
// and fails at the first difference: a put's answer, a take's or get's
// destination, a dropOlder's count, or the connections held.
func connOps(t *testing.T, ops []byte) {
	var c connTable
	ref := map[string]refConn{}
	ids := func(k byte) string {
		s := string(rune('a' + k%26)) // the last byte picks the slot
		switch k / 26 % 4 {
		case 1:
			return "C" + strings.Repeat("x", 16) + s // Zeek's 18
		case 2:
			return strings.Repeat("y", shortID-1) + s
		case 3:
			return strings.Repeat("z", shortID+8) + s // long
		}
		return s
	}
	now := int64(0)
	for k := 0; k+1 < len(ops); k += 2 {
		op, id := ops[k], ids(ops[k+1])
		switch op % 8 {
		case 0, 1, 2:
			now += int64(op / 8 % 3)
			opened := now - int64(op/32%2)*5 // some out of order
			d := dest{host: fmt.Sprint(k), port: uint32(k), ok: true}
			_, had := ref[id]
			ref[id] = refConn{id: id, opened: opened, dest: d}
			if got := c.put(strings.Clone(id), opened, &d); got == had {
				t.Fatalf("op %d: put %q new %v, want %v", k, id, got, !had)
			}
		case 3, 4, 5:
			got, ok := c.take(id)
			want, wok := ref[id]
			delete(ref, id)
			if ok != wok || got != want.dest {
				t.Fatalf("op %d: take %q: %v %+v, want %v %+v", k, id, ok, got, wok, want.dest)
			}
		case 6:
			got, ok := c.get(id)
			want, wok := ref[id]
			if ok != wok || got != want.dest {
				t.Fatalf("op %d: get %q: %v %+v, want %v %+v", k, id, ok, got, wok, want.dest)
			}
		case 7:
			cut := now - int64(op/8%8)
			want := 0
			for id, oc := range ref {
				if oc.opened < cut {
					delete(ref, id)
					want++
				}
			}
			if got := c.dropOlder(cut); got != want {
				t.Fatalf("op %d: dropOlder(%d) %d, want %d", k, cut, got, want)
			}
		}
		var got []refConn
		for _, oc := range c.all() {
			got = append(got, refConn{id: oc.id(), opened: oc.opened, dest: oc.dest})
		}
		byID := func(x, y refConn) int { return strings.Compare(x.id, y.id) }
		slices.SortFunc(got, byID)
		want := slices.SortedFunc(maps.Values(ref), byID)
		if c.len() != len(ref) || !slices.Equal(got, want) {
			t.Fatalf("op %d: %d held %v, want %v", k, c.len(), got, want)
		}
		if floor := c.floorOf(); c.len() > 0 && c.floor > floor {
			t.Fatalf("op %d: floor %d above %d", k, c.floor, floor)
		}
		if used := c.len() - int(min(1, c.first.idLen)); used != c.used || c.hashed() && 4*c.used > 3*len(c.tab) || c.used > len(c.tab) {
			t.Fatalf("op %d: table uses %d, counts %d, of %d slots", k, used, c.used, len(c.tab))
		}
	}
}

// The table does what a map does on random operations, with ids in many
// and in few slots.
func TestConnTableOps(t *testing.T) {
	for _, h := range testHashes {
		t.Run(h.name, func(t *testing.T) {
			defer func(f func(string) uint32) { hashOverride = f }(hashOverride)
			hashOverride = h.f
			for run := range 200 {
				rng := rand.New(rand.NewPCG(uint64(run), 9))
				ops := make([]byte, 2*(1+rng.IntN(600)))
				span := 1 + rng.IntN(104) // ids in play
				for k := range ops {
					ops[k] = byte(rng.IntN(256))
					if k%2 == 1 {
						ops[k] = byte(rng.IntN(span))
					}
				}
				connOps(t, ops)
			}
		})
	}
}

// FuzzConnTable: the ids' last byte is their hash, so the fuzzer chooses
// collisions and clusters across the table's end.
func FuzzConnTable(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 3, 2, 6, 3, 7, 0})
	f.Add([]byte{0, 30, 0, 31, 0, 32, 0, 33, 0, 57, 0, 28, 3, 31, 6, 32, 7, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		defer func(f func(string) uint32) { hashOverride = f }(hashOverride)
		hashOverride = func(id string) uint32 { return uint32(id[len(id)-1]) }
		connOps(t, ops)
	})
}

// BenchmarkConnTable: a device's connections opened and closed, with open
// at a time (the Zeek logs' busy hosts hold tens to hundreds): a put and a
// take a connection, ids of Zeek's 18 bytes.
func BenchmarkConnTable(b *testing.B) {
	for _, open := range []int{1, 3, 16, 300} {
		b.Run(fmt.Sprint("open=", open), func(b *testing.B) {
			ids := make([]string, 4096)
			for i := range ids {
				ids[i] = fmt.Sprintf("C%017x", uint64(i)*0x9E3779B97F4A7C15>>8)
			}
			var c connTable
			d := dest{host: "h", ok: true}
			for i := range open {
				c.put(ids[i], int64(i), &d)
			}
			b.ResetTimer()
			for i := range b.N {
				c.put(ids[(i+open)%len(ids)], int64(i+open), &d)
				if _, ok := c.take(ids[i%len(ids)]); !ok {
					b.Fatal("not joined")
				}
			}
		})
	}
}

// openConn.set on a zero entry gives the entry a struct literal gives, and
// clear gives a zero one; dest.set copies every field. The field counts
// are pinned: set, clear and dest.set write the fields one by one, and a
// field added to either struct must be added to them.
func TestOpenConnSet(t *testing.T) {
	if n := reflect.TypeFor[openConn]().NumField(); n != 6 {
		t.Fatalf("openConn has %d fields: set and clear write 6", n)
	}
	if n := reflect.TypeFor[dest]().NumField(); n != 8 {
		t.Fatalf("dest has %d fields: dest.set writes 8", n)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	str := func(max int) string {
		b := make([]byte, rng.IntN(max+1))
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return string(b)
	}
	for range 2000 {
		id := str(2 * shortID)
		if id == "" {
			id = "x"
		}
		dst := dest{host: str(20), ip: str(15), sni: str(20), tlsFp: str(32), port: rng.Uint32(), mode: int8(rng.IntN(4)), ok: rng.IntN(2) == 0, hasMode: rng.IntN(2) == 0}
		opened := rng.Int64()
		want := openConn{idLen: int32(len(id)), opened: opened, dest: dst}
		if len(id) <= shortID {
			copy(want.short[:], id)
		} else {
			want.long = id
		}
		var got openConn
		got.set(id, opened, &dst)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("set(%q): %+v, want %+v", id, got, want)
		}
		if !got.is(id) {
			t.Fatalf("set(%q): is(%q) false", id, id)
		}
		got.hash = rng.Uint32()
		got.clear()
		if !reflect.DeepEqual(got, openConn{}) {
			t.Fatalf("clear: %+v, want zero", got)
		}
	}
}
