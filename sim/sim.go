package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/replay"
)

// Stats are the simulation's counters so far.
type Stats struct {
	// Devices in the fleet; DevicesUp of them got at least one answer.
	Devices   int `json:"devices"`
	DevicesUp int `json:"devices_up"`
	// Requests sent (plain HTTP and through CONNECT, benign and attack
	// payment replays); Answered by their destination; Refused by the edge
	// (an answer marked Halo-Error); Errors: no answer (timeouts,
	// connections refused or cut).
	Requests int64 `json:"requests"`
	Answered int64 `json:"answered"`
	Refused  int64 `json:"refused"`
	// RefusedBy counts the refusals by the edge's Halo-Error code
	// (blocked, replay_refused, replay_in_progress, ...; tls: a refused
	// handshake).
	RefusedBy map[string]int64 `json:"refused_by,omitempty"`
	Errors    int64            `json:"errors"`
	// PlainAnswered: absolute-form HTTP requests that got any answer — the
	// edge records one tx.observed for each. Plain2xx: of them, 2xx
	// answers of the destination.
	PlainAnswered int64 `json:"plain_answered"`
	Plain2xx      int64 `json:"plain_2xx"`
	// Payments started, Approved (2xx), Retries after a 5xx or timeout.
	Payments int64 `json:"payments"`
	Approved int64 `json:"approved"`
	Retries  int64 `json:"retries"`
	// AttacksSent of AttacksPlanned.
	AttacksSent    int `json:"attacks_sent"`
	AttacksPlanned int `json:"attacks_planned"`
	// LabelsRecorded in the log (Config.RecordLabels), and LabelErrors:
	// labels the log refused (each logged).
	LabelsRecorded int64 `json:"labels_recorded"`
	LabelErrors    int64 `json:"label_errors"`
	// Elapsed since the traffic started.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// String is the progress line.
func (s Stats) String() string {
	return fmt.Sprintf("devices %d/%d up, requests %d (answered %d, refused by the edge %d), errors %d, payments %d, attacks %d/%d sent, %s",
		s.DevicesUp, s.Devices, s.Requests, s.Answered, s.Refused, s.Errors, s.Payments, s.AttacksSent, s.AttacksPlanned, s.Elapsed.Round(time.Second))
}

type counters struct {
	devicesUp                                                    atomic.Int64
	requests, answered, refused, errors, plainAnswered, plain2xx atomic.Int64
	payments, approved, retries                                  atomic.Int64
	attacks                                                      atomic.Int64
	labelsRecorded, labelErrors                                  atomic.Int64

	refusedMu sync.Mutex
	refusedBy map[string]int64 // the edge's Halo-Error codes
}

// refuse counts an answer the edge refused, by its Halo-Error code ("tls"
// for a handshake refused).
func (c *counters) refuse(code string) {
	c.refused.Add(1)
	if code == "" {
		code = "other"
	}
	c.refusedMu.Lock()
	if c.refusedBy == nil {
		c.refusedBy = map[string]int64{}
	}
	c.refusedBy[code]++
	c.refusedMu.Unlock()
}

// Sim is one simulation. Create it with New, run it once with Run.
type Sim struct {
	cfg     Config
	log     *slog.Logger
	dst     *destinations
	pool    *x509.CertPool // Halo's CA and the destinations' CA
	devices []*device
	stats   counters
	token   string
	started atomic.Int64 // unix nanos when traffic started
	ready   chan struct{}

	labelMu sync.Mutex
	labels  []replay.Label
}

// New validates cfg and returns a simulation.
func New(cfg Config) (*Sim, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sim{cfg: cfg, log: cfg.Logger, ready: make(chan struct{})}, nil
}

// Token is the operator token of the tenant when Run created it ("" when
// the tenant existed).
func (s *Sim) Token() string { return s.token }

// Ready is closed once the devices are enrolled and their traffic started.
func (s *Sim) Ready() <-chan struct{} { return s.ready }

// DeviceIDs lists the fleet's device ids, in order.
func (s *Sim) DeviceIDs() []string {
	out := make([]string, s.cfg.Devices)
	for i := range out {
		out[i] = s.cfg.DeviceID(i + 1)
	}
	return out
}

// Labels returns the labels of the attacks injected so far.
func (s *Sim) Labels() []replay.Label {
	s.labelMu.Lock()
	defer s.labelMu.Unlock()
	return append([]replay.Label(nil), s.labels...)
}

// Stats returns the counters so far.
func (s *Sim) Stats() Stats {
	c := &s.stats
	st := Stats{
		Devices: s.cfg.Devices, DevicesUp: int(c.devicesUp.Load()),
		Requests: c.requests.Load(), Answered: c.answered.Load(), Refused: c.refused.Load(), Errors: c.errors.Load(),
		PlainAnswered: c.plainAnswered.Load(), Plain2xx: c.plain2xx.Load(),
		Payments: c.payments.Load(), Approved: c.approved.Load(), Retries: c.retries.Load(),
		AttacksSent: int(c.attacks.Load()), AttacksPlanned: len(s.cfg.Attacks),
		LabelsRecorded: c.labelsRecorded.Load(), LabelErrors: c.labelErrors.Load(),
	}
	c.refusedMu.Lock()
	if len(c.refusedBy) > 0 {
		st.RefusedBy = maps.Clone(c.refusedBy)
	}
	c.refusedMu.Unlock()
	if t := s.started.Load(); t != 0 {
		st.Elapsed = time.Since(time.Unix(0, t))
	}
	return st
}

// Run enrols the fleet, starts the destinations, checks that the edge
// reaches them, then runs the devices and the attacks for the configured
// duration or until ctx ends. A clean end (duration reached or ctx
// cancelled) returns nil.
func (s *Sim) Run(ctx context.Context) error {
	// Nothing is enrolled when no edge listens.
	var nd net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := nd.DialContext(dctx, "tcp", s.cfg.Edge)
	cancel()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoEdge, err)
	}
	c.Close()
	dst, err := startDestinations(s.cfg.Domain, s.cfg.Seed)
	if err != nil {
		return err
	}
	defer dst.close()
	s.dst = dst
	if err := s.enrol(ctx); err != nil {
		return err
	}
	if err := s.waitEdge(ctx); err != nil {
		return err
	}
	runCtx := ctx
	if s.cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, s.cfg.Duration)
		defer cancel()
	}
	s.started.Store(time.Now().UnixNano())
	close(s.ready)
	s.log.Info("simulated fleet running", "devices", s.cfg.Devices, "tenant", s.cfg.Tenant, "rate", s.cfg.Rate, "attacks", len(s.cfg.Attacks))

	var wg sync.WaitGroup
	for _, d := range s.devices {
		wg.Go(func() { d.run(runCtx) })
	}
	wg.Go(func() { s.adoption(runCtx) })
	s.scheduleAttacks(runCtx, &wg)
	wg.Wait()
	return nil
}

