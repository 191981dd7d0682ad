package api

import (
	"encoding/hex"
	"time"

	"github.com/halo-sec/halo/alerts"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/identity"
	"github.com/halo-sec/halo/intervention"
)

// The JSON views. Field names are the API's contract, documented in
// openapi.json; TestOpenAPIDocumentsResponses checks they agree.

// AlertView is an alert as the API renders it (GET /v1/alerts/{id}).
type AlertView struct {
	ID             string        `json:"id"`
	Tenant         string        `json:"tenant"`
	Device         string        `json:"device"`
	Detector       string        `json:"detector"`
	Severity       string        `json:"severity"`
	Score          float64       `json:"score"`
	Status         string        `json:"status"`
	Time           time.Time     `json:"time"`
	LastSeen       time.Time     `json:"last_seen"`
	Count          uint32        `json:"count"`
	Summary        string        `json:"summary"`
	Explanation    string        `json:"explanation"`
	Evidence       []string      `json:"evidence"`
	Key            string        `json:"key"`
	Features       []featureJSON `json:"features"`
	Window         windowJSON    `json:"window"`
	Verdict        string        `json:"verdict,omitempty"`
	AcknowledgedBy string        `json:"acknowledged_by,omitempty"`
	AcknowledgedAt *time.Time    `json:"acknowledged_at,omitempty"`
	ResolvedBy     string        `json:"resolved_by,omitempty"`
	ResolvedAt     *time.Time    `json:"resolved_at,omitempty"`
	Note           string        `json:"note,omitempty"`
}

type featureJSON struct {
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Baseline float64 `json:"baseline"`
}

type windowJSON struct {
	Start *time.Time `json:"start,omitempty"`
	End   *time.Time `json:"end,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func alertView(a alerts.Alert) AlertView {
	v := AlertView{
		ID: a.ID, Tenant: a.Tenant, Device: a.Device, Detector: a.Detector, Severity: alerts.SeverityName(a.Severity),
		Score: a.Score, Status: string(a.Status), Time: a.Time, LastSeen: a.LastSeen, Count: a.Count,
		Summary: a.Summary, Explanation: a.Explanation, Evidence: make([]string, len(a.Evidence)), Key: a.Key,
		Features: make([]featureJSON, len(a.Features)),
		Window:   windowJSON{Start: timePtr(a.WindowStart), End: timePtr(a.WindowEnd)},
		Verdict:  string(a.Verdict), AcknowledgedBy: a.AcknowledgedBy, AcknowledgedAt: timePtr(a.AcknowledgedAt),
		ResolvedBy: a.ResolvedBy, ResolvedAt: timePtr(a.ResolvedAt), Note: a.Note,
	}
	for i, id := range a.Evidence {
		v.Evidence[i] = id.String()
	}
	for i, f := range a.Features {
		v.Features[i] = featureJSON{f.Name, f.Value, f.Baseline}
	}
	return v
}

type deviceJSON struct {
	ID         string            `json:"id"`
	Tenant     string            `json:"tenant"`
	Model      string            `json:"model"`
	Firmware   string            `json:"firmware"`
	Status     string            `json:"status"`
	Enrolled   time.Time         `json:"enrolled"`
	RevokedAt  *time.Time        `json:"revoked_at,omitempty"`
	OpenAlerts int               `json:"open_alerts"`
	LastSeen   *time.Time        `json:"last_seen,omitempty"`
	Quarantine *interventionJSON `json:"quarantine,omitempty"`
}

// Device statuses.
const (
	DeviceActive      = "active"
	DeviceQuarantined = "quarantined"
	DeviceRevoked     = "revoked"
)

func deviceView(d identity.Device, open int, q *intervention.Intervention) deviceJSON {
	v := deviceJSON{ID: d.ID, Tenant: d.Tenant, Model: d.Model, Firmware: d.Firmware, Status: DeviceActive,
		Enrolled: d.Enrolled, OpenAlerts: open}
	if q != nil {
		iv := interventionView(*q)
		v.Quarantine, v.Status = &iv, DeviceQuarantined
	}
	if d.Revoked {
		v.Status, v.RevokedAt = DeviceRevoked, timePtr(d.RevokedAt)
	}
	return v
}

type interventionJSON struct {
	ID      string     `json:"id"`
	Kind    string     `json:"kind"`
	Device  string     `json:"device,omitempty"`
	Match   *matchJSON `json:"match,omitempty"`
	Reason  string     `json:"reason"`
	AlertID string     `json:"alert_id,omitempty"`
	Actor   string     `json:"actor"`
	Applied time.Time  `json:"applied"`
	Expires *time.Time `json:"expires,omitempty"`
	DryRun  bool       `json:"dry_run"`
}

type matchJSON struct {
	Host        string `json:"host,omitempty"`
	CIDR        string `json:"cidr,omitempty"`
	Port        uint32 `json:"port,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

func interventionView(iv intervention.Intervention) interventionJSON {
	v := interventionJSON{ID: iv.ID, Kind: "block", Device: iv.Device, Reason: iv.Reason, AlertID: iv.AlertID,
		Actor: iv.Actor, Applied: iv.Applied, Expires: timePtr(iv.Expires), DryRun: iv.DryRun}
	if iv.Kind == events.InterventionKind_INTERVENTION_KIND_QUARANTINE {
		v.Kind = "quarantine"
	} else {
		m := &matchJSON{Host: iv.Match.HostGlob, Port: iv.Match.Port, Fingerprint: hex.EncodeToString(iv.Match.StrictFP)}
		if iv.Match.CIDR.IsValid() {
			m.CIDR = iv.Match.CIDR.String()
		}
		v.Match = m
	}
	return v
}
