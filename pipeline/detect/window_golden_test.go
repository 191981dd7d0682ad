package detect

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"hash"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/window-findings.golden")

// goldenEvents is a random workload that reaches every branch of the window
// detectors: two tenants with devices of the same names, cohorts that
// change with the firmware, destinations by host, by IP or none, rare and
// shared, beacons (periodic or retrying a dead server, some to multicast),
// scans, floods, blocked attempts and refused handshakes, over six hours of
// one-minute windows.
func goldenEvents(seed uint64) []events.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var evs []events.Event
	n := 0
	id := func() events.ID { n++; return events.DerivedID("golden", fmt.Sprint(seed, n)) }
	states := []string{"SF", "S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR", "OTH", "S1", ""}
	reasons := []events.CloseReason{events.CloseReason_CLOSE_REASON_UNSPECIFIED, events.CloseReason_CLOSE_REASON_REFUSED,
		events.CloseReason_CLOSE_REASON_TIMEOUT, events.CloseReason_CLOSE_REASON_ERROR, events.CloseReason(1), events.CloseReason(2)}
	conn := func(tenant, device string, at time.Time, host, ip string, port uint32, failed bool, up uint64) {
		cid := fmt.Sprint("c", n)
		evs = append(evs, events.Event{ID: id(), Tenant: tenant, Device: device, Time: at,
			Payload: &events.ConnOpened{ConnId: cid, DstHost: host, DstIp: ip, DstPort: port}})
		if r.IntN(8) == 0 {
			return // never closed
		}
		st, rs := states[0], reasons[0]
		if failed {
			st = states[1+r.IntN(7)]
			if r.IntN(2) == 0 {
				st, rs = states[8+r.IntN(2)], reasons[1+r.IntN(3)]
			}
		} else if r.IntN(4) == 0 {
			st, rs = states[8+r.IntN(2)], reasons[4+r.IntN(2)]
		}
		evs = append(evs, events.Event{ID: id(), Tenant: tenant, Device: device, Time: at.Add(time.Duration(r.IntN(3000)) * time.Millisecond),
			Payload: &events.ConnClosed{ConnId: cid, BytesUp: up, Reason: rs, State: st}})
	}
	for m := range 6 * 60 {
		base := t0.Add(time.Duration(m) * time.Minute)
		for _, tenant := range []string{"acme", "beta"} {
			for d := range 9 {
				device := fmt.Sprintf("pos-%d", d)
				if (m/(30+11*d))%4 == 3 {
					continue // quiet for a while
				}
				// Ordinary traffic: shared and rare destinations.
				for range r.IntN(4) {
					at := base.Add(time.Duration(r.IntN(60000)) * time.Millisecond)
					host, ip := fmt.Sprintf("h%d.example", r.IntN(25)+m/60*5), fmt.Sprintf("10.0.%d.%d", d, r.IntN(6))
					switch r.IntN(6) {
					case 0:
						host = ""
					case 1:
						if tenant == "beta" && d == 7 { // alone in its cohort
							host, ip = "", ""
						}
					}
					conn(tenant, device, at, host, ip, uint32(443+r.IntN(2)), r.IntN(5) == 0, uint64(r.IntN(5000)))
				}
				switch {
				case d == 1 || d == 2: // beacons, every 20s, some jitter
					for k := range 3 {
						dst := fmt.Sprintf("c2-%s-%d.example", tenant, (m/45+d)%3)
						if d == 2 && m%90 < 30 {
							dst = "224.0.0.251"
						}
						conn(tenant, device, base.Add(time.Duration(k*20000+r.IntN(1+d*1500))*time.Millisecond), dst, "", 8443, false, 200)
					}
				case d == 3: // a C&C client retrying a dead server, irregularly
					for range 2 + r.IntN(4) {
						conn(tenant, device, base.Add(time.Duration(r.IntN(60000))*time.Millisecond), "", "203.0.113.9", 443, r.IntN(10) != 0, 0)
					}
				case d == 4 && m%37 == 5: // a scan
					for k := range 20 + r.IntN(70) {
						conn(tenant, device, base.Add(time.Duration(k*300)*time.Millisecond), "", fmt.Sprintf("192.168.1.%d", k%50), uint32(22+k%3), r.IntN(4) != 0, 0)
					}
				case d == 5 && m%53 == 7: // a flood, by connections or by bytes
					for k := range 60 + r.IntN(80) {
						conn(tenant, device, base.Add(time.Duration(k*200)*time.Millisecond), "victim.example", "", 80, false, uint64(r.IntN(1_000_000)))
					}
				case d == 6 && m%29 == 3: // blocked attempts and refused handshakes
					for k := range 2 + r.IntN(5) {
						evs = append(evs, events.Event{ID: id(), Tenant: tenant, Device: device, Time: base.Add(time.Duration(k) * time.Second),
							Payload: &events.ConnBlocked{ConnId: fmt.Sprint("b", n), DstHost: "bad.example", DstPort: 443, InterventionId: fmt.Sprint("iv-", r.IntN(2))}})
					}
					for k := range 3 + r.IntN(5) {
						evs = append(evs, events.Event{ID: id(), Tenant: tenant, Device: device, Time: base.Add(time.Duration(k) * time.Second),
							Payload: &events.AuthFailed{Reason: events.AuthFailReason(r.IntN(4))}})
					}
				}
			}
		}
	}
	events.SortByTime(evs)
	return evs
}

