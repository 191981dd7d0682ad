package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestUpEndToEnd builds the halo binary and runs it as a user would: halo
// up on a fresh data directory, /healthz until ready, halo events ls
// against the running process, a second halo up refused on the same data
// directory, then SIGTERM and a clean exit.
func TestUpEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "halo")
	build := exec.Command(goBin, "build", "-buildvcs=false", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(tmp, "data")
	apiAddr, edgeAddr := freeAddr(t), freeAddr(t)

	up := exec.Command(bin, "up", "--data", data, "--api-addr", apiAddr, "--edge-addr", edgeAddr)
	var upOut bytes.Buffer
	upErr := &syncBuffer{}
	up.Stdout, up.Stderr = &upOut, upErr
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	defer func() {
		if up.ProcessState == nil {
			_ = up.Process.Kill()
			<-exited
		}
	}()

	// /healthz: 503 "starting" (if we catch it) until ready, then 200.
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	var body string
	for {
		if time.Now().After(deadline) {
			t.Fatalf("/healthz not ready within 60s; last body %q; stderr:\n%s", body, upErr)
		}
		select {
		case err := <-exited:
			t.Fatalf("halo up exited early: %v; stderr:\n%s", err, upErr)
		default:
		}
		resp, err := client.Get("http://" + apiAddr + "/healthz")
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if resp.StatusCode == http.StatusOK {
			break
		}
		var rep struct {
			Status string            `json:"status"`
			Roles  map[string]string `json:"roles"`
		}
		jerr := json.Unmarshal(b, &rep)
		notReady := 0
		for _, st := range rep.Roles {
			if st != "ready" {
				notReady++
			}
		}
		if resp.StatusCode != http.StatusServiceUnavailable || jerr != nil || rep.Status != "starting" ||
			rep.Roles["eventlog"] == "" || rep.Roles["edge"] == "" || rep.Roles["pipeline"] == "" || notReady == 0 {
			t.Fatalf("before ready: %d %q, want 503 with status starting and a role not ready", resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if want := `{"status":"ok","roles":{"api":"ready","edge":"ready","eventlog":"ready","pipeline":"ready"}}` + "\n"; body != want {
		t.Errorf("ready body %q, want %q", body, want)
	}
	waitFor(t, func() bool { return strings.Contains(upErr.String(), "halo is up:") }, upErr)
	for _, want := range []string{"http://" + apiAddr, "edge " + edgeAddr, "data " + data} {
		if !strings.Contains(upErr.String(), want) {
			t.Errorf("ready line lacks %q:\n%s", want, upErr)
		}
	}
	c, err := net.DialTimeout("tcp", edgeAddr, time.Second)
	if err != nil {
		t.Fatalf("the edge does not listen on %s: %v", edgeAddr, err)
	}
	c.Close()

	// halo events ls while halo up runs: it finds the running log through
	// the data directory; the log holds one event, the pipeline's settings
	// (pipeline.configured), once the pipeline is up.
	var lsOut, lsErr bytes.Buffer
	for deadline := time.Now().Add(10 * time.Second); ; {
		ls := exec.Command(bin, "events", "ls", "--data", data)
		lsOut.Reset()
		lsErr.Reset()
		ls.Stdout, ls.Stderr = &lsOut, &lsErr
		if err := runWithin(ls, 30*time.Second); err != nil {
			t.Fatalf("halo events ls: %v\nstderr:\n%s", err, &lsErr)
		}
		if lsOut.Len() != 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var listed struct {
		Type    string
		Tenant  string
		Payload struct {
			WindowNs int64 `json:"window_ns"`
		}
	}
	if err := json.Unmarshal(lsOut.Bytes(), &listed); err != nil || listed.Type != "pipeline.configured" || listed.Tenant != "" || listed.Payload.WindowNs != int64(time.Minute) {
		t.Errorf("halo events ls printed %q (%v), want the pipeline's settings alone", lsOut.String(), err)
	}
	if !strings.Contains(lsErr.String(), "count=1") {
		t.Errorf("halo events ls stderr lacks count=1:\n%s", &lsErr)
	}

	// A second halo up on the same data directory is refused, clearly.
	up2 := exec.Command(bin, "up", "--data", data, "--api-addr", freeAddr(t), "--edge-addr", freeAddr(t))
	var up2Err bytes.Buffer
	up2.Stderr = &up2Err
	err = runWithin(up2, 30*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(up2Err.String(), "halo up (pid ") {
		t.Errorf("second halo up: %v, stderr:\n%s\nwant exit 1 saying the data directory is served", err, &up2Err)
	}

	// SIGTERM: a clean stop, exit 0, within 10 s.
	if err := up.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("halo up after SIGTERM: %v; stderr:\n%s", err, upErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("halo up did not exit within 10s of SIGTERM; stderr:\n%s", upErr)
	}
	if upOut.Len() != 0 {
		t.Errorf("halo up wrote to standard output: %q", upOut.String())
	}
	if !strings.Contains(upErr.String(), "msg=stopped") {
		t.Errorf("halo up did not log its stop:\n%s", upErr)
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, never one it returned before in this test binary (the kernel may hand
// the same free port to two quick calls).
func freeAddr(t testing.TB) string {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		usedMu.Lock()
		dup := used[addr]
		used[addr] = true
		usedMu.Unlock()
		if !dup {
			return addr
		}
	}
}

var (
	usedMu sync.Mutex
	used   = map[string]bool{}
)

// runWithin runs cmd and kills it if it takes longer than d.
func runWithin(cmd *exec.Cmd, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return errors.New("timed out")
	}
}

func waitFor(t *testing.T, cond func() bool, stderr *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; stderr:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

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
