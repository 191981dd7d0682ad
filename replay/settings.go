package replay

import (
	"maps"
	"time"

	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/pipeline/detect"
)

// Settings are the pipeline settings a replay ran with, in its report.
type Settings struct {
	Window      string `json:"window"`
	Lateness    string `json:"lateness"`
	Suppression string `json:"suppression"`
	// Detectors run (every one when the configuration names none).
	Detectors []string `json:"detectors"`
	// DetectorOptions set, per detector; empty when none was.
	DetectorOptions map[string]map[string]string `json:"detector_options"`
	// LiveRecorded: when the live pipeline recorded the settings the
	// replay took from the log (pipeline.configured); absent when it took
	// none.
	LiveRecorded *time.Time `json:"live_settings_recorded,omitempty"`
}

// SettingsOf describes cfg (defaults filled in), whose unset settings
// were taken from live when it is not nil.
func SettingsOf(cfg pipeline.Config, live *pipeline.Settings) *Settings {
	c := cfg.Configured()
	s := &Settings{
		Window: time.Duration(c.WindowNs).String(), Lateness: time.Duration(c.LatenessNs).String(), Suppression: time.Duration(c.SuppressionNs).String(),
		Detectors: c.Detectors, DetectorOptions: maps.Clone(cfg.DetectorOptions),
	}
	if s.DetectorOptions == nil {
		s.DetectorOptions = map[string]map[string]string{}
	}
	if len(s.Detectors) == 0 {
		s.Detectors = detect.Names()
	}
	if live != nil {
		at := live.At.UTC()
		s.LiveRecorded = &at
	}
	return s
}
