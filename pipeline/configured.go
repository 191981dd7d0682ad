package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/halo-sec/halo/events"
)

// Configured is the pipeline.configured payload of c's settings (defaults
// filled in): those its outputs depend on. Detector options are sorted, so
// the same settings give the same payload.
func (c Config) Configured() *events.PipelineConfigured {
	c.setDefaults()
	p := &events.PipelineConfigured{
		Name: c.Name, WindowNs: int64(c.WindowSize), LatenessNs: int64(c.Lateness), SuppressionNs: int64(c.Suppression),
		Detectors: slices.Clone(c.Detectors), Version: c.Version,
	}
	for _, det := range slices.Sorted(maps.Keys(c.DetectorOptions)) {
		for _, opt := range slices.Sorted(maps.Keys(c.DetectorOptions[det])) {
			p.DetectorOptions = append(p.DetectorOptions, &events.DetectorOption{Detector: det, Option: opt, Value: c.DetectorOptions[det][opt]})
		}
	}
	return p
}

// Settings are the settings a pipeline.configured records, as a Config
// takes them.
type Settings struct {
	Window, Lateness, Suppression time.Duration
	// Detectors run; empty: every one.
	Detectors []string
	// DetectorOptions per detector; nil when none was set.
	DetectorOptions map[string]map[string]string
	// Version is the halo build the pipeline ran.
	Version string
	// At is when the pipeline recorded them (the event's time).
	At time.Time
}

// SettingsOf reads a pipeline.configured event's settings.
func SettingsOf(ev *events.Event) (Settings, bool) {
	p, ok := ev.Payload.(*events.PipelineConfigured)
	if !ok {
		return Settings{}, false
	}
	s := Settings{Window: time.Duration(p.WindowNs), Lateness: time.Duration(p.LatenessNs), Suppression: time.Duration(p.SuppressionNs),
		Detectors: slices.Clone(p.Detectors), Version: p.Version, At: ev.Time}
	for _, o := range p.DetectorOptions {
		if s.DetectorOptions == nil {
			s.DetectorOptions = map[string]map[string]string{}
		}
		if s.DetectorOptions[o.Detector] == nil {
			s.DetectorOptions[o.Detector] = map[string]string{}
		}
		s.DetectorOptions[o.Detector][o.Option] = o.Value
	}
	return s, true
}

// Args are the halo replay flags that give these settings, as they were
// set: "--window 10s --lateness 2s --suppression 10m0s
// --detector-option beaconing.min_interval=4s".
func (s Settings) Args() string {
	args := []string{"--window", s.Window.String(), "--lateness", s.Lateness.String(), "--suppression", s.Suppression.String()}
	if len(s.Detectors) > 0 {
		args = append(args, "--detectors", strings.Join(s.Detectors, ","))
	}
	for _, det := range slices.Sorted(maps.Keys(s.DetectorOptions)) {
		for _, opt := range slices.Sorted(maps.Keys(s.DetectorOptions[det])) {
			args = append(args, "--detector-option", det+"."+opt+"="+s.DetectorOptions[det][opt])
		}
	}
	return strings.Join(args, " ")
}

// Recorded is what the log says of a pipeline's settings over a range.
type Recorded struct {
	// Settings in force at the range's end: the last recorded at or
	// before it, else (history imported before the pipeline first ran)
	// the first recorded.
	Settings
	// Others are the other settings recorded within the range, oldest
	// first: the live pipeline ran with them for part of it.
	Others []Settings
}

// RecordedSettings reads the log's pipeline.configured events of the
// pipeline named name (Config.Name; "" is the default's) and returns the
// settings in force over [from, to) (zero bounds are open), and false when
// the log records none.
func RecordedSettings(ctx context.Context, store events.Store, name string, from, to time.Time) (Recorded, bool, error) {
	evs, err := configured(ctx, store, cmp.Or(name, DefaultName))
	if err != nil || len(evs) == 0 {
		return Recorded{}, false, err
	}
	all := make([]Settings, len(evs))
	for i := range evs {
		all[i], _ = SettingsOf(&evs[i])
	}
	slices.SortStableFunc(all, func(a, b Settings) int { return a.At.Compare(b.At) })
	in := 0 // the last at or before to, else the first
	for i, s := range all {
		if !to.IsZero() && s.At.After(to) {
			break
		}
		in = i
	}
	r := Recorded{Settings: all[in]}
	atFrom := -1 // the settings in force at from, when recorded before it
	for i, s := range all {
		if !from.IsZero() && !s.At.After(from) {
			atFrom = i
		}
	}
	for i, s := range all {
		inRange := (from.IsZero() || !s.At.Before(from)) && (to.IsZero() || s.At.Before(to))
		if i != in && (inRange || i == atFrom) && !r.Settings.same(s) {
			r.Others = append(r.Others, s)
		}
	}
	return r, true, nil
}

// same reports whether s and o are the same settings (not necessarily
// recorded at the same time).
func (s Settings) same(o Settings) bool {
	return s.Args() == o.Args() && s.Version == o.Version
}

// recordSettings appends a pipeline.configured of the pipeline's settings
// unless the last one recorded under its name says the same.
func (l *Live) recordSettings(ctx context.Context) error {
	cur := l.cfg.Configured()
	evs, err := configured(ctx, l.store, cur.Name)
	if err != nil {
		return err
	}
	if n := len(evs); n > 0 && proto.Equal(evs[n-1].Payload.(*events.PipelineConfigured), cur) {
		return nil
	}
	if err := l.store.Append(ctx, events.New("", "", cur)); err != nil {
		return fmt.Errorf("recording the pipeline's settings: %w", err)
	}
	return nil
}

// configured returns the log's pipeline.configured events of the pipeline
// named name, in log order.
func configured(ctx context.Context, store events.Store, name string) ([]events.Event, error) {
	var out []events.Event
	err := events.FoldAll(ctx, store, []events.Type{events.TypePipelineConfigured}, "the pipeline's settings", func(ev *events.Event) {
		if p, ok := ev.Payload.(*events.PipelineConfigured); ok && p.Name == name {
			out = append(out, *ev)
		}
	})
	return out, err
}
