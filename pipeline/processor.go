package pipeline

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/models"
	"github.com/halo-sec/halo/pipeline/detect"
	"github.com/halo-sec/halo/pipeline/features"
	"github.com/halo-sec/halo/pipeline/window"
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
	winDets   []detect.WindowDetector
	vecDets   []detect.VectorDetector
	modelPubs []detect.ModelPublisher
	featState *features.State
	windows   *window.Assembler
	detCtx    *detect.Context
	alerts    *alerter
	// held: the interventions applied that are in force (decide).
	held     inForce
	policies *policy.Set
	registry *identity.Registry
	stats    Stats
	observe  func(DeviceWindow) // ObserveWindows
	// unenrolled is (tenant, tenant + "//"): the cohort of the devices
	// not enrolled of the last tenant cohort was asked about, made once,
	// not at every call (every device of every window, from the stages'
	// goroutines).
	unenrolled atomic.Pointer[[2]string]
}

// Stats counts what a processor did.
type Stats struct {
	Events        uint64 // events processed
	Findings      uint64
	AlertsRaised  uint64
	AlertsUpdated uint64
	Interventions uint64
	Windows       uint64 // (partition, window) pairs closed
	LateEvents    uint64
	HeldWindows   int    // closed windows waiting for a slower partition (window.Assembler.Held)
	ModelErrors   uint64 // model trainings that failed
	LastModelErr  string
	LastEventTime time.Time
	// ForeignTicks: clock ticks of a log of other partitions than the
	// processor's (Config.Partitions; Config.OfLog takes the log's), which
	// it ignores: they name other devices' windows.
	ForeignTicks uint64
}

// NewProcessor builds a processor with the configured detectors.
func NewProcessor(cfg Config) (*Processor, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := map[string]map[string]string{}
	for k, v := range cfg.DetectorOptions {
		opts[k] = v
	}
	// The replay detector's findings belong to the pipeline's windows, so
	// that an alert and a label meet in the same (device, window) pair.
	if _, set := opts["replay-attack"]["window"]; !set {
		o := map[string]string{"window": cfg.WindowSize.String()}
		for k, v := range opts["replay-attack"] {
			o[k] = v
		}
		opts["replay-attack"] = o
	}
	if cfg.ModelDir != "" {
		o := map[string]string{"model_dir": cfg.ModelDir}
		for k, v := range opts["anomaly"] {
			o[k] = v
		}
		opts["anomaly"] = o
	}
	var (
		ds  []any
		err error
	)
	if !cfg.FeaturesOnly || len(cfg.Detectors) > 0 {
		if ds, err = detect.New(cfg.Detectors, opts); err != nil {
			return nil, err
		}
	}
	p := &Processor{cfg: cfg, alerts: newAlerter(cfg.Suppression), policies: policy.NewSet(), registry: identity.NewRegistry()}
	for _, d := range ds {
		if ed, ok := d.(detect.EventDetector); ok {
			p.eventDets = append(p.eventDets, ed)
		}
		if wd, ok := d.(detect.WindowDetector); ok {
			p.winDets = append(p.winDets, wd)
		}
		if vd, ok := d.(detect.VectorDetector); ok {
			p.vecDets = append(p.vecDets, vd)
		}
		if mp, ok := d.(detect.ModelPublisher); ok {
			if cfg.NoModelEvents {
				mp.Unpublished()
			}
			p.modelPubs = append(p.modelPubs, mp)
		}
	}
	if p.featState, err = features.NewState(features.StateConfig{}); err != nil {
		return nil, err
	}
	// Recycle: every consumer of a window (detectors, features, the
	// observer) copies what it keeps past finishWindow's Release; the
	// tests of every package that runs the processor would see the
	// poisoned memory of a view kept longer.
	p.windows, err = window.New(window.Config{Size: cfg.WindowSize, Lateness: cfg.Lateness, Recycle: true}, cfg.Partitions, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("pipeline windows: %w", err)
	}
	p.detCtx = &detect.Context{Cohort: p.cohort}
	return p, nil
}

// cohort is a device's cohort key: tenant/model/firmware as enrolled (empty
// model and firmware for devices Halo did not enrol, such as imported
// history).
func (p *Processor) cohort(tenant, device string) string {
	if d, ok := p.registry.Device(device); ok && d.Tenant == tenant {
		return d.Cohort()
	}
	if u := p.unenrolled.Load(); u != nil && u[0] == tenant {
		return u[1]
	}
	c := tenant + "//"
	p.unenrolled.Store(&[2]string{tenant, c})
	return c
}

// Close releases the processor's memory (open windows).
func (p *Processor) Close() { p.windows.Release() }

// Config returns the processor's configuration, defaults filled in.
func (p *Processor) Config() Config { return p.cfg }

// Stats returns the processor's counters.
func (p *Processor) Stats() Stats {
	st := p.stats
	st.HeldWindows = p.windows.Held()
	st.LateEvents = p.windows.Stats().Late
	return st
}

