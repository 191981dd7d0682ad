package window

import (
	"fmt"
	"strings"
	"testing"
)

// The connection table finds ids of every length, short (compared in the
// entry) and long, before and after it switches to a map.
func TestConnTable(t *testing.T) {
	ids := []string{"a", "c1", "CjWx8k3HFVe8nUtlHd", strings.Repeat("x", 23), strings.Repeat("x", 24), "0b6f2a4e-8c1d-4c3f-9a57-2f7d1e6b9c10"}
	for _, n := range []int{len(ids), 2 * smallConns} {
		var c connTable
		var all []string
		for i := range n {
			id := ids[i%len(ids)] + strings.Repeat("-", i/len(ids))
			all = append(all, id)
			if !c.put(openConn{id: strings.Clone(id), opened: int64(i), dest: dest{host: id, ok: true}}) {
				t.Fatalf("%q not new", id)
			}
		}
		if c.put(openConn{id: strings.Clone(all[0]), opened: 99}) {
			t.Fatalf("%q new twice", all[0])
		}
		if _, ok := c.get(all[0] + "?"); ok {
			t.Fatal("found an id never put")
		}
		for i, id := range all {
			oc, ok := c.take(strings.Clone(id))
			if !ok || oc.id != id || (i > 0 && oc.dest.host != id) {
				t.Fatalf("take %q: %v %+v", id, ok, oc)
			}
			if _, ok := c.get(id); ok {
				t.Fatalf("%q still there", id)
			}
		}
		if c.len() != 0 {
			t.Fatal(fmt.Sprint(c.len(), " left"))
		}
	}
}
