// Package windowtest makes synthetic traffic for tests and benchmarks of the
// window and features packages.
package windowtest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/halo-sec/halo/events"
)

// T0 is the start of synthetic traffic: a window boundary.
var T0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// Synthetic returns n traffic events of the given number of devices (tenant
// "acme", devices "pos-00000"…), spread evenly over span from T0, in time
// order with devices interleaved at random (seeded: the same arguments give
// the same events). Each device cycles through connections — conn.opened,
// a tx.observed on plain-HTTP ones, conn.closed — to one of a few
// destinations of its cohort, with some refused and timed-out connections,
// blocked attempts, transaction errors, repeated fingerprints and auth
// failures mixed in. Ids are time-ordered and derived from the seed.
func Synthetic(n, devices int, span time.Duration, seed uint64) []events.Event {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type dev struct {
		name  string
		step  int
		conn  int
		host  int
		http  bool
		lastS []byte
	}
	hosts := []string{"pay.example.com", "api.example.com", "tms.vendor.example", "ota.vendor.example", "time.example.net", "metrics.vendor.example"}
	ips := []string{"203.0.113.10", "203.0.113.11", "198.51.100.7", "198.51.100.8", "192.0.2.1", "192.0.2.2"}
	fps := []string{"t13d1516h2_8daaf6152771_b186095e22b6", "t13d1517h2_8daaf6152771_02713d6af862", "t12d1209h1_5b57614c22b0_3d5424432f57"}
	devs := make([]dev, devices)
	for i := range devs {
		devs[i].name = fmt.Sprintf("pos-%05d", i)
	}
	out := make([]events.Event, n)
	stepNs := int64(span) / int64(max(n, 1))
	for i := range out {
		d := &devs[rng.IntN(devices)]
		at := T0.Add(time.Duration(int64(i) * stepNs))
		var id events.ID
		binary.BigEndian.PutUint64(id[0:8], uint64(at.UnixMilli())<<16|0x7000)
		binary.BigEndian.PutUint64(id[8:16], seed<<40|uint64(i))
		var p events.Payload
		tenant, device := "acme", d.name
		switch r := rng.IntN(1000); {
		case d.step == 0 && r < 5:
			p = &events.AuthFailed{RemoteAddr: "198.51.100.99:4000", Reason: events.AuthFailReason_AUTH_FAIL_REASON_REVOKED}
			if r < 2 {
				device = "" // an unknown client of the tenant
			}
		case d.step == 0 && r < 15:
			h := rng.IntN(len(hosts))
			p = &events.ConnBlocked{ConnId: fmt.Sprintf("%s-b%d", d.name, d.conn), DstHost: "evil.example", DstIp: "192.0.2.66", DstPort: uint32(8000 + h), InterventionId: "iv-1"}
			d.conn++
		case d.step == 0:
			d.host = rng.IntN(len(hosts))
			d.http = rng.IntN(4) == 0
			port, mode, fp := uint32(443), events.ConnMode_CONN_MODE_CONNECT, fps[rng.IntN(len(fps))]
			if d.http {
				port, mode, fp = 80, events.ConnMode_CONN_MODE_HTTP, ""
			}
			if rng.IntN(100) == 0 {
				port = uint32(1 + rng.IntN(65535))
			}
			p = &events.ConnOpened{ConnId: fmt.Sprintf("%s-c%d", d.name, d.conn), SrcAddr: "10.1.2.3:40000", DstHost: hosts[d.host], DstIp: ips[d.host], DstPort: port, Mode: mode, TlsFp: fp, Transport: "tcp"}
			d.step = 1
			if !d.http {
				d.step = 2
			}
		case d.step == 1:
			strict := make([]byte, 32)
			binary.BigEndian.PutUint64(strict, rng.Uint64())
			if d.lastS != nil && rng.IntN(20) == 0 {
				strict = d.lastS // a retry, or a replay
			}
			d.lastS = strict
			status, outcome := uint32(200), events.TxOutcome_TX_OUTCOME_FORWARDED
			if rng.IntN(50) == 0 {
				status, outcome = 502, events.TxOutcome_TX_OUTCOME_ERROR
			}
			p = &events.TxObserved{ConnId: fmt.Sprintf("%s-c%d", d.name, d.conn), Method: "POST", Host: hosts[d.host], Path: "/v1/charge", BodySize: 180,
				StrictFp: strict, LooseFp: strict[:16], Status: status, LatencyNs: int64(20+rng.IntN(200)) * 1e6, Outcome: outcome}
			d.step = 2
		default:
			reason, state := events.CloseReason_CLOSE_REASON_CLIENT, ""
			switch rng.IntN(100) {
			case 0, 1:
				reason = events.CloseReason_CLOSE_REASON_REFUSED
			case 2:
				reason = events.CloseReason_CLOSE_REASON_TIMEOUT
			case 3:
				state = "S0"
			}
			p = &events.ConnClosed{ConnId: fmt.Sprintf("%s-c%d", d.name, d.conn), BytesUp: uint64(200 + rng.IntN(4000)), BytesDown: uint64(500 + rng.IntN(40000)),
				DurationNs: int64(rng.IntN(5000)) * 1e6, Reason: reason, State: state}
			d.conn++
			d.step = 0
		}
		out[i] = events.Event{ID: id, Schema: events.SchemaVersion, Tenant: tenant, Device: device, Time: at, Payload: p}
	}
	return out
}

// LogOrder reorders evs the way the event log stores them: the store takes
// events in appends of chunk events and writes the events of one (tenant,
// partition) lane of an append into one message, so a reader sees runs of
// one partition, each in the original order. chunk 1 keeps evs as they are.
func LogOrder(evs []events.Event, partitions, chunk int) []events.Event {
	out := make([]events.Event, 0, len(evs))
	for lo := 0; lo < len(evs); lo += chunk {
		part := evs[lo:min(lo+chunk, len(evs))]
		lanes := map[string][]events.Event{}
		var order []string
		for _, e := range part {
			k := e.Tenant + "\x00" + fmt.Sprint(events.Partition(e.Device, partitions))
			if _, ok := lanes[k]; !ok {
				order = append(order, k)
			}
			lanes[k] = append(lanes[k], e)
		}
		for _, k := range order {
			out = append(out, lanes[k]...)
		}
	}
	return out
}
