package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/fsutil"
)

// PipelineActor is the actor of the model.deployed events the pipeline
// records for the models it trains itself; every other actor is an
// operator's deployment.
const PipelineActor = "pipeline"

// Deployment is one operator deployment of a model (halo models deploy or
// rollback), as its model.deployed event records it. An empty ModelID
// returns the tenant (or cohort) to the models the pipeline trains itself.
type Deployment struct {
	Tenant    string    `json:"tenant"`
	Cohort    string    `json:"cohort"` // empty: every cohort of the tenant
	Version   uint32    `json:"version"`
	ModelID   string    `json:"model_id"`
	Kind      string    `json:"kind"`
	Threshold float64   `json:"threshold"`
	Features  []string  `json:"features"`
	Artifact  string    `json:"artifact"`
	Actor     string    `json:"actor"`
	At        time.Time `json:"at"`
	Rollback  bool      `json:"rollback"` // it restored an earlier version
}

// Deployments is the fold of operators' model.deployed events. Versions
// number the deployments of one (tenant, cohort) from 1; a deployment whose
// version is not above the one in force is a rollback to it, so the stack
// of versions in force is a function of the log alone.
type Deployments struct {
	mu      sync.RWMutex
	history []Deployment
	stacks  map[string][]Deployment // by tenant|cohort: in force last
	top     map[string]uint32       // highest version recorded
}

// NewDeployments returns an empty fold.
func NewDeployments() *Deployments {
	return &Deployments{stacks: map[string][]Deployment{}, top: map[string]uint32{}}
}

// LoadDeployments folds every model.deployed event of the log.
func LoadDeployments(ctx context.Context, store events.Store) (*Deployments, error) {
	d := NewDeployments()
	err := events.FoldAll(ctx, store, []events.Type{events.TypeModelDeployed}, "model deployments", d.Apply)
	return d, err
}

// Apply folds one event; the pipeline's own model.deployed and other
// events are ignored.
func (d *Deployments) Apply(ev *events.Event) {
	p, ok := ev.Payload.(*events.ModelDeployed)
	if !ok || p.Actor == PipelineActor {
		return
	}
	dep := Deployment{Tenant: ev.Tenant, Cohort: p.Cohort, Version: p.Version, ModelID: p.ModelId, Kind: p.Kind,
		Threshold: p.Threshold, Features: p.Features, Artifact: p.Artifact, Actor: p.Actor, At: ev.Time}
	key := ev.Tenant + "|" + p.Cohort
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stacks[key]
	if dep.Version <= d.top[key] {
		dep.Rollback = true
		for len(st) > 0 && st[len(st)-1].Version > dep.Version {
			st = st[:len(st)-1]
		}
	} else {
		d.top[key] = dep.Version
		st = append(st, dep)
	}
	d.stacks[key] = st
	d.history = append(d.history, dep)
}

// Current returns the deployment in force for a tenant's cohort ("" the
// tenant-wide one); false when the pipeline's own models are.
func (d *Deployments) Current(tenant, cohort string) (Deployment, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	st := d.stacks[tenant+"|"+cohort]
	if len(st) == 0 {
		return Deployment{}, false
	}
	return st[len(st)-1], true
}

// History returns a tenant's deployments and rollbacks in log order (every
// tenant's when tenant is empty).
func (d *Deployments) History(tenant string) []Deployment {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []Deployment
	for _, h := range d.history {
		if tenant == "" || h.Tenant == tenant {
			out = append(out, h)
		}
	}
	return out
}

// Deploy stores the artifact at path under dataDir/models (named by its
// id, so a deployment keeps working when the file it came from changes)
// and records its model.deployed as the next version for the tenant's
// cohort.
func (d *Deployments) Deploy(ctx context.Context, store events.Store, dataDir, path, tenant, cohort, actor string) (Deployment, error) {
	if err := events.ValidateTenant(tenant); err != nil {
		return Deployment{}, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Deployment{}, err
	}
	art, err := Load(bytes.NewReader(b))
	if err != nil {
		return Deployment{}, fmt.Errorf("%s: %w", path, err)
	}
	kept := filepath.Join(dataDir, "models", strings.TrimPrefix(art.ID, "sha256:")+".json")
	if err := os.MkdirAll(filepath.Dir(kept), 0o755); err != nil {
		return Deployment{}, err
	}
	if err := fsutil.WriteFileAtomic(kept, b, 0o644); err != nil {
		return Deployment{}, err
	}
	d.mu.RLock()
	version := d.top[tenant+"|"+cohort] + 1
	d.mu.RUnlock()
	sum := sha256.Sum256(b)
	return d.record(ctx, store, tenant, &events.ModelDeployed{ModelId: art.ID, Kind: string(art.Kind), Version: version,
		Features: slices.Clone(art.Features), Threshold: art.Threshold, Cohort: cohort, ArtifactSha256: sum[:], Artifact: kept, Actor: actor})
}

// Rollback records the return of a tenant's cohort to the deployment before
// the one in force, or to the pipeline's own models when there is none.
func (d *Deployments) Rollback(ctx context.Context, store events.Store, tenant, cohort, actor string) (Deployment, error) {
	d.mu.RLock()
	st := d.stacks[tenant+"|"+cohort]
	d.mu.RUnlock()
	if len(st) == 0 {
		return Deployment{}, fmt.Errorf("tenant %s%s has no deployed model to roll back: the pipeline's own models are in force", tenant, cohortSuffix(cohort))
	}
	p := &events.ModelDeployed{Cohort: cohort, Actor: actor} // version 0, no model: the pipeline's own
	if len(st) > 1 {
		prev := st[len(st)-2]
		b, err := os.ReadFile(prev.Artifact)
		if err != nil {
			return Deployment{}, fmt.Errorf("the previous model, version %d: %w", prev.Version, err)
		}
		sum := sha256.Sum256(b)
		p = &events.ModelDeployed{ModelId: prev.ModelID, Kind: prev.Kind, Version: prev.Version, Features: prev.Features,
			Threshold: prev.Threshold, Cohort: cohort, ArtifactSha256: sum[:], Artifact: prev.Artifact, Actor: actor}
	}
	return d.record(ctx, store, tenant, p)
}

func (d *Deployments) record(ctx context.Context, store events.Store, tenant string, p *events.ModelDeployed) (Deployment, error) {
	ev := events.New(tenant, "", p)
	if err := store.Append(ctx, ev); err != nil {
		return Deployment{}, fmt.Errorf("recording model.deployed: %w", err)
	}
	d.Apply(&ev)
	h := d.History(tenant)
	return h[len(h)-1], nil
}

func cohortSuffix(cohort string) string {
	if cohort == "" {
		return ""
	}
	return " (cohort " + cohort + ")"
}
