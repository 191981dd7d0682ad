package natsstore

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/storetest"
)

// The crash test re-executes the test binary as the process that holds the
// log: it serves the data directory, appends, and reports each acknowledged
// event id on standard output until it is killed.
const childEnv = "HALO_NATSSTORE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "crash-append" {
		os.Exit(crashChild(os.Getenv("HALO_DATA"), os.Getenv("HALO_EVENTS")))
	}
	os.Exit(m.Run())
}

func crashChild(dir, eventsFile string) int {
	b, err := os.ReadFile(eventsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	evs, _, err := events.DecodeBatch(nil, b)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s, err := Open(context.Background(), Config{DataDir: dir, Mode: ModeServe}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	for i := range evs {
		if err := s.Append(context.Background(), evs[i]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		fmt.Fprintln(out, evs[i].ID)
		out.Flush()
	}
	// Wait to be killed.
	time.Sleep(time.Minute)
	return 0
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// embeddedLog is a log served by an embedded server in a temp data dir.
type embeddedLog struct {
	dir  string
	opts storetest.Options
}

func newEmbeddedLog(t *testing.T, o storetest.Options) storetest.Log {
	return &embeddedLog{dir: t.TempDir(), opts: o}
}

func (l *embeddedLog) config() Config {
	return Config{DataDir: l.dir, DuplicateWindow: l.opts.DuplicateWindow, ManageStream: true}
}

func (l *embeddedLog) Open(t *testing.T) events.Store {
	t.Helper()
	s, err := Open(context.Background(), l.config(), testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Restart: the embedded server stops with the last store closed; the next
// Open starts it again on the same files.
func (l *embeddedLog) Restart(t *testing.T) {
	if _, ok := readServerInfo(l.dir); ok {
		t.Fatal("the server still advertises itself after its store was closed")
	}
}

func (l *embeddedLog) CrashAppend(t *testing.T, evs []events.Event, after int) []events.ID {
	t.Helper()
	var buf []byte
	for i := range evs {
		var err error
		if buf, err = events.AppendBatch(buf, &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	file := l.dir + "-events.bin"
	if err := os.WriteFile(file, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=crash-append", "HALO_DATA="+l.dir, "HALO_EVENTS="+file)
	cmd.Stderr = testWriter{t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return readAcksAndKill(t, stdout, after, func() {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Errorf("SIGKILL: %v", err)
		}
	}, func() { cmd.Wait() })
}

// readAcksAndKill reads acknowledged ids, one per line, kills the log's
// process after `after` of them, and keeps every line written before death.
func readAcksAndKill(t *testing.T, r interface{ Read([]byte) (int, error) }, after int, kill, wait func()) []events.ID {
	t.Helper()
	sc := bufio.NewScanner(r)
	var acked []events.ID
	killed := false
	for sc.Scan() {
		id, err := events.ParseID(sc.Text())
		if err != nil {
			t.Fatalf("child wrote %q: %v", sc.Text(), err)
		}
		acked = append(acked, id)
		if len(acked) == after && !killed {
			kill()
			killed = true
		}
	}
	wait()
	if !killed {
		t.Fatalf("the appender stopped after %d acknowledgements, before the kill", len(acked))
	}
	return acked
}

func (l *embeddedLog) PublishRaw(t *testing.T, subject string, data []byte) {
	t.Helper()
	si, ok := readServerInfo(l.dir)
	if !ok {
		t.Fatal("PublishRaw needs the log to be open")
	}
	publishRaw(t, si.URL, SeedFile(l.dir), subject, data)
}

func publishRaw(t *testing.T, url, seed, subject string, data []byte) {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), subject, data); err != nil {
		t.Fatalf("publishing raw bytes: %v", err)
	}
}

func (l *embeddedLog) DialWithoutCredentials(t *testing.T) error {
	s := l.Open(t)
	defer s.Close()
	return dialWithout(t, s.(*Store).ClientURL())
}

func dialWithout(t *testing.T, url string) error {
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
	if err == nil {
		nc.Close()
		return nil
	}
	t.Logf("no credentials: %v", err)
	wrong, _ := nats.NkeyOptionFromSeed(writeSeed(t))
	nc, err = nats.Connect(url, wrong, nats.Timeout(2*time.Second))
	if err == nil {
		nc.Close()
		return nil
	}
	t.Logf("wrong credentials: %v", err)
	return err
}

func writeSeed(t *testing.T) string {
	dir := t.TempDir()
	if _, _, err := loadOrCreateSeed(dir); err != nil {
		t.Fatal(err)
	}
	return dir + "/" + seedFileName
}

func TestEmbeddedContract(t *testing.T) {
	storetest.Run(t, newEmbeddedLog)
}
