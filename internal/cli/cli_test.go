package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/events/storetest"
)

// run runs Main with args and returns its exit code and outputs.
func run(ctx context.Context, t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	// A cancelled context: should a case pass validation by mistake, the
	// command stops at once instead of running.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(data, "typo.yaml")
	if err := os.WriteFile(typo, []byte("rules:\n  - detector: beconing\n    min_severity: high\n    actions: [quarantine]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string // substrings of standard error
	}{
		{[]string{"events", "ls", "--type", "conn.bogus"}, []string{`invalid argument "conn.bogus" for "--type" flag`, "unknown event type", "conn.opened, conn.closed"}},
		{[]string{"events", "ls", "--type", "conn_opened"}, []string{`did you mean "conn.opened"`}},
		{[]string{"events", "tail", "--type", "alert.raised,nope"}, []string{`unknown event type "nope"`}},
		{[]string{"events", "ls", "--from", "yesterday"}, []string{`"--from" flag`, "RFC 3339", "duration ago"}},
		{[]string{"events", "ls", "--to", "-2h"}, []string{`"--to" flag`, "negative"}},
		{[]string{"events", "ls", "--from", "2026-11-28", "--to", "2026-11-27"}, []string{"--from 2026-11-28T00:00:00Z is not before --to 2026-11-27T00:00:00Z"}},
		{[]string{"replay", "--out", data, "--from", "2026-11-28", "--to", "2026-11-28"}, []string{"--from 2026-11-28T00:00:00Z is not before --to 2026-11-28T00:00:00Z"}},
		{[]string{"replay", "--out", filepath.Join(data, "file")}, []string{"--out " + filepath.Join(data, "file") + " is a file"}},
		{[]string{"export", "--out", filepath.Join(data, "file")}, []string{"is a file: give a directory"}},
		{[]string{"incident", "x", "--out", filepath.Join(data, "file")}, []string{"is a file: give a directory"}},
		{[]string{"policy", "set", typo, "--tenant", "acme", "--data", data}, []string{`rule 1: unknown detector "beconing"`, "beaconing"}},
		{[]string{"replay", "--policy", typo, "--out", data}, []string{`--policy ` + typo + `: rule 1: unknown detector "beconing"`}},
		{[]string{"events", "ls", "--tenant", "acme corp"}, []string{"invalid tenant name"}},
		{[]string{"events", "ls", "--device", "pos/1"}, []string{"invalid device id"}},
		{[]string{"events", "ls", "--nats", "http://nats:4222"}, []string{"invalid --nats", "nats://HOST:PORT"}},
		{[]string{"events", "ls", "--data", data, "--nats-creds", "/etc/halo.creds"}, []string{"--nats-creds needs --nats"}},
		{[]string{"events", "tail", "--to", "1h"}, []string{"unknown flag: --to"}},
		{[]string{"events", "ls", "extra"}, []string{"takes no arguments"}},
		{[]string{"events", "list"}, []string{`unknown command "list" for "halo events"`}},
		{[]string{"events", "tial"}, []string{`did you mean tail`}},
		{[]string{"evnets"}, []string{`unknown command "evnets" for "halo"`, "did you mean events"}},
		{[]string{"up", "--data", data, "--api-addr", "localhost"}, []string{`invalid argument "localhost" for "--api-addr" flag`, "HOST:PORT"}},
		{[]string{"up", "--data", data, "--edge-addr", "127.0.0.1:99999"}, []string{`"--edge-addr" flag`, "1 to 65535"}},
		{[]string{"up", "--data", data, "--edge-addr", "127.0.0.1:0"}, []string{`"--edge-addr" flag`, "port 0 is not allowed"}},
		{[]string{"up", "--data", data, "--edge-addr", "not a host:80"}, []string{`"--edge-addr" flag`, "neither an IP address nor a host name"}},
		{[]string{"up", "--data", data, "--edge-addr", "127.0.0.1:9000", "--api-addr", "127.0.0.1:9000"}, []string{"give them different ports"}},
		{[]string{"up", "--data", data, "--partitions", "0", "--sync-interval", "10s"}, []string{"invalid --partitions 0"}},
		{[]string{"up", "--data", data, "--sync-interval", "never"}, []string{`"--sync-interval" flag`, `"always"`}},
		{[]string{"up", "--data", data, "--retention-bytes", "lots"}, []string{`"--retention-bytes" flag`, "10GiB"}},
		{[]string{"--log-level", "loud", "version"}, []string{`"--log-level" flag`, "debug, info, warn, error"}},
		{[]string{"--log-format", "xml", "version"}, []string{`"--log-format" flag`, "text, json"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := run(ctx, t, tc.args...)
			if code != ExitUsage {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, ExitUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("standard output %q, want nothing", stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("standard error lacks %q:\n%s", w, stderr)
				}
			}
			if !strings.Contains(stderr, "--help' for usage") {
				t.Errorf("standard error does not point to --help:\n%s", stderr)
			}
		})
	}
}

// TestReadersNeedALog: the commands that only read the log, or change what
// it holds, fail on a data directory without one and leave it alone; they
// made an empty log there before, so a mistyped --data read nothing and
// said nothing.
func TestReadersNeedALog(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "typo")
	out := t.TempDir()
	for _, args := range [][]string{
		{"events", "ls"}, {"events", "tail"}, {"replay", "--out", out}, {"incident", "x", "--out", out},
		{"export", "--out", out}, {"models", "ls"}, {"models", "rollback", "--tenant", "acme", "--cohort", "c"},
		{"tenants", "ls"}, {"tenants", "token", "add", "--tenant", "acme"}, {"devices", "ls"},
		{"devices", "revoke", "--device", "pos-1"}, {"devices", "quarantine", "--device", "pos-1"},
		{"devices", "release", "--device", "pos-1"}, {"block", "ls", "--tenant", "acme"},
		{"block", "rm", "b-1"}, {"policy", "show", "--tenant", "acme"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := run(ctx, t, append(args, "--data", data)...)
			if code != ExitFailure || stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, stdout, ExitFailure)
			}
			if want := "no event log in " + data; !strings.Contains(stderr, want) {
				t.Errorf("standard error lacks %q:\n%s", want, stderr)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the command made %s (stat: %v)", data, err)
			}
		})
	}
}

