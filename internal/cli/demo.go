package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/internal/fsutil"
	"github.com/halo-sec/halo/sim"
)

// The demo of halo up --demo: a tenant, a simulated fleet and attacks in its
// first minute and a half.
const (
	demoTenant  = "demo"
	demoDomain  = "sim.halo.test"
	demoWindow  = 10 * time.Second
	demoLate    = 2 * time.Second
	demoBeacon  = 5 * time.Second
	demoAttacks = "replay@10s,scan@15s,badcert@20s,beacon@5s,flood@30s,exfil@40s,replay@50s"
)

// demoFlags are halo up's --demo flags.
type demoFlags struct {
	on      bool
	devices int
	tempDir string // created for the demo's data, removed at the end
}

func (f *demoFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.on, "demo", false, "run a demo: a tenant \"demo\", a simulated fleet with attacks in its first minute, 10s windows; data in a temporary directory unless --data (e.g. --demo)")
	fs.IntVar(&f.devices, "demo-devices", 12, "devices of the --demo fleet (e.g. --demo-devices 50)")
}

// prepare adjusts halo up's settings for the demo before anything starts:
// a temporary data directory, short windows, the simulator's names.
func (f *demoFlags) prepare(fs *pflag.FlagSet, u *upCmd) error {
	if !f.on {
		return nil
	}
	if f.devices < 2 || f.devices > 10000 {
		return usageErrorf("--demo-devices %d: want 2 to 10000", f.devices)
	}
	if u.store.dataDir == "" && u.store.natsURL == "" {
		dir, err := os.MkdirTemp("", "halo-demo-")
		if err != nil {
			return err
		}
		f.tempDir = dir
		u.store.dataDir = dir
	}
	if !changed(fs, "window") {
		u.pipe.window.value = demoWindow
	}
	if !changed(fs, "lateness") {
		u.pipe.lateness.value = demoLate
	}
	if !changed(fs, "warmup") {
		u.pipe.warmup.value = time.Hour
	}
	// The demo's beacon checks in every 5s; the detector's floor follows.
	u.pipe.options = append([]string{fmt.Sprintf("beaconing.min_interval=%v", demoBeacon-time.Second)}, u.pipe.options...)
	u.edge.resolve = append(u.edge.resolve, "*."+demoDomain+"=127.0.0.1")
	return nil
}

// demoInfo is demo.json in the data directory.
type demoInfo struct {
	URL   string `json:"url"`
	Token string `json:"token"`
	// Replay is the command that replays the demo's log; it takes the
	// demo pipeline's settings (10s windows, …) from the log, and so
	// gives the alerts the demo raised, which --baseline compares.
	Replay string `json:"replay"`
}

// runDemo creates the demo tenant (or a new token for it), writes
// demo.json, prints the console URL and the token, and runs the simulated
// fleet until ctx ends.
func runDemo(ctx context.Context, store events.Store, dataDir string, apiAddr net.Addr, edgeAddr string, devices int, w func(string), log *slog.Logger) error {
	reg, err := identity.Load(ctx, store)
	if err != nil {
		return err
	}
	var token string
	if _, ok := reg.Tenant(demoTenant); ok {
		token, err = identity.AddToken(ctx, store, reg, demoTenant, events.Role_ROLE_OPERATOR, "demo")
	} else {
		token, err = identity.CreateTenant(ctx, store, reg, dataDir, demoTenant, "Demo POS fleet", "demo")
	}
	if err != nil {
		return fmt.Errorf("demo tenant: %w", err)
	}
	url := "http://" + consoleHost(apiAddr) + "/"
	replay := fmt.Sprintf("halo replay --data %s --baseline --out OUTDIR", dataDir)
	b, _ := json.MarshalIndent(demoInfo{URL: url, Token: token, Replay: replay}, "", "  ")
	// Printed first and written whole (rename): whoever sees demo.json
	// has already been shown the same URL and token.
	w(fmt.Sprintf("demo: open %s and sign in with the token %s (also in %s)\n", url, token, filepath.Join(dataDir, "demo.json")))
	if err := fsutil.WriteFileAtomic(filepath.Join(dataDir, "demo.json"), append(b, '\n'), 0o600); err != nil {
		return err
	}
	attacks, err := sim.ParseAttacks(demoAttacks)
	if err != nil {
		return err
	}
	s, err := sim.New(sim.Config{
		Edge: edgeAddr, Store: store, DataDir: dataDir, Tenant: demoTenant, Devices: devices, Attacks: attacks,
		Domain: demoDomain, BeaconInterval: demoBeacon, BeaconCount: 16, Actor: "demo",
		DevicePrefix: demoTenant + "-pos", Logger: log.With("component", "sim"), RecordLabels: true,
	})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-t.C:
			log.Info("demo fleet", "progress", s.Stats().String())
		}
	}
}

// consoleHost is the API address as a browser on this machine reaches it.
func consoleHost(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	if ap.Addr().IsUnspecified() {
		ap = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port())
	}
	return ap.String()
}
