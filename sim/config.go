package sim

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
)

// Attack kinds, the names of --attacks and of the labels written.
const (
	AttackReplay  = "replay"
	AttackBeacon  = "beacon"
	AttackExfil   = "exfil"
	AttackScan    = "scan"
	AttackFlood   = "flood"
	AttackBadCert = "badcert"
)

// AttackKinds lists the attacks the simulator knows, in documentation order.
var AttackKinds = []string{AttackReplay, AttackBeacon, AttackExfil, AttackScan, AttackFlood, AttackBadCert}

// Attack is one scheduled attack.
type Attack struct {
	// Kind is one of AttackKinds.
	Kind string
	// At is the offset from the start of the simulation.
	At time.Duration
	// Device names the attacking device: "" (chosen by the seed), a
	// 1-based index ("3", "device-3") or a device id.
	Device string
}

// String is the attack in schedule syntax.
func (a Attack) String() string {
	s := a.Kind + "@" + a.At.String()
	if a.Device != "" {
		s += ":" + a.Device
	}
	return s
}

// ParseAttacks parses a schedule: comma-separated KIND@OFFSET[:DEVICE], e.g.
// "replay@5m,beacon@10m:device-3". An empty string is no attack.
func ParseAttacks(s string) ([]Attack, error) {
	var out []Attack
	var errs []error
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		kind, rest, ok := strings.Cut(part, "@")
		if !ok {
			errs = append(errs, fmt.Errorf("%q: want KIND@OFFSET[:DEVICE] (e.g. scan@2m:device-3)", part))
			continue
		}
		off, dev, _ := strings.Cut(rest, ":")
		a := Attack{Kind: strings.ToLower(strings.TrimSpace(kind)), Device: strings.TrimSpace(dev)}
		if !knownKind(a.Kind) {
			errs = append(errs, fmt.Errorf("%q: unknown attack %q (known: %s)", part, a.Kind, strings.Join(AttackKinds, ", ")))
		}
		d, err := time.ParseDuration(strings.TrimSpace(off))
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%q: offset %q is not a duration from the start (e.g. 30s, 5m)", part, off))
		}
		a.At = d
		out = append(out, a)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAttackSpec, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out, nil
}

func knownKind(k string) bool {
	for _, n := range AttackKinds {
		if n == k {
			return true
		}
	}
	return false
}

// Enroller is what the simulator needs from the log to enrol its devices:
// the store the identity package appends device.enrolled to.
type Enroller = events.Store