func TestInterruptedExitCodes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// ls runs to completion: interrupted is a failure of its own (130).
	if code, stdout, stderr := run(ctx, t, "events", "ls", "--data", t.TempDir()); code != ExitInterrupted || stdout != "" {
		t.Errorf("events ls: exit %d, stdout %q, stderr:\n%s; want %d and nothing", code, stdout, stderr, ExitInterrupted)
	}
	// tail and up run until interrupted: that is a clean stop (0).
	if code, _, stderr := run(ctx, t, "events", "tail", "--data", t.TempDir()); code != ExitOK {
		t.Errorf("events tail: exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, stderr := run(ctx, t, "up", "--data", t.TempDir(), "--api-addr", "127.0.0.1:0"); code != ExitOK {
		t.Errorf("up: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr := run(context.Background(), t, args...)
		if code != 0 || !strings.HasPrefix(stdout, "halo ") || !strings.Contains(stdout, "go1.") || stderr != "" {
			t.Errorf("%v: code %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// TestHelpEverywhere checks that every command has help with examples and
// every flag a description with an example.
func TestHelpEverywhere(t *testing.T) {
	root := newRootCmd(&app{})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" {
			return
		}
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%s: missing Short, Long or Example", c.CommandPath())
		}
		check := func(f *pflag.Flag) {
			if f.Name == "help" || f.Name == "version" {
				return
			}
			if !strings.Contains(f.Usage, "e.g.") {
				t.Errorf("%s --%s: usage %q has no example", c.CommandPath(), f.Name, f.Usage)
			}
		}
		c.LocalFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
		code, stdout, _ := run(context.Background(), t, append(strings.Fields(c.CommandPath())[1:], "--help")...)
		if code != 0 || !strings.Contains(stdout, "Examples:") {
			t.Errorf("%s --help: exit %d, output:\n%s", c.CommandPath(), code, stdout)
		}
	}
	walk(root)
}

func testEvent(tenant, device string, p events.Payload, at time.Time) events.Event {
	ev := events.New(tenant, device, p)
	ev.Time = at
	return ev
}

func TestWriteEvents(t *testing.T) {
	now := time.Now().UTC()
	evs := []events.Event{
		testEvent("acme", "pos-1", &events.ConnOpened{ConnId: "c1", DstHost: "pay.example.com", DstPort: 443}, now),
		testEvent("acme", "pos-1", &events.ConnClosed{ConnId: "c1"}, now),
	}
	boom := errors.New("boom")
	seq := func(fail bool) iter.Seq2[events.Event, error] {
		return func(yield func(events.Event, error) bool) {
			for _, ev := range evs {
				if !yield(ev, nil) {
					return
				}
			}
			if fail {
				yield(events.Event{}, boom)
			}
		}
	}

	var out bytes.Buffer
	n, err := writeEvents(&out, seq(false))
	if err != nil || n != 2 {
		t.Fatalf("writeEvents = %d, %v", n, err)
	}
	checkLines(t, out.String(), evs)

	out.Reset()
	n, err = writeEvents(&out, seq(true))
	if !errors.Is(err, boom) || n != 2 {
		t.Fatalf("failing read: writeEvents = %d, %v; want 2 and boom", n, err)
	}
	checkLines(t, out.String(), evs) // what was read before the error is out
}

// checkLines asserts that out is exactly one JSON object per line, the
// events evs in order.
func checkLines(t *testing.T, out string, evs []events.Event) {
	t.Helper()
	if len(evs) == 0 {
		if out != "" {
			t.Fatalf("output %q, want nothing", out)
		}
		return
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end with a newline: %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(evs), out)
	}
	for i, line := range lines {
		// The log stamps Recorded and Seq: take them from the line.
		var stamped struct {
			Recorded *time.Time `json:"recorded"`
			Seq      uint64     `json:"seq"`
		}
		if err := json.Unmarshal([]byte(line), &stamped); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", i+1, err, line)
		}
		ev := evs[i]
		if stamped.Recorded != nil {
			ev.Recorded = *stamped.Recorded
		}
		ev.Seq = stamped.Seq
		if want := string(ev.AppendJSON(nil)); line != want {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, line, want)
		}
	}
}

