package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkFleet measures the fleet one halo up sustains on this machine in
// real time, with every detector on and halo sim on the same machine: N
// devices with kept-alive connections, each at least one request every 10 s
// (halo sim's rate 1: heartbeats every 10 s on average, payments, update
// checks). It reports the pipeline's lag (how long the last processed
// delivery waited in the log, scraped from /metrics every 2 s) over the
// second half of the run: the pipeline keeps up when it stays low and does
// not grow. Sizes: HALO_FLEET_DEVICES (default 1000,5000,10000); duration:
// HALO_FLEET_DURATION (default 2m). Run with -benchtime 1x.
func BenchmarkFleet(b *testing.B) {
	longBench(b)
	sizes := []int{1000, 5000, 10000}
	if s := os.Getenv("HALO_FLEET_DEVICES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("HALO_FLEET_DEVICES: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	dur := 2 * time.Minute
	if s := os.Getenv("HALO_FLEET_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		dur = d
	}
	bin := buildHalo(b)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			for range b.N {
				r := runFleet(b, bin, n, dur, 1, "")
				b.ReportMetric(r.lagP50, "lag-p50-s")
				b.ReportMetric(r.lagMax, "lag-max-s")
				b.ReportMetric(r.reqPerSec, "req/s")
				b.ReportMetric(r.eventsPerSec, "events/s")
				b.ReportMetric(float64(r.sim.Errors), "sim-errors")
				b.Logf("%d devices, %v: %s; pipeline lag over the second half p50 %.3fs max %.3fs (first half max %.3fs); %.0f requests/s, %.0f events/s through the pipeline; halo up max RSS %d MiB",
					n, dur, r.simLine, r.lagP50, r.lagMax, r.lagMaxFirst, r.reqPerSec, r.eventsPerSec, r.maxRSS>>20)
			}
		})
	}
}

// BenchmarkFalsePositives runs a benign fleet (no attacks) at normal rates
// with the default windows and every detector, and reports the alerts
// raised per 100 device-hours (budget: 1). Size HALO_FP_DEVICES (default
// 200), duration HALO_FP_DURATION (default 10m): 33 device-hours. Run with
// -benchtime 1x. HALO_UP_ARGS adds flags to halo up (both benchmarks).
func BenchmarkFalsePositives(b *testing.B) {
	longBench(b)
	n, dur := 200, 10*time.Minute
	if s := os.Getenv("HALO_FP_DEVICES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("HALO_FP_DURATION"); s != "" {
		dur, _ = time.ParseDuration(s)
	}
	bin := buildHalo(b)
	for range b.N {
		r := runFleet(b, bin, n, dur, 1, "")
		hours := float64(n) * dur.Hours()
		per100 := float64(len(r.alerts)) / hours * 100
		b.ReportMetric(per100, "alerts/100-device-hours")
		b.ReportMetric(float64(len(r.alerts)), "alerts")
		byDet := map[string]int{}
		for _, a := range r.alerts {
			byDet[a]++
		}
		b.Logf("%d devices × %v = %.1f device-hours, %d alerts (%.2f per 100 device-hours) by detector %v; %s", n, dur, hours, len(r.alerts), per100, byDet, r.simLine)
	}
}

type fleetResult struct {
	sim struct {
		Requests int64 `json:"requests"`
		Errors   int64 `json:"errors"`
	}
	simLine                     string
	lagP50, lagMax, lagMaxFirst float64
	reqPerSec, eventsPerSec     float64
	maxRSS                      int64
	sampled                     int
	alerts                      []string // detectors of the alerts raised
}

