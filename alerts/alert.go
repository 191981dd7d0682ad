package alerts

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
)

// Status is where an alert stands in its life.
type Status string

// The statuses of an alert. An acknowledged alert stays acknowledged when
// it is updated; a resolved alert stays resolved (later updates still count
// and extend it, but do not reopen it).
const (
	StatusOpen         Status = "open"
	StatusAcknowledged Status = "acknowledged"
	StatusResolved     Status = "resolved"
)

// ParseStatus checks a status name.
func ParseStatus(s string) (Status, error) {
	switch Status(s) {
	case StatusOpen, StatusAcknowledged, StatusResolved:
		return Status(s), nil
	}
	return "", fmt.Errorf("%w %q: use open, acknowledged or resolved", ErrBadStatus, s)
}

// Verdict is an analyst's conclusion about a resolved alert.
type Verdict string

// The verdicts Resolve accepts.
const (
	VerdictTruePositive  Verdict = "true-positive"
	VerdictFalsePositive Verdict = "false-positive"
	VerdictBenign        Verdict = "benign"
)

// ParseVerdict checks a verdict name.
func ParseVerdict(s string) (Verdict, error) {
	switch Verdict(s) {
	case VerdictTruePositive, VerdictFalsePositive, VerdictBenign:
		return Verdict(s), nil
	}
	return "", fmt.Errorf("%w %q: use true-positive, false-positive or benign", ErrBadVerdict, s)
}

func (v Verdict) proto() events.Verdict {
	switch v {
	case VerdictTruePositive:
		return events.Verdict_VERDICT_TRUE_POSITIVE
	case VerdictFalsePositive:
		return events.Verdict_VERDICT_FALSE_POSITIVE
	case VerdictBenign:
		return events.Verdict_VERDICT_BENIGN
	}
	return events.Verdict_VERDICT_UNSPECIFIED
}

func verdictOf(v events.Verdict) Verdict {
	switch v {
	case events.Verdict_VERDICT_TRUE_POSITIVE:
		return VerdictTruePositive
	case events.Verdict_VERDICT_FALSE_POSITIVE:
		return VerdictFalsePositive
	case events.Verdict_VERDICT_BENIGN:
		return VerdictBenign
	}
	return ""
}

var severityNames = []string{"info", "low", "medium", "high", "critical"}

// SeverityName is the lower-case name of a severity ("high"); an
// unspecified severity is "info", as in the tenant policy.
func SeverityName(s events.Severity) string {
	if s <= 0 || int(s) > len(severityNames) {
		return "info"
	}
	return severityNames[s-1]
}

// ParseSeverity maps a severity name to the event severity.
func ParseSeverity(s string) (events.Severity, error) {
	if i := slices.Index(severityNames, strings.ToLower(s)); i >= 0 {
		return events.Severity(i + 1), nil
	}
	return 0, fmt.Errorf("%w %q: use one of %s", ErrBadSeverity, s, strings.Join(severityNames, ", "))
}

// Feature is one feature value that explains an alert, with the baseline it
// was judged against.
type Feature struct {
	Name     string
	Value    float64
	Baseline float64
}

// MaxEvidence bounds the evidence ids an alert keeps: the first ones, which
// are enough to replay it; Count keeps counting.
const MaxEvidence = 1000

// Alert is one alert as the fold of its events sees it.
type Alert struct {
	ID          string
	Tenant      string
	Device      string
	Detector    string
	Severity    events.Severity
	Score       float64 // the highest score seen
	Status      Status
	Time        time.Time // event time of alert.raised
	LastSeen    time.Time // latest finding (alert.updated), Time at first
	Count       uint32    // findings folded into the alert, 1 at first
	Summary     string
	Explanation string
	Evidence    []events.ID
	Key         string // what the alert is about (destination, fingerprint)
	Features    []Feature
	WindowStart time.Time
	WindowEnd   time.Time
	Verdict     Verdict // set once resolved

	AcknowledgedBy string
	AcknowledgedAt time.Time
	ResolvedBy     string
	ResolvedAt     time.Time
	Note           string // the latest acknowledgement or resolution note

	Seq uint64 // log position of alert.raised (0 when applied before it was read back)
}

func (a *Alert) clone() Alert {
	c := *a
	c.Evidence = slices.Clone(a.Evidence)
	c.Features = slices.Clone(a.Features)
	return c
}

// before orders alerts by (Time, ID), oldest first.
func (a *Alert) before(t time.Time, id string) bool {
	if !a.Time.Equal(t) {
		return a.Time.Before(t)
	}
	return a.ID < id
}

func evidenceIDs(in [][]byte) []events.ID {
	out := make([]events.ID, 0, len(in))
	for _, b := range in {
		if len(b) == len(events.ID{}) {
			out = append(out, events.ID(b))
		}
	}
	return out
}

func nanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
