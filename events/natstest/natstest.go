// Package natstest runs a real nats-server process for tests: built once per
// test binary from the nats-server module this repository requires (so no
// installation is needed), with JetStream file storage in a temp dir, nkey
// authentication, and loopback only. Tests stop, kill and restart it to
// check what survives.
package natstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of a nats-server binary built for this test run.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "halo-nats-server-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "nats-server")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building nats-server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Server is a nats-server process.
type Server struct {
	// SeedFile is the nkey seed (mode 0600) that clients authenticate with.
	SeedFile string
	// Dir holds the server's configuration and JetStream files.
	Dir  string
	Port int

	bin string
	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts a fresh server; it is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{bin: Binary(t), Dir: t.TempDir(), Port: FreePort(t)}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	s.SeedFile = filepath.Join(s.Dir, "client.nk")
	if err := os.WriteFile(s.SeedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q }\nauthorization { users = [ { nkey: %q } ] }\n",
		s.Port, filepath.Join(s.Dir, "js"), pub)
	if err := os.WriteFile(filepath.Join(s.Dir, "nats.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	t.Cleanup(func() { s.Stop() })
	return s
}

// URL is the client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }

// Restart starts the server again (after Stop or Kill) on the same port and
// files, and waits until it listens.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		t.Fatal("natstest: Restart of a running server")
	}
	cmd := exec.Command(s.bin, "-c", filepath.Join(s.Dir, "nats.conf"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("natstest: nats-server did not listen on %d", s.Port)
}

// Stop shuts the server down gracefully. Safe to call when stopped.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill kills the server with SIGKILL, as a crash would.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	s.cmd.Wait()
	s.cmd = nil
}
