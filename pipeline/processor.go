package pipeline

import (
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/policy"
)

// Processor is the pipeline's deterministic core: it consumes events in log
// order and returns the events they cause (alerts, interventions). It folds
// the identities and policies it sees itself, so that its decisions depend
// only on the log, never on when it runs. Not safe for concurrent use: one
// goroutine feeds it.
type Processor struct {
	cfg       Config
	eventDets []detect.EventDetector
	alerts    *alerter
	policies  *policy.Set
	registry  *identity.Registry
	stats     Stats
}

// Stats counts what a processor did.
type Stats struct {
	Events        uint64 // events processed
	Findings      uint64
	AlertsRaised  uint64
	AlertsUpdated uint64
	Interventions uint64
	LastEventTime time.Time
}

// NewProcessor builds a processor with the configured detectors.
func NewProcessor(cfg Config) (*Processor, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ds, err := detect.New(cfg.Detectors, cfg.DetectorOptions)
	if err != nil {
		return nil, err
	}
	p := &Processor{cfg: cfg, alerts: newAlerter(cfg.Suppression), policies: policy.NewSet(), registry: identity.NewRegistry()}
	for _, d := range ds {
		if ed, ok := d.(detect.EventDetector); ok {
			p.eventDets = append(p.eventDets, ed)
		}
	}
	return p, nil
}

// Stats returns the processor's counters.
func (p *Processor) Stats() Stats { return p.stats }

// Process consumes one event and returns the events it causes, in a
// deterministic order.
func (p *Processor) Process(ev *events.Event) []events.Event {
	p.stats.Events++
	if ev.Time.After(p.stats.LastEventTime) {
		p.stats.LastEventTime = ev.Time
	}
	switch ev.Payload.(type) {
	case *events.PolicyChanged:
		p.policies.Apply(ev)
		return nil
	case *events.TenantCreated, *events.TokenAdded, *events.DeviceEnrolled, *events.DeviceRevoked:
		p.registry.Apply(ev)
		return nil
	}
	var out []events.Event
	for _, d := range p.eventDets {
		for _, f := range d.Event(ev) {
			out = append(out, p.emit(&f)...)
		}
	}
	return out
}

// emit turns a finding into its alert event and, for a new alert, the
// interventions the tenant's policy calls for.
func (p *Processor) emit(f *detect.Finding) []events.Event {
	p.stats.Findings++
	alert, id, raised := p.alerts.finding(f)
	out := []events.Event{alert}
	if !raised {
		p.stats.AlertsUpdated++
		return out
	}
	p.stats.AlertsRaised++
	ivs := decide(p.policies.For(f.Tenant), f, id)
	p.stats.Interventions += uint64(len(ivs))
	return append(out, ivs...)
}

// IsOutput reports whether an event is one the pipeline writes.
func IsOutput(t events.Type) bool {
	switch t {
	case events.TypeAlertRaised, events.TypeAlertUpdated, events.TypeInterventionApplied, events.TypeModelDeployed:
		return true
	}
	return false
}
