package cli

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
)

// This file holds the pflag.Value types of Halo's flags. Each one validates
// its argument when the flag is parsed, so a bad value is reported as a
// usage error naming the flag, before any work starts.

// choiceFlag is a string flag restricted to a fixed set of values.
type choiceFlag struct {
	value   string
	choices []string
}

func newChoice(def string, choices ...string) *choiceFlag {
	return &choiceFlag{value: def, choices: choices}
}

func (f *choiceFlag) String() string { return f.value }
func (f *choiceFlag) Type() string   { return strings.Join(f.choices, "|") }
func (f *choiceFlag) Set(s string) error {
	v := strings.ToLower(strings.TrimSpace(s))
	if !slices.Contains(f.choices, v) {
		return fmt.Errorf("want one of %s", strings.Join(f.choices, ", "))
	}
	f.value = v
	return nil
}

// addrFlag is a HOST:PORT listen address. An empty host means every
// interface; port 0 is accepted only when allowZeroPort is set.
type addrFlag struct {
	value         string
	allowZeroPort bool
}

func (f *addrFlag) String() string { return f.value }
func (f *addrFlag) Type() string   { return "host:port" }
func (f *addrFlag) Set(s string) error {
	if err := checkListenAddr(s, f.allowZeroPort); err != nil {
		return err
	}
	f.value = s
	return nil
}

func checkListenAddr(s string, allowZeroPort bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080 (%v)", err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	if n == 0 && !allowZeroPort {
		return fmt.Errorf("port 0 is not allowed here: give a port from 1 to 65535")
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Errorf("host %q is neither an IP address nor a host name", host)
	}
	return nil
}

// validHostname checks host name syntax (RFC 1123 labels).
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// typesFlag collects event types from repeated and comma-separated values.
type typesFlag struct{ types []events.Type }

func (f *typesFlag) Type() string { return "type" }
func (f *typesFlag) String() string {
	s := make([]string, len(f.types))
	for i, t := range f.types {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

func (f *typesFlag) Set(s string) error {
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		t := events.Type(name)
		if !t.Valid() {
			if dotted := events.Type(strings.ReplaceAll(name, "_", ".")); dotted.Valid() {
				return fmt.Errorf("unknown event type %q: did you mean %q?", name, dotted)
			}
			return fmt.Errorf("unknown event type %q (known types: %s)", name, knownTypes())
		}
		if !slices.Contains(f.types, t) {
			f.types = append(f.types, t)
		}
	}
	return nil
}

func knownTypes() string {
	ts := events.Types()
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// tenantFlag and deviceFlag validate identifiers with the events package's
// rules, so a typo is reported instead of silently matching nothing.
type tenantFlag struct{ value string }

func (f *tenantFlag) String() string { return f.value }
func (f *tenantFlag) Type() string   { return "tenant" }
func (f *tenantFlag) Set(s string) error {
	if err := events.ValidateTenant(s); err != nil {
		return err
	}
	f.value = s
	return nil
}

type deviceFlag struct{ value string }

func (f *deviceFlag) String() string { return f.value }
func (f *deviceFlag) Type() string   { return "device" }
func (f *deviceFlag) Set(s string) error {
	if err := events.ValidateDevice(s); err != nil {
		return err
	}
	f.value = s
	return nil
}

// timeFlag is an instant given as RFC 3339, as a date (midnight UTC), or as
// a duration meaning "that long before now".
type timeFlag struct {
	value time.Time
	now   func() time.Time // time.Now when nil
}

func (f *timeFlag) Type() string { return "time" }
func (f *timeFlag) String() string {
	if f.value.IsZero() {
		return ""
	}
	return f.value.Format(time.RFC3339Nano)
}

func (f *timeFlag) Set(s string) error {
	now := time.Now
	if f.now != nil {
		now = f.now
	}
	t, err := parseTime(s, now())
	if err != nil {
		return err
	}
	f.value = t
	return nil
}

func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := parseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("duration %q is negative: give how long ago, e.g. 1h", s)
		}
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want RFC 3339 (2026-11-27T05:00:00Z), a date (2026-11-27) or a duration ago (90s, 15m, 1h, 7d)", s)
}

// parseDuration is time.ParseDuration plus a leading whole number of days:
// "7d", "1d12h".
func parseDuration(s string) (time.Duration, error) {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	var days time.Duration
	if i := strings.IndexByte(body, 'd'); i > 0 {
		n, err := strconv.ParseUint(body[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		body = body[i+1:]
		if body == "" {
			body = "0s"
		}
	}
	d, err := time.ParseDuration(body)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 90s, 15m, 2h30m or 7d", s)
	}
	d += days
	if neg {
		d = -d
	}
	return d, nil
}

// durationFlag is a duration that accepts a day suffix ("30d"); zero is
// allowed and means "no limit" where the flag says so.
type durationFlag struct{ value time.Duration }

func (f *durationFlag) Type() string { return "duration" }
func (f *durationFlag) String() string {
	if f.value == 0 {
		return "0"
	}
	return formatDuration(f.value)
}

func (f *durationFlag) Set(s string) error {
	if s == "0" {
		f.value = 0
		return nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	f.value = d
	return nil
}

// syncFlag is the event log's fsync interval: a positive duration, or
// "always" to fsync every write (stored as -1, natsstore's convention).
type syncFlag struct{ value time.Duration }

func (f *syncFlag) Type() string { return "duration|always" }
func (f *syncFlag) String() string {
	if f.value < 0 {
		return "always"
	}
	return formatDuration(f.value)
}

func (f *syncFlag) Set(s string) error {
	if strings.EqualFold(strings.TrimSpace(s), "always") {
		f.value = -1
		return nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return fmt.Errorf("want a positive duration (e.g. 2m, 10s) or \"always\": %v", err)
	}
	if d <= 0 {
		return fmt.Errorf("want a positive duration (e.g. 2m, 10s) or \"always\", got %q", s)
	}
	f.value = d
	return nil
}

// formatDuration prints durations without the zero units Go adds: "2m",
// "720h" rather than "2m0s", "720h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// bytesFlag is a size in bytes with an optional unit: 500MB, 10GiB, 1TB.
type bytesFlag struct{ value int64 }

func (f *bytesFlag) Type() string { return "bytes" }
func (f *bytesFlag) String() string {
	if f.value == 0 {
		return "0"
	}
	for _, u := range byteUnits {
		if u.n > 1 && f.value%u.n == 0 {
			return strconv.FormatInt(f.value/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(f.value, 10)
}

// byteUnits, largest first so String picks the largest exact unit.
var byteUnits = []struct {
	suffix string
	n      int64
}{
	{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9},
	{"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3}, {"B", 1},
}

func (f *bytesFlag) Set(s string) error {
	s = strings.TrimSpace(s)
	num, mult := s, int64(1)
	for _, u := range byteUnits {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			num, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > (1<<63-1)/mult) {
		return fmt.Errorf("want a size in bytes such as 0, 1073741824, 500MB or 10GiB, got %q", s)
	}
	f.value = n * mult
	return nil
}