// writeFinding writes every field of a finding, described, on one line.
func writeFinding(w *bufio.Writer, f *Finding) {
	f.Describe()
	fmt.Fprintf(w, "%s|%s|%s|%d|%.17g|%s|%d|%d|%d|", f.Detector, f.Tenant, f.Device, f.Severity, f.Score, f.Key,
		f.Time.UnixNano(), f.WindowStart.UnixNano(), f.WindowEnd.UnixNano())
	for _, id := range f.Evidence {
		w.WriteString(hex.EncodeToString(id[:4]))
		w.WriteByte(',')
	}
	fmt.Fprintf(w, "|%s|%s|", f.Summary, f.Explanation)
	for _, x := range f.Features {
		fmt.Fprintf(w, "%s=%.17g/%.17g,", x.Name, x.Value, x.Baseline)
	}
	fmt.Fprintf(w, "|%x|%s|%s|%d\n", f.Fingerprint, f.DstHost, f.DstIP, f.DstPort)
}

// TestWindowFindingsGolden runs the window detectors, with their default
// options and with short horizons that make their state expire, over
// random workloads, through RunWindow as the pipeline does and through
// each detector's Window: the findings must be those main's detectors made
// when the golden file was written (every optimisation of the detectors
// keeps them byte for byte).
func TestWindowFindingsGolden(t *testing.T) {
	configs := []map[string]map[string]string{
		nil,
		{
			"new-destination": {"horizon": "2h", "learning": "10m"},
			"beaconing":       {"horizon": "1h30s", "min_count": "4"},
			"scan":            {"min_targets": "10"},
			"flood":           {"min_conns": "40", "min_mb": "20"},
		},
	}
	// The cohort of a device follows its firmware, which some devices
	// update at 2:30.
	update := time.Date(2026, 11, 27, 2, 30, 0, 0, time.UTC)
	var now time.Time
	cohort := func(tenant, device string) string {
		fw := "1"
		if device[len(device)-1]%3 == 0 && !now.Before(update) {
			fw = "2"
		}
		if device == "pos-8" {
			return "shared//" // across tenants
		}
		return tenant + "/pos/" + fw
	}
	var got strings.Builder
	for seed := range uint64(2) {
		evs := goldenEvents(seed)
		for ci, opts := range configs {
			for _, viaRun := range []bool{true, false} {
				ds, err := New([]string{"auth-failures", "beaconing", "blocked-attempts", "flood", "new-destination", "scan"}, opts)
				if err != nil {
					t.Fatal(err)
				}
				var wds []WindowDetector
				for _, d := range ds {
					wds = append(wds, d.(WindowDetector))
				}
				asm, err := window.New(window.Config{Size: time.Minute, Lateness: 5 * time.Second}, 1, memory.DefaultAllocator)
				if err != nil {
					t.Fatal(err)
				}
				h := sha256.New()
				bw := bufio.NewWriter(h)
				count := map[string]int{}
				ctx := &Context{Cohort: cohort}
				eachWindow(asm, evs, func(w *window.Window) {
					now = w.End
					var fs [][]Finding
					if viaRun {
						fs = RunWindow(nil, wds, w, ctx)
					} else {
						for _, d := range wds {
							if f := d.Window(w, ctx); len(f) > 0 {
								fs = append(fs, f)
							}
						}
					}
					for _, f := range fs {
						for i := range f {
							count[f[i].Detector]++
							writeFinding(bw, &f[i])
						}
					}
				})
				asm.Release()
				bw.Flush()
				fmt.Fprintf(&got, "seed %d config %d run %v: %s %v\n", seed, ci, viaRun, hexSum(h), count)
			}
		}
	}
	const path = "testdata/window-findings.golden"
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Fatalf("findings differ from %s:\n got:\n%s want:\n%s", path, got.String(), want)
	}
	for _, d := range []string{"auth-failures", "beaconing", "blocked-attempts", "flood", "new-destination", "scan"} {
		if !strings.Contains(string(want), d+":") {
			t.Errorf("no %s finding: the workload misses a detector", d)
		}
	}
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