// Process consumes one event and returns the events it causes, in a
// deterministic order.
func (p *Processor) Process(ev *events.Event) []events.Event {
	p.count(ev)
	if isStateEvent(ev) {
		p.applyState(ev)
		return nil
	}
	var out []events.Event
	for _, d := range p.eventDets {
		for _, f := range d.Event(ev) {
			out = p.emit(out, &f)
		}
	}
	p.window(ev)
	return p.closeWindows(out)
}

// count counts ev in the processor's stats.
func (p *Processor) count(ev *events.Event) {
	p.stats.Events++
	if ev.Time.After(p.stats.LastEventTime) {
		p.stats.LastEventTime = ev.Time
	}
}

// isStateEvent reports whether ev is one that changes what the processor
// decides by (policies, the registry, deployed models) rather than traffic.
func isStateEvent(ev *events.Event) bool {
	switch ev.Payload.(type) {
	case *events.PolicyChanged, *events.TenantCreated, *events.TokenAdded, *events.DeviceEnrolled, *events.DeviceRevoked, *events.ModelDeployed,
		*events.InterventionLifted:
		return true
	}
	return false
}

// applyState applies a state event (isStateEvent).
func (p *Processor) applyState(ev *events.Event) {
	switch pl := ev.Payload.(type) {
	case *events.PolicyChanged:
		if p.cfg.Policy == nil {
			p.policies.Apply(ev)
		}
	case *events.TenantCreated, *events.TokenAdded, *events.DeviceEnrolled, *events.DeviceRevoked:
		p.registry.Apply(ev)
	case *events.ModelDeployed:
		if pl.Actor != models.PipelineActor {
			p.deploy(ev.Tenant, pl)
		}
	case *events.InterventionLifted:
		p.held.lift(pl.InterventionId)
	}
}

// window adds a traffic event or a partition's clock tick to the windows.
func (p *Processor) window(ev *events.Event) {
	if tick, ok := ev.Payload.(*events.ClockTick); ok {
		if tick.Partitions != 0 && int(tick.Partitions) != p.cfg.Partitions {
			p.stats.ForeignTicks++
			return
		}
		if int(tick.Partition) < p.cfg.Partitions {
			p.windows.Tick(int(tick.Partition), ev.Time)
		}
		return
	}
	p.windows.Add(ev)
}

// isWindowed reports whether ev is one the windows take: traffic
// (conn.opened, conn.closed, conn.blocked, tx.observed, auth.failed), by
// its payload's type (TestOrderFreeByPayload).
func isWindowed(ev *events.Event) bool {
	switch ev.Payload.(type) {
	case *events.ConnOpened, *events.ConnClosed, *events.ConnBlocked, *events.TxObserved, *events.AuthFailed:
		return true
	}
	return false
}

// closeWindows runs the window detectors on every window the last event
// closed, in (start, partition) order, and releases them.
func (p *Processor) closeWindows(out []events.Event) []events.Event {
	for _, w := range p.windows.Closed() {
		var vr vectorResult
		winFs := p.windowFindings(w)
		if p.vectors() {
			vr = p.vectorFindings(w)
		}
		out = p.finishWindow(out, w, winFs, vr)
	}
	return out
}

// vectors reports whether windows get feature vectors: for vector
// detectors or an observer.
func (p *Processor) vectors() bool { return len(p.vecDets) > 0 || p.observe != nil }

// windowFindings runs the window detectors on w: their findings, by
// detector. It touches only the window detectors' state (and reads the
// registry).
func (p *Processor) windowFindings(w *window.Window) [][]detect.Finding {
	return detect.RunWindow(nil, p.winDets, w, p.detCtx)
}

// vectorResult is what the vector detectors made of a window.
type vectorResult struct {
	findings [][]detect.Finding // by detector
	deployed []events.Event     // the models they trained
	errs     []error            // failed trainings
}

// vectorFindings computes w's feature vectors, hands them to the observer,
// runs the vector detectors on them and collects the models they trained.
func (p *Processor) vectorFindings(w *window.Window) vectorResult {
	return p.detectVectors(w, p.computeVectors(w))
}

// computeVectors computes w's feature vectors. It touches only the
// feature state (and reads the registry).
func (p *Processor) computeVectors(w *window.Window) []features.Vector {
	return features.Compute(w, p.cohort, p.featState)
}

// detectVectors hands w's feature vectors to the observer, with the
// scores the detectors judge them by, runs the vector detectors on them
// and collects the models they trained. It touches only the vector
// detectors' state (and reads the registry).
func (p *Processor) detectVectors(w *window.Window, vecs []features.Vector) vectorResult {
	var r vectorResult
	if p.observe != nil {
		p.observeWindow(vecs)
	}
	for _, d := range p.vecDets {
		if f := d.Vectors(w, vecs, p.detCtx); len(f) > 0 {
			r.findings = append(r.findings, f)
		}
	}
	for _, mp := range p.modelPubs {
		r.deployed = append(r.deployed, mp.Deployed()...)
		if e, ok := mp.(interface{ Errors() []error }); ok {
			r.errs = append(r.errs, e.Errors()...)
		}
	}
	return r
}

