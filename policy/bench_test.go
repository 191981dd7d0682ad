package policy

import (
	"testing"

	"github.com/halo-sec/halo/events"
)

// BenchmarkRuleFor asks the default policy for the rules of the Zeek
// replay's alerts: most fall through to the catch-all rule.
func BenchmarkRuleFor(b *testing.B) {
	d := Default()
	dets := []string{"new-destination", "inbound", "new-destination", "beaconing", "new-destination", "flood"}
	n := 0
	for i := 0; b.Loop(); i++ {
		if r, ok := d.RuleFor(dets[i%len(dets)], events.Severity(1+i%5)); ok {
			n += len(r.Actions)
		}
	}
	if n == 0 {
		b.Fatal("no rule found")
	}
}
