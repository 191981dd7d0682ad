package tunnel

import (
	"context"
	"net/netip"
	"testing"
)

// TestResolveStaticWildcard: "*.sim.test" covers names under sim.test at any
// depth, not sim.test itself; an exact entry wins over the wildcard.
func TestResolveStaticWildcard(t *testing.T) {
	e := &Edge{cfg: Config{
		StaticHosts: map[string]netip.Addr{
			"*.sim.test":     netip.MustParseAddr("127.0.0.1"),
			"pay.sim.test":   netip.MustParseAddr("127.0.0.2"),
			"*.b.a.sim.test": netip.MustParseAddr("127.0.0.3"),
		},
		Resolve: func(context.Context, string) (netip.Addr, error) { return netip.MustParseAddr("192.0.2.1"), nil },
	}}
	for host, want := range map[string]string{
		"c2.sim.test":       "127.0.0.1",
		"x.y.sim.test":      "127.0.0.1",
		"pay.sim.test":      "127.0.0.2",
		"c.b.a.sim.test":    "127.0.0.3",
		"sim.test":          "192.0.2.1",
		"evilsim.test":      "192.0.2.1",
		"c2.sim.test.other": "192.0.2.1",
		"10.1.2.3":          "10.1.2.3",
	} {
		got, err := e.resolve(context.Background(), host)
		if err != nil || got.String() != want {
			t.Errorf("resolve(%q) = %v, %v; want %s", host, got, err, want)
		}
	}
}
