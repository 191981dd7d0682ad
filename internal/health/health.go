package health

import (
	"encoding/json"
	"maps"
	"net/http"
	"sync"
)

// State is the state of one role.
type State string

// Role states, from the most to the least blocking (see Registry.Status).
const (
	// Stopping: the process is shutting the role down.
	Stopping State = "stopping"
	// Unavailable: the role was ready and its dependency stopped answering
	// (e.g. the event log does not answer a ping).
	Unavailable State = "unavailable"
	// Starting: the role has not become ready yet. Every role starts here.
	Starting State = "starting"
	// Ready: the role serves.
	Ready State = "ready"
)

// StatusOK is the overall status when every role is ready.
const StatusOK = "ok"

// Registry holds the state of every role of the process. The zero value is
// not usable; create one with NewRegistry. Its methods are safe for
// concurrent use.
type Registry struct {
	mu      sync.Mutex
	roles   map[string]State
	ready   chan struct{} // closed the first time every role is ready
	isReady bool
}

// NewRegistry returns a registry of the given roles, all Starting. Roles are
// fixed when the process starts: a role that is not registered here cannot
// hold readiness back, so every role the process runs must be named.
func NewRegistry(roles ...string) *Registry {
	r := &Registry{roles: make(map[string]State, len(roles)), ready: make(chan struct{})}
	for _, name := range roles {
		r.roles[name] = Starting
	}
	return r
}

// Set records the state of a role, registering it if it was not.
func (r *Registry) Set(role string, s State) {
	r.mu.Lock()
	r.roles[role] = s
	r.changed()
	r.mu.Unlock()
}

// SetAll records the same state for every role, e.g. Stopping on shutdown.
func (r *Registry) SetAll(s State) {
	r.mu.Lock()
	for name := range r.roles {
		r.roles[name] = s
	}
	r.changed()
	r.mu.Unlock()
}

// WhenReady returns a channel that is closed the first time every role is
// ready. It stays closed if a role later stops being ready.
func (r *Registry) WhenReady() <-chan struct{} { return r.ready }

// changed closes the ready channel on the first all-ready state; r.mu held.
func (r *Registry) changed() {
	if !r.isReady && status(r.roles) == StatusOK {
		r.isReady = true
		close(r.ready)
	}
}

// Report is the body of GET /healthz.
type Report struct {
	// Status is "ok" when every role is ready, else the most blocking role
	// state: "stopping", "unavailable" or "starting".
	Status string `json:"status"`
	// Roles maps each role to its state.
	Roles map[string]State `json:"roles"`
}

// Ready reports whether the process has roles and every one is ready.
func (rep Report) Ready() bool { return rep.Status == StatusOK }

// Report returns a snapshot of the registry.
func (r *Registry) Report() Report {
	r.mu.Lock()
	roles := maps.Clone(r.roles)
	r.mu.Unlock()
	if roles == nil {
		roles = map[string]State{}
	}
	return Report{Status: status(roles), Roles: roles}
}

// status folds role states into the overall status: "ok" only when there
// are roles and all are ready, otherwise the most blocking state present.
func status(roles map[string]State) string {
	if len(roles) == 0 {
		return string(Starting)
	}
	present := map[State]bool{}
	for _, s := range roles {
		present[s] = true
	}
	for _, s := range []State{Stopping, Unavailable, Starting} {
		if present[s] {
			return string(s)
		}
	}
	if present[Ready] && len(present) == 1 {
		return StatusOK
	}
	// A state this package does not define: not ready.
	return string(Starting)
}

// ServeHTTP serves the report as JSON: 200 when ready, 503 otherwise. Only
// GET and HEAD are allowed.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rep := r.Report()
	body, err := json.Marshal(rep)
	if err != nil { // cannot happen for a map of strings
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if rep.Ready() {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
