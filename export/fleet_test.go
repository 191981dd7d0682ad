package export

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/halo-sec/halo/events"
)

// fleet generates the edge's events for a synthetic fleet of payment
// terminals: every connection is a conn.opened and a conn.closed, and a
// plain-HTTP connection carries transactions (tx.observed) with keyed
// fingerprints, a few of them repeated. Deterministic for a seed.
type fleet struct {
	Tenant     string
	Devices    int
	Start      time.Time
	Step       time.Duration // between two connections of the fleet
	TxPerHTTP  int           // transactions per plain-HTTP connection
	Seed       uint64
	hosts      []string
	paths      []string
	connsSoFar int
}

func (f *fleet) init() {
	if f.hosts != nil {
		return
	}
	for i := range 40 {
		f.hosts = append(f.hosts, fmt.Sprintf("api%d.payments-%d.example", i%7, i))
	}
	f.paths = []string{"/v1/charge", "/v1/refund", "/v1/capture", "/v2/auth", "/health"}
}

func fp(parts ...uint64) []byte {
	var b [8]byte
	h := sha256.New()
	for _, p := range parts {
		binary.LittleEndian.PutUint64(b[:], p)
		h.Write(b[:])
	}
	return h.Sum(nil)
}

// Events returns the events of n connections, in time order.
func (f *fleet) Events(n int) []events.Event {
	f.init()
	r := rand.New(rand.NewPCG(f.Seed, uint64(f.connsSoFar)))
	var out []events.Event
	for range n {
		c := f.connsSoFar
		f.connsSoFar++
		at := f.Start.Add(time.Duration(c) * f.Step)
		dev := fmt.Sprintf("pos-%05d", r.IntN(f.Devices))
		host := f.hosts[r.IntN(len(f.hosts))]
		http := r.IntN(4) == 0
		mode := events.ConnMode_CONN_MODE_CONNECT
		port := uint32(443)
		if http {
			mode, port = events.ConnMode_CONN_MODE_HTTP, 80
		}
		connID := fmt.Sprintf("c%09d", c)
		id := func(kind string, k int) events.ID {
			return events.DerivedID("fleet", f.Tenant, connID, kind, fmt.Sprint(k))
		}
		dur := time.Duration(50+r.IntN(5000)) * time.Millisecond
		out = append(out, events.Event{ID: id("opened", 0), Schema: events.SchemaVersion, Tenant: f.Tenant, Device: dev, Time: at,
			Payload: &events.ConnOpened{ConnId: connID, SrcAddr: fmt.Sprintf("10.%d.%d.%d:%d", r.IntN(4), r.IntN(256), r.IntN(256), 30000+r.IntN(30000)),
				DstHost: host, DstIp: fmt.Sprintf("203.0.113.%d", r.IntN(40)), DstPort: port, Mode: mode,
				Sni: map[bool]string{false: host, true: ""}[http], TlsFp: map[bool]string{false: fmt.Sprintf("t13d1516h2_%04x", r.IntN(3)), true: ""}[http],
				Transport: "tcp", Service: map[bool]string{false: "tls", true: "http"}[http]}})
		if http {
			for k := range f.TxPerHTTP {
				amount := uint64(r.IntN(500))
				if r.IntN(50) == 0 {
					amount = 7 // a repeat
				}
				status := uint32(200)
				if r.IntN(40) == 0 {
					status = 502
				}
				out = append(out, events.Event{ID: id("tx", k), Schema: events.SchemaVersion, Tenant: f.Tenant, Device: dev,
					Time: at.Add(time.Duration(k+1) * dur / time.Duration(f.TxPerHTTP+1)),
					Payload: &events.TxObserved{ConnId: connID, Method: "POST", Host: host, Path: f.paths[r.IntN(len(f.paths))],
						BodySize: uint64(100 + r.IntN(900)), StrictFp: fp(uint64(c), uint64(k), amount), LooseFp: fp(amount, 1),
						Status: status, LatencyNs: int64(time.Duration(5+r.IntN(200)) * time.Millisecond), Outcome: events.TxOutcome_TX_OUTCOME_FORWARDED}})
			}
		}
		out = append(out, events.Event{ID: id("closed", 0), Schema: events.SchemaVersion, Tenant: f.Tenant, Device: dev, Time: at.Add(dur),
			Payload: &events.ConnClosed{ConnId: connID, BytesUp: uint64(200 + r.IntN(20000)), BytesDown: uint64(500 + r.IntN(200000)),
				DurationNs: int64(dur), Reason: events.CloseReason(1 + r.IntN(2)), PacketsUp: uint64(3 + r.IntN(40)), PacketsDown: uint64(3 + r.IntN(200))}})
	}
	return out
}
