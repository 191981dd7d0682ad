package detect

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// describe writes what fmt.Sprintf wrote before it, byte for byte: the
// alerts' summaries and explanations are pinned by golden files and ids.
func TestBeaconDescribeIsSprintf(t *testing.T) {
	b := &Beaconing{minCount: 8, minInterval: 10 * time.Second, maxCV: 0.2}
	st := &beaconState{dev: &beaconDev{key: devKey{"acme", "pos-01"}}, dst: "c2.evil.example", times: make([]int64, 17), failed: 14, closed: 16}
	st.windows.n = 5
	for _, c := range []struct {
		mean, cv    float64
		peers, devs int
		minInterval time.Duration
		maxCV       float64
		cohort      string
	}{
		{20e9, 0.05, 1, 12, 10 * time.Second, 0.2, "acme//"},
		{20.4999e9, 0.1234567, 0, 1, 10 * time.Second, 0.2, "acme/pos/1.2"},
		{1.5e9, 0.005, 3, 40, 1500 * time.Millisecond, 0.25, "t/m/f"},
		{123456789, 1.9995, 1, 1, time.Minute, 0.3333, ""},
		{3600e9 + 0.5e9, 0, 2, 100, time.Hour, 1, "a//"},
		{0, math.Inf(1), 0, 0, 10 * time.Second, 0.2, "x//"},
		{-0.0, math.NaN(), 1, 2, 10 * time.Second, 0.2, "x//"},
	} {
		b.minInterval, b.maxCV = c.minInterval, c.maxCV
		k := st.key()
		for _, periodic := range []bool{true, false} {
			wantS := fmt.Sprintf("%d connections to %s every %v (±%.0f%%)", len(st.times), k.dst, time.Duration(c.mean).Round(time.Second), 100*c.cv)
			wantE := fmt.Sprintf("%d connections over %d windows, mean interval %v ≥ %v, coefficient of variation %.3f ≤ %.2f; %d of %d devices of cohort %s reach %s",
				len(st.times), st.windows.n, time.Duration(c.mean).Round(time.Millisecond), b.minInterval, c.cv, b.maxCV, c.peers, c.devs, c.cohort, k.dst)
			if !periodic {
				wantS = fmt.Sprintf("%d attempts to %s, %d of %d failed, every %v on average", len(st.times), k.dst, st.failed, st.closed, time.Duration(c.mean).Round(time.Second))
				wantE = fmt.Sprintf("%d attempts over %d windows, %d of %d closed connections failed (≥ 80%%), mean interval %v; %d of %d devices of cohort %s reach %s",
					len(st.times), st.windows.n, st.failed, st.closed, time.Duration(c.mean).Round(time.Millisecond), c.peers, c.devs, c.cohort, k.dst)
			}
			gotS, gotE := b.describe(st, periodic, c.mean, c.cv, c.peers, c.devs, c.cohort)
			if gotS != wantS || gotE != wantE {
				t.Errorf("periodic %v, %+v:\n got %q\n     %q\nwant %q\n     %q", periodic, c, gotS, gotE, wantS, wantE)
			}
		}
	}
}