// Config configures a simulation. Zero values are defaults.
type Config struct {
	// Edge is the edge's address, host:port. Required.
	Edge string
	// EdgeServerName is the name the edge's certificate is checked
	// against. Default: the host of Edge.
	EdgeServerName string
	// Store is the event log the devices are enrolled in. Required.
	Store Enroller
	// DataDir holds Halo's CA (DataDir/pki), which signs the devices'
	// certificates and the edge's. Required.
	DataDir string
	// Tenant the devices belong to; created when missing. Required.
	Tenant string
	// Devices in the fleet. Default 10.
	Devices int
	// DevicePrefix of the device ids: PREFIX-00001 and up. Default
	// "TENANT-pos".
	DevicePrefix string
	// Duration of the simulation; 0 runs until the context ends.
	Duration time.Duration
	// Rate multiplies every device's benign activity. Default 1.
	Rate float64
	// Attacks to inject.
	Attacks []Attack
	// Labels receives one JSON line per device and injected attack.
	// Optional.
	Labels io.Writer
	// RecordLabels also records each label in Store as a label.recorded
	// (source simulator), where halo replay and halo export find them:
	// the log then holds the fleet's ground truth (halo up --demo).
	RecordLabels bool
	// Seed of every random choice. Default 1.
	Seed uint64
	// Domain of the destinations' names; the edge must resolve
	// *.Domain to loopback. Default "sim.halo.test".
	Domain string
	// CertsDir, when set, receives each device's ID.crt, ID.key and
	// ca.crt (for driving a simulated device with curl).
	CertsDir string
	// BeaconInterval between two C&C check-ins. Default 12s: above the
	// beaconing detector's default minimum mean interval (10s), with room
	// for the edge's timing of the connections.
	BeaconInterval time.Duration
	// BeaconCount check-ins per beacon attack. Default 12.
	BeaconCount int
	// ExfilBytes uploaded by an exfil attack. Default 64 MiB (above the
	// flood detector's 50 MB).
	ExfilBytes int64
	// ScanTargets distinct address:port pairs per scan. Default 100.
	ScanTargets int
	// FloodConns connections per flood. Default 250: wherever a window
	// boundary cuts the burst, one side holds at least 125, above the
	// flood detector's 100.
	FloodConns int
	// Actor recorded on enrolments. Default "sim".
	Actor string
	// Logger; default discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Devices == 0 {
		c.Devices = 10
	}
	if c.DevicePrefix == "" {
		c.DevicePrefix = c.Tenant + "-pos"
	}
	if c.Rate == 0 {
		c.Rate = 1
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Domain == "" {
		c.Domain = "sim.halo.test"
	}
	c.Domain = strings.ToLower(strings.Trim(c.Domain, "."))
	if c.BeaconInterval == 0 {
		c.BeaconInterval = 12 * time.Second
	}
	if c.BeaconCount == 0 {
		c.BeaconCount = 12
	}
	if c.ExfilBytes == 0 {
		c.ExfilBytes = 64 << 20
	}
	if c.ScanTargets == 0 {
		c.ScanTargets = 100
	}
	if c.FloodConns == 0 {
		c.FloodConns = 250
	}
	if c.Actor == "" {
		c.Actor = "sim"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.EdgeServerName == "" {
		if h, _, err := net.SplitHostPort(c.Edge); err == nil {
			c.EdgeServerName = h
		}
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Edge); err != nil {
		errs = append(errs, fmt.Errorf("edge %q: want HOST:PORT (e.g. 127.0.0.1:8443)", c.Edge))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("a store to enrol the devices in is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("the data directory (Halo's CA) is required"))
	}
	if err := events.ValidateTenant(c.Tenant); err != nil {
		errs = append(errs, fmt.Errorf("tenant: %w", err))
	}
	if c.Devices < 1 || c.Devices > 100000 {
		errs = append(errs, fmt.Errorf("devices %d: want 1 to 100000", c.Devices))
	}
	if err := events.ValidateDevice(c.DevicePrefix + "-00001"); err != nil {
		errs = append(errs, fmt.Errorf("device prefix %q: %w", c.DevicePrefix, err))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration %v is negative", c.Duration))
	}
	if c.Rate <= 0 || c.Rate > 1000 {
		errs = append(errs, fmt.Errorf("rate %v: want more than 0, at most 1000", c.Rate))
	}
	if c.BeaconInterval < 100*time.Millisecond || c.BeaconCount < 2 {
		errs = append(errs, fmt.Errorf("beacon every %v, %d times: want at least 100ms and 2 check-ins", c.BeaconInterval, c.BeaconCount))
	}
	if c.ExfilBytes < 1 || c.ScanTargets < 1 || c.FloodConns < 1 {
		errs = append(errs, errors.New("exfil bytes, scan targets and flood connections must be positive"))
	}
	if c.Domain == "" || strings.ContainsAny(c.Domain, " /:*") {
		errs = append(errs, fmt.Errorf("domain %q is not a DNS name", c.Domain))
	}
	for _, a := range c.Attacks {
		if !knownKind(a.Kind) {
			errs = append(errs, fmt.Errorf("attack %s: unknown kind (known: %s)", a, strings.Join(AttackKinds, ", ")))
		}
		if a.Device != "" {
			if _, err := c.deviceIndex(a.Device); err != nil {
				errs = append(errs, fmt.Errorf("attack %s: %w", a, err))
			}
		}
		if c.Duration > 0 && a.At >= c.Duration {
			errs = append(errs, fmt.Errorf("attack %s starts after the simulation's %v", a, c.Duration))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// DeviceID is the id of the i-th device (1-based).
func (c *Config) DeviceID(i int) string { return fmt.Sprintf("%s-%05d", c.DevicePrefix, i) }

// deviceIndex resolves an attack's device: "3", "device-3" or an id.
func (c *Config) deviceIndex(s string) (int, error) {
	n := strings.TrimPrefix(s, "device-")
	if i, err := strconv.Atoi(n); err == nil {
		if i < 1 || i > c.Devices {
			return 0, fmt.Errorf("device %q: the fleet has devices 1 to %d", s, c.Devices)
		}
		return i, nil
	}
	for i := 1; i <= c.Devices; i++ {
		if c.DeviceID(i) == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("device %q is not in the fleet (%s to %s)", s, c.DeviceID(1), c.DeviceID(c.Devices))
}
