package publish

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
)

// The kill -9 test re-executes the test binary as an edge-like process that
// emits events at a steady rate through a Publisher with the default
// configuration, printing "<event id> <emit time ns> <last flush ns>" once
// Emit has returned (the last is Stats().LastFlush: how long the latest
// flush round trip took), until the parent kills it with SIGKILL.
const childEnv = "HALO_PUBLISH_CHILD"

// Child emission: every tick, one event for each of childDevices devices.
const (
	childTick    = time.Millisecond
	childDevices = 2
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "emit" {
		os.Exit(emitChild())
	}
	os.Exit(m.Run())
}

func emitChild() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 2 }
	ctx := context.Background()
	store, err := natsstore.Open(ctx, natsstore.Config{URL: os.Getenv("HALO_NATS_URL"), CredsFile: os.Getenv("HALO_NATS_SEED"),
		ConnectTimeout: time.Second, AckTimeout: 2 * time.Second}, nil)
	if err != nil {
		return fail(err)
	}
	p, err := New(Config{SpoolDir: os.Getenv("HALO_SPOOL")}, store, nil)
	if err != nil {
		return fail(err)
	}
	go p.Run(ctx)
	tenant := os.Getenv("HALO_TENANT")
	out := bufio.NewWriter(os.Stdout)
	tick := time.NewTicker(childTick)
	for seq := 0; ; seq++ {
		<-tick.C
		for d := range childDevices {
			ev := event(tenant, fmt.Sprintf("pos-%d", d), seq)
			if err := p.Emit(ev); err != nil {
				return fail(err)
			}
			fmt.Fprintf(out, "%s %d %d\n", ev.ID, ev.Time.UnixNano(), p.Stats().LastFlush)
		}
		out.Flush()
	}
}

// TestCrashLossBounded kills an emitting process with SIGKILL and counts the
// events it had emitted that never reached the log: they must all be from
// the last FlushInterval plus one flush round trip before the kill. The
// round trip is the longest flush the child reported in its last second;
// slack covers timer and scheduling delays on a busy machine (the race
// detector, other processes).
func TestCrashLossBounded(t *testing.T) {
	srv, store := startLog(t)
	const (
		runs  = 3
		slack = 100 * time.Millisecond
	)
	var summary []string
	for run := range runs {
		tenant := fmt.Sprintf("crash%d", run)
		spoolDir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=emit", "HALO_NATS_URL="+srv.URL(), "HALO_NATS_SEED="+srv.SeedFile,
			"HALO_SPOOL="+spoolDir, "HALO_TENANT="+tenant)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		type printed struct {
			id    events.ID
			at    time.Time
			flush time.Duration
		}
		lines := make(chan printed, 1<<16)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 3 {
					continue // cut by the kill
				}
				id, err1 := events.ParseID(f[0])
				ns, err2 := strconv.ParseInt(f[1], 10, 64)
				fl, err3 := strconv.ParseInt(f[2], 10, 64)
				if err1 == nil && err2 == nil && err3 == nil {
					lines <- printed{id, time.Unix(0, ns), time.Duration(fl)}
				}
			}
		}()
		// Let it emit for 1.5 s, plus a different phase against its flush
		// ticker in each run.
		var got []printed
		var killAt <-chan time.Time
		deadline := time.After(15 * time.Second)
	collect:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					cmd.Wait()
					t.Fatalf("run %d: the child exited early after %d events", run, len(got))
				}
				if got = append(got, l); len(got) == 1 {
					killAt = time.After(1500*time.Millisecond + time.Duration(run)*17*time.Millisecond)
				}
			case <-killAt:
				break collect
			case <-deadline:
				t.Fatalf("run %d: the child printed %d events in 15 s", run, len(got))
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		for l := range lines {
			got = append(got, l)
		}
		cmd.Wait()
		if len(got) < 100 {
			t.Fatalf("run %d: only %d events printed", run, len(got))
		}

		// Anything the child spooled is drained by a successor (nothing is
		// expected: the log was up).
		cfg := testConfig(t)
		cfg.SpoolDir = spoolDir
		succ := start(t, cfg, store)
		waitFor(t, 10*time.Second, "the successor to drain", func() bool { return succ.Stats().SpoolFiles == 0 && !succ.Spooling() })
		closeP(t, succ)
		drainedBySuccessor := succ.Stats().Drained

		inLog := map[events.ID]bool{}
		for ev, err := range store.Read(context.Background(), events.Query{Tenant: tenant}) {
			if err != nil {
				t.Fatal(err)
			}
			inLog[ev.ID] = true
		}
		var missing []printed
		for _, l := range got {
			if !inLog[l.id] {
				missing = append(missing, l)
			}
		}
		sort.Slice(missing, func(i, j int) bool { return missing[i].at.Before(missing[j].at) })
		last := got[len(got)-1].at
		for _, l := range got {
			if l.at.After(last) {
				last = l.at
			}
		}
		var roundTrip time.Duration
		recent := 0
		for _, l := range got {
			if last.Sub(l.at) <= time.Second {
				roundTrip = max(roundTrip, l.flush)
			}
		}
		bound := DefaultFlushInterval + roundTrip + slack
		for _, l := range got {
			if last.Sub(l.at) <= bound {
				recent++
			}
		}
		var window time.Duration
		if len(missing) > 0 {
			window = last.Sub(missing[0].at)
			// Everything missing must be recent: nothing older was lost.
			for _, m := range missing {
				if last.Sub(m.at) > bound {
					t.Errorf("run %d: event %s emitted %v before the last printed one was lost (bound %v)", run, m.id, last.Sub(m.at), bound)
					break
				}
			}
		}
		rate := float64(len(got)) / last.Sub(got[0].at).Seconds()
		if len(missing) > recent {
			t.Errorf("run %d: %d events lost, more than the %d emitted in the last %v", run, len(missing), recent, bound)
		}
		line := fmt.Sprintf("run %d: %d events printed at %.0f/s, killed %v after the last; lost %d events = %.1f ms of emission "+
			"(bound %v = flush interval + slowest recent flush %v + slack %v, %d events); successor drained %d",
			run, len(got), rate, killed.Sub(last).Round(time.Microsecond), len(missing), float64(window.Microseconds())/1000,
			bound.Round(time.Millisecond), roundTrip.Round(time.Microsecond), slack, recent, drainedBySuccessor)
		t.Log(line)
		summary = append(summary, line)
	}
	t.Logf("kill -9 loss with FlushInterval %v:\n%s", DefaultFlushInterval, strings.Join(summary, "\n"))
}