// fakeSub hands out deliveries, then blocks until its context ends. Before
// each delivery after the first, it checks that the previous one was
// written out already.
type fakeSub struct {
	t          *testing.T
	deliveries [][]events.Event
	out        *syncBuffer
	next       int
	acked      int
	wantBefore int // lines expected on out before the next delivery
}

func (s *fakeSub) Next(ctx context.Context) (events.Delivery, error) {
	if got := strings.Count(s.out.String(), "\n"); got != s.wantBefore {
		s.t.Errorf("before delivery %d: %d lines written, want %d (not flushed?)", s.next, got, s.wantBefore)
	}
	if s.next == len(s.deliveries) {
		<-ctx.Done()
		return events.Delivery{}, ctx.Err()
	}
	evs := s.deliveries[s.next]
	s.next++
	s.wantBefore += len(evs)
	return events.NewDelivery(evs, uint64(s.next), func(context.Context) error { s.acked++; return nil }), nil
}

func (s *fakeSub) Close() error { return nil }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestFollow(t *testing.T) {
	now := time.Now().UTC()
	a := testEvent("acme", "pos-1", &events.ConnOpened{ConnId: "c1"}, now)
	b := testEvent("acme", "pos-2", &events.ConnOpened{ConnId: "c2"}, now)
	c := testEvent("acme", "pos-1", &events.ConnClosed{ConnId: "c1"}, now)
	out := &syncBuffer{}
	sub := &fakeSub{t: t, deliveries: [][]events.Event{{a, b}, {}, {c}}, out: out}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var n int
	var err error
	go func() { n, err = follow(ctx, sub, out, func(uint64) {}); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if err != nil || n != 3 {
		t.Fatalf("follow = %d, %v; want 3, nil after cancel", n, err)
	}
	if sub.acked != 3 {
		t.Errorf("%d deliveries acknowledged, want 3", sub.acked)
	}
	checkLines(t, out.String(), []events.Event{a, b, c})
}

// TestImportErrorNamesTheFileOnce: a file that is no conn.log fails the
// import with an error that names it once (the command named it again).
func TestImportErrorNamesTheFileOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(file, []byte("not a log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(context.Background(), t, "import", "zeek", "--data", t.TempDir(), "--tenant", "acme", file)
	if code != ExitFailure || !strings.Contains(stderr, "not a conn.log") || strings.Count(stderr, file) != 1 {
		t.Fatalf("exit %d, want %d and an error naming %s once:\n%s", code, ExitFailure, file, stderr)
	}
}

// TestUnknownTenant: --tenant naming no tenant of the log is an error that
// lists those there are, for the commands that list or show a tenant's
// things (they printed nothing, or Halo's default policy, silently), and a
// warning for replay and export (whose reports then say 0 events).
func TestUnknownTenant(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	if code, _, stderr := run(ctx, t, "tenants", "create", "acme", "--data", data); code != ExitOK {
		t.Fatalf("tenants create: exit %d:\n%s", code, stderr)
	}
	for _, args := range [][]string{{"devices", "ls"}, {"block", "ls"}, {"policy", "show"}, {"models", "ls"}} {
		code, stdout, stderr := run(ctx, t, append(args, "--data", data, "--tenant", "acme-typo")...)
		if code != ExitFailure || stdout != "" || !strings.Contains(stderr, `no tenant "acme-typo" in the event log (tenants: acme)`) {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant %d, nothing, and the error", args, code, stdout, stderr, ExitFailure)
		}
		if code, _, stderr := run(ctx, t, append(args, "--data", data, "--tenant", "acme")...); code != ExitOK {
			t.Errorf("%v --tenant acme: exit %d:\n%s", args, code, stderr)
		}
	}
	for _, args := range [][]string{{"replay"}, {"export"}} {
		code, _, stderr := run(ctx, t, append(args, "--data", data, "--tenant", "acme-typo", "--out", t.TempDir())...)
		if code != ExitOK || !strings.Contains(stderr, `warning: no tenant "acme-typo"`) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant 0 and a warning", args, code, stderr)
		}
	}
}

// TestTrimmedLogWarns: replay and export of a range that starts before the
// oldest event the log's retention kept say so (the report said nothing
// of the events gone); a range inside what it holds, or a log that never
// lost any, does not.
func TestTrimmedLogWarns(t *testing.T) {
	ctx := context.Background()
	trimmedDir, fullDir := t.TempDir(), t.TempDir()
	for _, c := range []struct {
		dir      string
		maxBytes int64
	}{{trimmedDir, 64 << 10}, {fullDir, 0}} {
		s, err := natsstore.Open(ctx, natsstore.Config{DataDir: c.dir, Mode: natsstore.ModeServe, MaxBytes: c.maxBytes}, nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now().Add(-time.Hour)
		for i := range 20 {
			if err := s.Append(ctx, storetest.Traffic("acme", fmt.Sprintf("pos-%d", i), start.Add(time.Duration(i)*time.Minute), 100)...); err != nil {
				t.Fatal(err)
			}
		}
		if trimmed, _, err := s.Trimmed(ctx); err != nil || trimmed != (c.maxBytes > 0) {
			t.Fatalf("Trimmed: %v %v, want %v", trimmed, err, c.maxBytes > 0)
		}
		s.Close()
	}
	const warning = "warning: the log's retention removed its oldest events"
	for _, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"replay", "--data", trimmedDir}, true},
		{[]string{"export", "--data", trimmedDir}, true},
		{[]string{"replay", "--data", trimmedDir, "--from", "2h", "--warmup", "0s"}, true},
		{[]string{"replay", "--data", trimmedDir, "--from", time.Now().Add(time.Minute).UTC().Format(time.RFC3339), "--warmup", "0s"}, false},
		{[]string{"replay", "--data", fullDir}, false},
	} {
		code, _, stderr := run(ctx, t, append(tc.args, "--out", t.TempDir())...)
		if code != ExitOK || strings.Contains(stderr, warning) != tc.warn {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant 0, and the warning: %v", tc.args, code, stderr, tc.warn)
		}
	}
}

