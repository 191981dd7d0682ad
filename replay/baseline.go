package replay

import (
	"sort"
	"time"

	"github.com/halo-sec/halo/events"
)

// BaselineDiff compares a candidate replay's alerts with the alerts the
// live pipeline raised over the same range. Alerts match on their id,
// which is derived from tenant, device, detector, key and window, so the
// same finding has the same id live and replayed.
type BaselineDiff struct {
	Live      int                    `json:"live"`
	Candidate int                    `json:"candidate"`
	Both      int                    `json:"both"`
	Added     []AlertRef             `json:"added"`  // raised by the candidate only
	Missed    []AlertRef             `json:"missed"` // raised live only
	ByDet     map[string]BaselineDet `json:"by_detector"`
	// Note says why the comparison may not hold, when it can tell: the live
	// alerts were over windows of another size.
	Note string `json:"note,omitempty"`
}

// LiveWindow is the window size of the live pipeline, as its alerts say
// (window_end - window_start, the most common one); not ok without any.
// The pipeline's settings are not in the log: an alert's window is the one
// that shows.
func LiveWindow(live []events.Event) (time.Duration, bool) {
	n := map[time.Duration]int{}
	best, most := time.Duration(0), 0
	for _, e := range live {
		p, ok := e.Payload.(*events.AlertRaised)
		if !ok || p.WindowStart == 0 || p.WindowEnd <= p.WindowStart {
			continue
		}
		d := time.Duration(p.WindowEnd - p.WindowStart)
		n[d]++
		if n[d] > most || n[d] == most && d < best {
			best, most = d, n[d]
		}
	}
	return best, most > 0
}

// BaselineDet is the comparison for one detector.
type BaselineDet struct {
	Live      int `json:"live"`
	Candidate int `json:"candidate"`
	Both      int `json:"both"`
	Added     int `json:"added"`
	Missed    int `json:"missed"`
}

// AlertRef names an alert in a comparison.
type AlertRef struct {
	ID       string    `json:"id"`
	Tenant   string    `json:"tenant"`
	Device   string    `json:"device"`
	Detector string    `json:"detector"`
	Time     time.Time `json:"time"`
}

// CompareBaseline diffs the alert.raised events of a candidate with the
// live ones. Lists are ordered by (time, id); nothing is nil.
func CompareBaseline(live, candidate []events.Event) BaselineDiff {
	refs := func(evs []events.Event) map[string]AlertRef {
		m := map[string]AlertRef{}
		for _, e := range evs {
			if p, ok := e.Payload.(*events.AlertRaised); ok {
				m[e.Tenant+"/"+p.AlertId] = AlertRef{ID: p.AlertId, Tenant: e.Tenant, Device: e.Device, Detector: p.Detector, Time: e.Time.UTC()}
			}
		}
		return m
	}
	l, c := refs(live), refs(candidate)
	d := BaselineDiff{Live: len(l), Candidate: len(c), Added: []AlertRef{}, Missed: []AlertRef{}, ByDet: map[string]BaselineDet{}}
	for k, r := range c {
		bd := d.ByDet[r.Detector]
		bd.Candidate++
		if _, ok := l[k]; ok {
			d.Both++
			bd.Both++
		} else {
			d.Added = append(d.Added, r)
			bd.Added++
		}
		d.ByDet[r.Detector] = bd
	}
	for k, r := range l {
		bd := d.ByDet[r.Detector]
		bd.Live++
		if _, ok := c[k]; !ok {
			d.Missed = append(d.Missed, r)
			bd.Missed++
		}
		d.ByDet[r.Detector] = bd
	}
	order := func(rs []AlertRef) {
		sort.Slice(rs, func(i, j int) bool {
			if !rs[i].Time.Equal(rs[j].Time) {
				return rs[i].Time.Before(rs[j].Time)
			}
			return rs[i].Tenant+rs[i].ID < rs[j].Tenant+rs[j].ID
		})
	}
	order(d.Added)
	order(d.Missed)
	return d
}
