package natsstore

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/storetest"
)

// The external backend is tested against a separate nats-server process,
// built from the nats-server module this repository already requires, so the
// test needs nothing installed.

var (
	natsServerOnce sync.Once
	natsServerBin  string
	natsServerErr  error
)

func natsServerBinary(t *testing.T) string {
	t.Helper()
	natsServerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "halo-nats-server-")
		if err != nil {
			natsServerErr = err
			return
		}
		natsServerBin = filepath.Join(dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", natsServerBin, "github.com/nats-io/nats-server/v2")
		out, err := cmd.CombinedOutput()
		if err != nil {
			natsServerErr = fmt.Errorf("building nats-server: %v\n%s", err, out)
		}
	})
	if natsServerErr != nil {
		t.Fatal(natsServerErr)
	}
	return natsServerBin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// externalLog is a nats-server process with JetStream and nkey auth.
type externalLog struct {
	t    *testing.T
	bin  string
	dir  string
	seed string
	port int
	opts storetest.Options
	cmd  *exec.Cmd
}

func newExternalLog(t *testing.T, o storetest.Options) storetest.Log {
	l := &externalLog{t: t, bin: natsServerBinary(t), dir: t.TempDir(), port: freePort(t), opts: o}
	l.seed = writeSeed(t)
	_, pub, err := loadOrCreateSeed(filepath.Dir(l.seed))
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q }\nauthorization { users = [ { nkey: %q } ] }\n", l.port, filepath.Join(l.dir, "js"), pub)
	if err := os.WriteFile(filepath.Join(l.dir, "nats.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	l.start(t)
	t.Cleanup(func() { l.stop(syscall.SIGTERM) })
	return l
}

func (l *externalLog) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", l.port) }

func (l *externalLog) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(l.bin, "-c", filepath.Join(l.dir, "nats.conf"))
	cmd.Stdout = nil
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", l.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nats-server did not listen on %d", l.port)
}

func (l *externalLog) stop(sig syscall.Signal) {
	if l.cmd == nil {
		return
	}
	l.cmd.Process.Signal(sig)
	l.cmd.Wait()
	l.cmd = nil
}

func (l *externalLog) Open(t *testing.T) events.Store {
	t.Helper()
	s, err := Open(context.Background(), Config{URL: l.url(), CredsFile: l.seed, DuplicateWindow: l.opts.DuplicateWindow, ManageStream: true}, testLogger(t))
	if err != nil {
		t.Fatalf("Open %s: %v", l.url(), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (l *externalLog) Restart(t *testing.T) {
	l.stop(syscall.SIGTERM)
	l.start(t)
}

// CrashAppend appends from this process and kills the nats-server process,
// which holds the data, with SIGKILL.
func (l *externalLog) CrashAppend(t *testing.T, evs []events.Event, after int) []events.ID {
	s := l.Open(t)
	defer s.Close()
	var acked []events.ID
	for i := range evs {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.Append(ctx, evs[i])
		cancel()
		if err != nil {
			break
		}
		acked = append(acked, evs[i].ID)
		if len(acked) == after {
			l.stop(syscall.SIGKILL)
		}
	}
	if len(acked) < after {
		t.Fatalf("only %d acknowledged before the kill", len(acked))
	}
	l.start(t)
	return acked
}

func (l *externalLog) PublishRaw(t *testing.T, subject string, data []byte) {
	publishRaw(t, l.url(), l.seed, subject, data)
}

func (l *externalLog) DialWithoutCredentials(t *testing.T) error {
	return dialWithout(t, l.url())
}

func TestExternalContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a nats-server process; run without -short")
	}
	storetest.Run(t, newExternalLog)
}

func TestExternalUnreachable(t *testing.T) {
	_, err := Open(context.Background(), Config{URL: fmt.Sprintf("nats://127.0.0.1:%d", freePort(t)), ConnectTimeout: time.Second}, nil)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Open of a dead URL: %v, want an 'unreachable' error", err)
	}
}