// TestBlockAddNeedsItsTarget: halo block add for a tenant, or a device of
// it, that the log does not hold fails naming what is missing (the block
// was recorded and enforced on nothing; the API refuses it already).
func TestBlockAddNeedsItsTarget(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	if code, _, stderr := run(ctx, t, "tenants", "create", "acme", "--data", data); code != ExitOK {
		t.Fatalf("tenants create: %d %s", code, stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tenant", "acme-typo"}, `no tenant "acme-typo" in the event log (tenants: acme)`},
		{[]string{"--tenant", "acme", "--device", "pos-404"}, `no device "pos-404" in tenant acme`},
	} {
		code, stdout, stderr := run(ctx, t, append([]string{"block", "add", "--data", data, "--host", "evil.example"}, tc.args...)...)
		if code != ExitFailure || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("block add %v: exit %d, stdout %q, stderr:\n%s\nwant %d and %q", tc.args, code, stdout, stderr, ExitFailure, tc.want)
		}
	}
	pol := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(pol, []byte("rules:\n  - detector: scan\n    min_severity: high\n    actions: [notify]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(ctx, t, "policy", "set", pol, "--data", data, "--tenant", "acme-typo"); code != ExitFailure || !strings.Contains(stderr, `no tenant "acme-typo"`) {
		t.Errorf("policy set for no tenant: exit %d:\n%s", code, stderr)
	}
	if code, stdout, stderr := run(ctx, t, "block", "add", "--data", data, "--tenant", "acme", "--host", "evil.example"); code != ExitOK || !strings.HasPrefix(stdout, "iv-") {
		t.Fatalf("block add for the tenant: exit %d, stdout %q:\n%s", code, stdout, stderr)
	}
}