// enrol enrols every device (renewing the certificate of a device the
// tenant already has) and creates the tenant when missing.
func (s *Sim) enrol(ctx context.Context) error {
	store := s.cfg.Store
	reg, err := identity.Load(ctx, store)
	if err != nil {
		return fmt.Errorf("reading tenants and devices: %w", err)
	}
	ca, err := identity.LoadOrCreateCA(s.cfg.DataDir)
	if err != nil {
		return err
	}
	s.pool = mergePools(ca.Certificate(), s.dst)
	if _, ok := reg.Tenant(s.cfg.Tenant); !ok {
		tok, err := identity.CreateTenant(ctx, store, reg, s.cfg.DataDir, s.cfg.Tenant, "Simulated fleet", s.cfg.Actor)
		if err != nil {
			return fmt.Errorf("creating tenant %s: %w", s.cfg.Tenant, err)
		}
		s.token = tok
	}
	badcert := map[int]bool{}
	for i, a := range s.plannedAttacks() {
		if a.Kind == AttackBadCert {
			badcert[s.attackDevice(i, a)] = true
		}
	}
	rng := mrand.New(mrand.NewPCG(s.cfg.Seed, 0xf1ee7))
	n := s.cfg.Devices
	s.devices = make([]*device, n)
	cohorts := numCohorts(n)
	for i := range n {
		m := fleetModels[i%cohorts]
		d := &device{s: s, idx: i + 1, id: s.cfg.DeviceID(i + 1), model: m.model, firmware: m.firmware, cohort: i % cohorts,
			merchant: fmt.Sprintf("M-%05d", 1+rng.IntN(99999)), currency: merchantCurrencies[rng.IntN(len(merchantCurrencies))],
			rng: mrand.New(mrand.NewPCG(s.cfg.Seed, uint64(i+1))), kick: make(chan struct{}, 1)}
		s.devices[i] = d
	}
	if s.cfg.CertsDir != "" {
		if err := os.MkdirAll(s.cfg.CertsDir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(s.cfg.CertsDir, "ca.crt"), ca.CertPEM(), 0o644); err != nil {
			return err
		}
	}
	// Enrolment signs a key per device and appends an event: a few workers.
	work := make(chan *device)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for d := range work {
				if err := s.enrolOne(ctx, reg, ca, d, badcert[d.idx]); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		})
	}
	for _, d := range s.devices {
		select {
		case work <- d:
		case err := <-errc:
			close(work)
			wg.Wait()
			return err
		case <-ctx.Done():
			close(work)
			wg.Wait()
			return ctx.Err()
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return nil
}

func mergePools(haloCA *x509.Certificate, dst *destinations) *x509.CertPool {
	p := dst.caPool.Clone()
	p.AddCert(haloCA)
	return p
}

// numCohorts: at most four (model, firmware) cohorts, and at least two
// devices in each (a device alone in its cohort has no peers to be
// compared with).
func numCohorts(n int) int {
	return max(1, min(len(fleetModels), n/2))
}

func (s *Sim) enrolOne(ctx context.Context, reg *identity.Registry, ca *identity.CA, d *device, badcert bool) error {
	req := identity.EnrollRequest{Tenant: s.cfg.Tenant, Device: d.id, Model: d.model, Firmware: d.firmware, Actor: s.cfg.Actor}
	if old, known := reg.Device(d.id); known {
		if old.Tenant != s.cfg.Tenant {
			return fmt.Errorf("device %s belongs to tenant %s: give another --tenant or device prefix", d.id, old.Tenant)
		}
		req.Renew = true
	}
	iss, err := identity.Enroll(ctx, s.cfg.Store, reg, ca, req)
	if err != nil {
		return fmt.Errorf("enrolling %s: %w", d.id, err)
	}
	if badcert {
		// The stolen-device story: this certificate is revoked, a new one
		// issued; the attack presents the old one.
		old, err := tls.X509KeyPair(iss.CertPEM, iss.KeyPEM)
		if err != nil {
			return err
		}
		d.oldCert = &old
		if err := identity.Revoke(ctx, s.cfg.Store, reg, d.id, "simulator: certificate reported stolen", s.cfg.Actor); err != nil {
			return err
		}
		req.Renew = true
		if iss, err = identity.Enroll(ctx, s.cfg.Store, reg, ca, req); err != nil {
			return fmt.Errorf("re-enrolling %s: %w", d.id, err)
		}
	}
	d.cert, err = tls.X509KeyPair(iss.CertPEM, iss.KeyPEM)
	if err != nil {
		return err
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d.client = &http.Client{Transport: d.transport(true), CheckRedirect: noRedirect}
	d.tlsCl = &http.Client{Transport: d.transport(false), CheckRedirect: noRedirect}
	if s.cfg.CertsDir != "" {
		if err := os.WriteFile(filepath.Join(s.cfg.CertsDir, d.id+".crt"), iss.CertPEM, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(s.cfg.CertsDir, d.id+".key"), iss.KeyPEM, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// waitEdge waits until the edge accepts the last enrolled device (it folds
// enrolments from the log within a second) and reaches the destinations
// by name.
func (s *Sim) waitEdge(ctx context.Context) error {
	d := s.devices[len(s.devices)-1]
	deadline := time.Now().Add(30 * time.Second)
	wait := time.Second // few refused handshakes: no auth-failures alert
	var last error
	for {
		if !waitCtx(ctx, wait) {
			return ctx.Err()
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.dst.host("mgmt", s.dst.mgmtPort)+"/v1/heartbeat",
			bytes.NewReader([]byte(`{"device":"`+d.id+`","probe":true}`)))
		status, haloErr, body, err := d.do(ctx, req, true, 10*time.Second)
		switch {
		case err == nil && haloErr == "dns_error":
			return fmt.Errorf("%w: it answered %d %s; start it with --edge-resolve '*.%s=127.0.0.1'", ErrEdgeResolve, status, strings.TrimSpace(string(body)), s.cfg.Domain)
		case err == nil && haloErr == "" && status == http.StatusOK:
			return nil
		case err == nil:
			last = fmt.Errorf("the edge answered %d %s", status, strings.TrimSpace(string(body)))
		default:
			last = err
		}
		d.client.CloseIdleConnections()
		if time.Now().After(deadline) {
			return fmt.Errorf("the edge at %s does not accept the simulated devices: %w", s.cfg.Edge, last)
		}
		s.log.Debug("waiting for the edge", "error", last)
		wait = min(2*wait, 4*time.Second)
	}
}

// adoption: one cohort adopts a new destination (an app update fetching
// from a new asset host), all its devices within a second.
func (s *Sim) adoption(ctx context.Context) {
	at := 3 * time.Minute
	if s.cfg.Duration > 0 {
		at = min(at, s.cfg.Duration*2/5)
	}
	if !waitCtx(ctx, at) {
		return
	}
	rng := mrand.New(mrand.NewPCG(s.cfg.Seed, 0xad0b7))
	c := rng.IntN(numCohorts(s.cfg.Devices))
	n := 0
	for _, d := range s.devices {
		if d.cohort == c {
			d.adopt.Store(true)
			select {
			case d.kick <- struct{}{}:
			default:
			}
			n++
		}
	}
	m := fleetModels[c]
	s.log.Info("a cohort adopts a new destination", "model", m.model, "firmware", m.firmware, "devices", n, "host", "assets-v2."+s.cfg.Domain)
}

// addLabel records an injected attack, writes it to the labels file and,
// with RecordLabels, records it in the log.
func (s *Sim) addLabel(l replay.Label) {
	s.labelMu.Lock()
	s.labels = append(s.labels, l)
	if s.cfg.Labels != nil {
		b, _ := json.Marshal(l)
		if _, err := s.cfg.Labels.Write(append(b, '\n')); err != nil {
			s.log.Warn("writing a label failed", "error", err)
		}
	}
	s.labelMu.Unlock()
	if !s.cfg.RecordLabels {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.cfg.Store.Append(ctx, l.Event(events.LabelSource_LABEL_SOURCE_SIMULATOR)); err != nil {
		s.stats.labelErrors.Add(1)
		s.log.Warn("recording a label in the log failed", "label", l.Label, "device_id", l.Device, "error", err)
		return
	}
	s.stats.labelsRecorded.Add(1)
}

var errNoPayment = errors.New("no approved payment to replay")