// finishWindow emits a closed window's findings — the window detectors',
// then the vector detectors', then the models they deployed — and
// releases it.
func (p *Processor) finishWindow(out []events.Event, w *window.Window, winFs [][]detect.Finding, vr vectorResult) []events.Event {
	p.stats.Windows++
	for _, fs := range winFs {
		for i := range fs {
			out = p.emit(out, &fs[i])
		}
	}
	for _, fs := range vr.findings {
		for i := range fs {
			out = p.emit(out, &fs[i])
		}
	}
	out = append(out, vr.deployed...)
	p.endWindow(w, vr)
	return out
}

// endWindow counts a window's failed trainings and releases it, once its
// outputs are made (finishWindow).
func (p *Processor) endWindow(w *window.Window, vr vectorResult) {
	for _, err := range vr.errs {
		p.stats.ModelErrors++
		p.stats.LastModelErr = err.Error()
	}
	w.Release()
}

// Flush closes every open window (the end of a replay) and returns what
// they cause.
func (p *Processor) Flush() []events.Event {
	p.windows.Flush()
	return p.closeWindows(nil)
}

// emit appends to out the alert event a finding makes and, for a new
// alert, the interventions the tenant's policy calls for.
func (p *Processor) emit(out []events.Event, f *detect.Finding) []events.Event {
	p.stats.Findings++
	out, id, raised := p.alerts.appendFinding(out, f)
	if !raised {
		p.stats.AlertsUpdated++
		return out
	}
	p.stats.AlertsRaised++
	pol := p.cfg.Policy
	if pol == nil {
		pol = p.policies.For(f.Tenant)
	}
	n := len(out)
	out = decide(out, pol, f, id, &p.held)
	p.stats.Interventions += uint64(len(out) - n)
	return out
}

// deployer is a detector that takes models operators deploy.
type deployer interface {
	Deploy(tenant, cohort string, art *models.Artifact, version uint32) error
}

// deploy applies an operator's model.deployed: the artifact it names (its
// SHA-256 checked) replaces the detectors' own models for the tenant or
// cohort; an empty model id returns to them (a rollback). A missing or
// altered artifact, or one trained on windows of another size, is counted
// in ModelErrors and changes nothing.
func (p *Processor) deploy(tenant string, d *events.ModelDeployed) {
	var art *models.Artifact
	if d.ModelId != "" {
		b, err := os.ReadFile(d.Artifact)
		if err == nil {
			if sum := sha256.Sum256(b); !bytes.Equal(sum[:], d.ArtifactSha256) {
				err = fmt.Errorf("its SHA-256 is not the one recorded")
			} else {
				art, err = models.Load(bytes.NewReader(b))
			}
		}
		if err == nil && art.Window() != 0 && art.Window() != p.cfg.WindowSize {
			// Its features count other windows: every score off scale.
			err = fmt.Errorf("it was trained on %v windows, this pipeline's are %v", art.Window(), p.cfg.WindowSize)
		}
		if err != nil {
			p.stats.ModelErrors++
			p.stats.LastModelErr = fmt.Sprintf("deployed model %s of %s: %v", d.ModelId, tenant, err)
			return
		}
	}
	for _, vd := range p.vecDets {
		if dp, ok := vd.(deployer); ok {
			if err := dp.Deploy(tenant, d.Cohort, art, d.Version); err != nil {
				p.stats.ModelErrors++
				p.stats.LastModelErr = fmt.Sprintf("deployed model %s of %s: %v", d.ModelId, tenant, err)
			}
		}
	}
}

// IsPipelineOutput reports whether ev is one the pipeline writes (and so
// never consumes): alerts, interventions, the model.deployed of the
// models it trains, and the pipeline.configured of its settings.
func IsPipelineOutput(ev *events.Event) bool {
	// By the payload's type, as IsOutput by the event's
	// (TestOrderFreeByPayload): the names compared were 1% of a replay.
	switch p := ev.Payload.(type) {
	case *events.AlertRaised, *events.AlertUpdated, *events.InterventionApplied, *events.PipelineConfigured:
		return true
	case *events.ModelDeployed:
		return p.Actor == models.PipelineActor
	}
	return false
}

// OrderFree reports whether where ev comes among the events a processor
// consumes changes nothing of what it does: the pipeline's own outputs
// (IsPipelineOutput: a replay skips them) and labels, which it only counts
// (Stats.Events, and LastEventTime, a maximum). A replay that reads the log
// in append order may hand them to the processor out of event-time order
// (TestOrderFreeEventsMoveFreely).
func OrderFree(ev *events.Event) bool {
	// The label kind has one type (TestOrderFreeByPayload).
	if _, ok := ev.Payload.(*events.LabelRecorded); ok {
		return true
	}
	return IsPipelineOutput(ev)
}

// IsOutput reports whether an event is of a type the processor writes (for
// model.deployed, see IsPipelineOutput; the live pipeline also records
// pipeline.configured).
func IsOutput(t events.Type) bool {
	switch t {
	case events.TypeAlertRaised, events.TypeAlertUpdated, events.TypeInterventionApplied, events.TypeModelDeployed:
		return true
	}
	return false
}