func runFleet(b testing.TB, bin string, n int, dur time.Duration, rate float64, attacks string) fleetResult {
	b.Helper()
	data := filepath.Join(b.TempDir(), "data")
	api, edge := freeAddr(b), freeAddr(b)
	upArgs := []string{"up", "--data", data, "--api-addr", api, "--edge-addr", edge, "--edge-resolve", "*.sim.halo.test=127.0.0.1"}
	upArgs = append(upArgs, strings.Fields(os.Getenv("HALO_UP_ARGS"))...) // e.g. --detector-option anomaly.fpr=0.0002
	up := exec.Command(bin, upArgs...)
	upErr := &syncBuffer{}
	up.Stderr = upErr
	if err := up.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { up.Process.Signal(os.Interrupt); up.Wait() }()
	for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(upErr.String(), "halo is up:"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("halo up did not start:\n%s", upErr)
		}
	}
	out, err := exec.Command(bin, "tenants", "create", "fleet", "--data", data).Output()
	if err != nil {
		b.Fatal(err)
	}
	token := strings.TrimSpace(string(out[bytes.LastIndexByte(bytes.TrimSpace(out), '\n')+1:]))
	args := []string{"sim", "--data", data, "--edge", edge, "--tenant", "fleet", "--devices", strconv.Itoa(n), "--duration", dur.String(),
		"--rate", strconv.FormatFloat(rate, 'f', -1, 64), "--no-progress"}
	if attacks != "" {
		args = append(args, "--attacks", attacks)
	}
	sim := exec.Command(bin, args...)
	var simOut bytes.Buffer
	simErr := &syncBuffer{}
	sim.Stdout, sim.Stderr = &simOut, simErr
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	// Sample the pipeline's lag and events while the fleet runs (after
	// enrolment: once the simulator logs that it runs).
	type sample struct {
		at     time.Time
		lag    float64
		events float64
	}
	var (
		mu      sync.Mutex
		samples []sample
		maxRSS  int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			m := scrape("http://" + api + "/metrics")
			mu.Lock()
			if m["process_resident_memory_bytes"] > float64(maxRSS) {
				maxRSS = int64(m["process_resident_memory_bytes"])
			}
			if strings.Contains(simErr.String(), "simulated fleet running") {
				samples = append(samples, sample{time.Now(), m["halo_pipeline_lag_seconds"], m["halo_pipeline_events_total"]})
			}
			mu.Unlock()
		}
	})
	if err := sim.Wait(); err != nil {
		close(stop)
		wg.Wait()
		b.Fatalf("halo sim: %v\n%s", err, tailB(simErr.String(), 3000))
	}
	close(stop)
	wg.Wait()
	var r fleetResult
	if err := json.Unmarshal(simOut.Bytes(), &r.sim); err != nil {
		b.Fatalf("sim output %q: %v", simOut.String(), err)
	}
	r.simLine = "halo sim: " + strings.TrimSpace(simOut.String())
	r.maxRSS = maxRSS
	if len(samples) >= 4 {
		half := samples[len(samples)/2:]
		var lags []float64
		for _, s := range half {
			lags = append(lags, s.lag)
			r.lagMax = max(r.lagMax, s.lag)
		}
		for _, s := range samples[:len(samples)/2] {
			r.lagMaxFirst = max(r.lagMaxFirst, s.lag)
		}
		sort.Float64s(lags)
		r.lagP50 = lags[len(lags)/2]
		first, last := half[0], half[len(half)-1]
		r.eventsPerSec = (last.events - first.events) / last.at.Sub(first.at).Seconds()
	}
	r.reqPerSec = float64(r.sim.Requests) / dur.Seconds()
	r.sampled = len(samples)
	// Alerts raised for the tenant (after the last windows close).
	time.Sleep(70 * time.Second)
	req, _ := http.NewRequest(http.MethodGet, "http://"+api+"/v1/alerts?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		var al struct {
			Alerts []struct{ Detector, Summary, Explanation, Device string } `json:"alerts"`
		}
		json.NewDecoder(resp.Body).Decode(&al)
		resp.Body.Close()
		for i, a := range al.Alerts {
			r.alerts = append(r.alerts, a.Detector)
			if i < 20 {
				b.Logf("alert: %s %s %s: %s", a.Device, a.Detector, a.Summary, a.Explanation)
			}
		}
	}
	return r
}

// longBench skips the long runs unless HALO_LONG_BENCH=1 (go tool task
// bench-fleet): they take minutes each, too long for go tool task bench.
func longBench(b *testing.B) {
	if os.Getenv("HALO_LONG_BENCH") != "1" {
		b.Skip("a long run: set HALO_LONG_BENCH=1 or use go tool task bench-fleet")
	}
}

// scrape reads Prometheus text metrics without labels.
func scrape(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") || strings.Contains(l, "{") {
			continue
		}
		k, v, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[k] = f
		}
	}
	return out
}

func tailB(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
