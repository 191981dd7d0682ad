package cli

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestDetectorOptionFlag(t *testing.T) {
	f := pipelineFlags{options: []string{"beaconing.min_interval=2s", "scan.min_targets=30", "beaconing.max_cv=0.3"}}
	cfg, err := f.config()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{"beaconing": {"min_interval": "2s", "max_cv": "0.3"}, "scan": {"min_targets": "30"}}
	for d, o := range want {
		for k, v := range o {
			if cfg.DetectorOptions[d][k] != v {
				t.Errorf("%s.%s = %q, want %q", d, k, cfg.DetectorOptions[d][k], v)
			}
		}
	}
	for bad, says := range map[string]string{
		"beaconing":                 "DETECTOR.OPTION=VALUE",
		"nosuch.x=1":                `unknown detector "nosuch"`,
		"scan.min_targets=-3":       "min_targets",
		"beaconing.min_interval=":   "DETECTOR.OPTION=VALUE",
		"beaconing.min_interval=ab": "min_interval",
	} {
		f := pipelineFlags{options: []string{bad}}
		_, err := f.config()
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), says) {
			t.Errorf("--detector-option %q: %v, want a usage error saying %q", bad, err, says)
		}
	}
}

func TestStaticHostsWildcard(t *testing.T) {
	f := edgeFlags{resolve: []string{"*.Sim.Halo.Test=127.0.0.1", "pay.example=10.0.0.5"}}
	m, err := f.staticHosts()
	if err != nil || m["*.sim.halo.test"].String() != "127.0.0.1" || m["pay.example"].String() != "10.0.0.5" {
		t.Fatalf("%v %v", m, err)
	}
}

// TestDemoPrepare: --demo takes a temporary data directory, 10 s windows
// and the simulator's names unless told otherwise.
func TestDemoPrepare(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	cmd := newUpCmd(a)
	if err := cmd.ParseFlags([]string{"--demo", "--lateness", "3s"}); err != nil {
		t.Fatal(err)
	}
	u := &upCmd{demo: demoFlags{on: true, devices: 12}}
	u.pipe.lateness.value = 3 * time.Second
	if err := u.demo.prepare(cmd.Flags(), u); err != nil {
		t.Fatal(err)
	}
	defer removeAll(t, u.demo.tempDir)
	if u.store.dataDir == "" || u.store.dataDir != u.demo.tempDir {
		t.Fatalf("data dir %q, temp %q", u.store.dataDir, u.demo.tempDir)
	}
	if u.pipe.window.value != demoWindow || u.pipe.lateness.value != 3*time.Second {
		t.Fatalf("window %v lateness %v", u.pipe.window.value, u.pipe.lateness.value)
	}
	if len(u.edge.resolve) != 1 || u.edge.resolve[0] != "*.sim.halo.test=127.0.0.1" {
		t.Fatalf("edge resolve %v", u.edge.resolve)
	}
	bad := &upCmd{demo: demoFlags{on: true, devices: 1}}
	if err := bad.demo.prepare(pflag.NewFlagSet("x", pflag.ContinueOnError), bad); err == nil {
		t.Fatal("--demo-devices 1 accepted")
	}
}

// TestSimUsageErrors: halo sim without --tenant, with a bad schedule or
// fleet size is a usage error; without an edge it fails at once.
func TestSimUsageErrors(t *testing.T) {
	for args, says := range map[string]string{
		"sim --data " + t.TempDir():                                         "--tenant is required",
		"sim --tenant acme --attacks nuke@1m --data " + t.TempDir():         `unknown attack "nuke"`,
		"sim --tenant acme --attacks replay@soon --data " + t.TempDir():     "offset",
		"sim --tenant acme --devices 0 --duration 1s --data " + t.TempDir(): "--devices 0",
	} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), strings.Fields(args), &out, &errb)
		if code != ExitUsage || !strings.Contains(errb.String(), says) {
			t.Errorf("halo %s: exit %d, stderr %q; want usage error saying %q", args, code, errb.String(), says)
		}
	}
	var out, errb bytes.Buffer
	start := time.Now()
	code := Main(context.Background(), []string{"sim", "--tenant", "acme", "--edge", "127.0.0.1:1", "--data", t.TempDir()}, &out, &errb)
	if code != ExitFailure || !strings.Contains(errb.String(), "no edge answers") || time.Since(start) > 20*time.Second {
		t.Fatalf("without an edge: exit %d after %v, stderr %q", code, time.Since(start), errb.String())
	}
}

func removeAll(t *testing.T, dir string) {
	t.Helper()
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	}
}

// TestSimWithoutUp: halo sim on a data directory no halo up runs on, with
// no --edge, says so and what to do (it said "no edge answers at the given
// address" of an address nobody gave).
func TestSimWithoutUp(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	if code, _, stderr := run(ctx, t, "tenants", "create", "shop", "--data", data); code != ExitOK {
		t.Fatalf("tenants create: %d %s", code, stderr)
	}
	// The default edge address, moved to a port nothing listens on (the
	// test skipped when something listened on 8443).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	defer func(d string) { defaultEdge = d }(defaultEdge)
	defaultEdge = addr
	code, _, stderr := run(ctx, t, "sim", "--data", data, "--tenant", "shop", "--devices", "1", "--duration", "1s", "--no-progress")
	if code != ExitFailure || !strings.Contains(stderr, "no halo up runs on "+data+", and no edge answers at the default "+addr) {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
