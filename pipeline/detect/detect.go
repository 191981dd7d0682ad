package detect

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/halo-sec/halo/events"
)

// Finding is something a detector noticed: the raw material of an alert.
type Finding struct {
	Detector string
	Tenant   string
	Device   string
	Severity events.Severity
	// Score in [0, 1]: how sure or how anomalous.
	Score float64
	// Key says what the finding is about within the device (a fingerprint,
	// a destination); findings with the same key update one alert.
	Key string
	// Time is the event time of the finding: the triggering event's time,
	// or the end of the window.
	Time time.Time
	// Window the finding belongs to.
	WindowStart, WindowEnd time.Time
	// Evidence: the ids of the events that show it.
	Evidence []events.ID
	// Summary is one line; Explanation says which features, against which
	// baseline. A detector may leave them to Describe: call it before
	// reading them.
	Summary     string
	Explanation string
	Features    []*events.Feature
	// describe, when set, fills in Summary, Explanation and Features (most
	// findings only update an open alert, whose event carries none of
	// them).
	describe func(*Finding)
	// Fingerprint (strict) the finding is about, for block-fingerprint.
	Fingerprint []byte
	// Destination the finding is about, for block-destination.
	DstHost string
	DstIP   string
	DstPort uint32
}

// Describe fills in the finding's Summary, Explanation and Features if
// its detector left them to be made when needed.
func (f *Finding) Describe() {
	if d := f.describe; d != nil {
		f.describe = nil
		d(f)
	}
}

// EventDetector reacts to single events at once, in log order.
type EventDetector interface {
	Name() string
	// Event returns the findings ev causes (often none). The detector
	// may reuse the memory of the slice and of the findings' Evidence at
	// its next call: a caller that keeps them past it copies them (a
	// replay emits them after later events). What else they point to
	// does not change.
	Event(ev *events.Event) []Finding
}

// Factory builds a detector from its options; nil options mean defaults.
type Factory func(opts map[string]string) (any, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
	docs     = map[string]string{}
	optNames = map[string][]string{}
)

// Register adds a detector factory under name, with its documentation and
// the names of the options it reads: New refuses any other, so a mistyped
// option (beaconing.min_intervl=4s) is an error rather than a setting
// silently left at its default. It panics on a duplicate name:
// registration happens in init functions.
func Register(name, doc string, f Factory, options ...string) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("detect: detector %q registered twice", name))
	}
	registry[name] = f
	docs[name] = doc
	optNames[name] = options
}

// Check returns nil for a registered detector, else an error naming the
// registered ones: what every place that takes a detector's name says.
func Check(name string) error {
	regMu.RLock()
	_, ok := registry[name]
	regMu.RUnlock()
	if ok {
		return nil
	}
	return fmt.Errorf("unknown detector %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Options lists the options a detector reads, sorted.
func Options(name string) []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return slices.Sorted(slices.Values(optNames[name]))
}

// Names lists the registered detectors, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Doc returns a detector's documentation.
func Doc(name string) string {
	regMu.RLock()
	defer regMu.RUnlock()
	return docs[name]
}

// New builds the named detectors (all registered ones when names is empty).
func New(names []string, opts map[string]map[string]string) ([]any, error) {
	if len(names) == 0 {
		names = Names()
	}
	out := make([]any, 0, len(names))
	for _, n := range names {
		if err := Check(n); err != nil {
			return nil, err
		}
		regMu.RLock()
		f := registry[n]
		regMu.RUnlock()
		for k := range opts[n] {
			if known := Options(n); !slices.Contains(known, k) {
				return nil, fmt.Errorf("detector %s: unknown option %q (known: %s)", n, k, strings.Join(known, ", "))
			}
		}
		d, err := f(opts[n])
		if err != nil {
			return nil, fmt.Errorf("detector %s: %w", n, err)
		}
		out = append(out, d)
	}
	return out, nil
}
