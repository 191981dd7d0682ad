package storetest

import (
	"fmt"
	"time"

	"github.com/halo-sec/halo/events"
)

// Samples returns one event of every type of the catalogue, every payload
// field set, for tenant and device, stamped at t plus one millisecond per
// event. Installation-wide types (clock.tick) get no tenant or device.
func Samples(tenant, device string, t time.Time) []events.Event {
	id := func(i int) []byte { x := events.NewID(); return x[:] }
	fp := func(s string) []byte { return []byte("fp-" + s + "-0123456789abcdef") }
	at := func(d time.Duration) int64 { return t.Add(d).UnixNano() }
	payloads := []events.Payload{
		&events.TenantCreated{DisplayName: "Acme Payments", Actor: "cli"},
		&events.TokenAdded{TokenId: "tok_1", Role: events.Role_ROLE_OPERATOR, TokenHash: fp("token"), Actor: "cli"},
		&events.DeviceEnrolled{Model: "P2", Firmware: "1.4.2", CertSha256: fp("cert"), CertSerial: "0a1b", NotAfter: at(365 * 24 * time.Hour), Method: events.EnrollMethod_ENROLL_METHOD_CSR, Actor: "factory"},
		&events.DeviceRevoked{CertSha256: fp("cert"), Reason: "stolen", Actor: "sp"},
		&events.AuthFailed{RemoteAddr: "127.0.0.1:50000", Reason: events.AuthFailReason_AUTH_FAIL_REASON_REVOKED, CertSha256: fp("cert"), CertSubject: "CN=" + device, Detail: "revoked"},
		&events.ConnOpened{ConnId: "c1", SrcAddr: "127.0.0.1:50001", DstHost: "pay.example.com", DstIp: "127.0.0.1", DstPort: 443, Mode: events.ConnMode_CONN_MODE_CONNECT, Sni: "pay.example.com", TlsFp: "t13d1516h2_8daaf6152771_b186095e22b6", Transport: "tcp", Service: "tls", Inbound: true},
		&events.ConnClosed{ConnId: "c1", BytesUp: 1200, BytesDown: 5400, DurationNs: int64(1500 * time.Millisecond), Reason: events.CloseReason_CLOSE_REASON_CLIENT, Error: "none", PacketsUp: 9, PacketsDown: 11, State: "SF"},
		&events.ConnBlocked{ConnId: "c2", DstHost: "evil.example", DstIp: "10.0.0.9", DstPort: 8080, InterventionId: "iv-1", Reason: "blocked host", StrictFp: fp("strict")},
		&events.TxObserved{ConnId: "c3", Method: "POST", Host: "pay.example.com", Path: "/v1/charge", BodySize: 212, StrictFp: fp("strict"), LooseFp: fp("loose"), Status: 200, LatencyNs: int64(35 * time.Millisecond), Outcome: events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY, Oversize: true},
		&events.ClockTick{Partition: 3, Partitions: 16},
		&events.AlertRaised{AlertId: "al-1", Detector: "replay-attack", Severity: events.Severity_SEVERITY_CRITICAL, Score: 0.99, WindowStart: at(-time.Minute), WindowEnd: at(0), Evidence: [][]byte{id(0), id(1)}, Summary: "replayed payment", Explanation: "strict fingerprint seen after a 200", Key: "fp", Features: []*events.Feature{{Name: "repeats", Value: 2, Baseline: 0}}},
		&events.AlertUpdated{AlertId: "al-1", Count: 3, LastSeen: at(time.Second), Score: 0.995, Evidence: [][]byte{id(2)}},
		&events.AlertAcknowledged{AlertId: "al-1", Actor: "analyst", Note: "looking"},
		&events.AlertResolved{AlertId: "al-1", Verdict: events.Verdict_VERDICT_TRUE_POSITIVE, Actor: "analyst", Note: "confirmed"},
		&events.LabelRecorded{Label: "Malicious", Detail: "C&C", Malicious: true, Start: at(-time.Hour), End: at(0), EventIds: [][]byte{id(3)}, Source: events.LabelSource_LABEL_SOURCE_IMPORT, AlertId: "al-1"},
		&events.PolicyChanged{Version: 2, Document: []byte("detectors: {}\n"), Sha256: fp("policy"), Actor: "sp"},
		&events.InterventionApplied{InterventionId: "iv-1", Kind: events.InterventionKind_INTERVENTION_KIND_BLOCK, Match: &events.Match{HostGlob: "*.evil.example", Cidr: "10.0.0.0/8", Port: 8080, StrictFp: fp("strict")}, Reason: "C&C", AlertId: "al-1", Actor: "pipeline", Expires: at(time.Hour), DryRun: true},
		&events.InterventionLifted{InterventionId: "iv-1", Reason: "expired", Actor: "pipeline"},
		&events.ModelDeployed{ModelId: "m-1", Kind: "iforest", Version: 1, Features: []string{"connections", "bytes_up"}, Threshold: 0.61, Cohort: "P2/1.4.2", ArtifactSha256: fp("model"), Artifact: "models/m-1.json", Actor: "ds"},
		&events.PipelineConfigured{Name: "pipeline", WindowNs: int64(10 * time.Second), LatenessNs: int64(2 * time.Second), SuppressionNs: int64(10 * time.Minute), Detectors: []string{"beaconing", "scan"}, DetectorOptions: []*events.DetectorOption{{Detector: "beaconing", Option: "min_interval", Value: "4s"}}, Version: "v0.1.0"},
	}
	if len(payloads) != len(events.Types()) {
		panic(fmt.Sprintf("storetest.Samples covers %d types, the catalogue has %d", len(payloads), len(events.Types())))
	}
	out := make([]events.Event, len(payloads))
	for i, p := range payloads {
		ten, dev := tenant, device
		if p.EventType() == events.TypeClockTick || p.EventType() == events.TypePipelineConfigured {
			ten, dev = "", ""
		}
		if p.EventType() == events.TypeTenantCreated || p.EventType() == events.TypeTokenAdded || p.EventType() == events.TypePolicyChanged {
			dev = ""
		}
		out[i] = events.Event{ID: events.NewID(), Schema: events.SchemaVersion, Tenant: ten, Device: dev, Time: t.Add(time.Duration(i) * time.Millisecond).UTC(), Payload: p}
	}
	return out
}

// Traffic returns n traffic events of one device starting at t, one
// millisecond apart, cycling through conn.opened, tx.observed, conn.closed.
func Traffic(tenant, device string, t time.Time, n int) []events.Event {
	out := make([]events.Event, n)
	for i := range out {
		conn := fmt.Sprintf("%s-c%d", device, i/3)
		var p events.Payload
		switch i % 3 {
		case 0:
			p = &events.ConnOpened{ConnId: conn, SrcAddr: "127.0.0.1:40000", DstHost: "pay.example.com", DstIp: "127.0.0.1", DstPort: 443, Mode: events.ConnMode_CONN_MODE_HTTP, Transport: "tcp"}
		case 1:
			p = &events.TxObserved{ConnId: conn, Method: "POST", Host: "pay.example.com", Path: "/v1/charge", BodySize: 180, StrictFp: []byte(fmt.Sprintf("%s-%d", device, i)), Status: 200, Outcome: events.TxOutcome_TX_OUTCOME_FORWARDED}
		default:
			p = &events.ConnClosed{ConnId: conn, BytesUp: uint64(i), BytesDown: uint64(2 * i), DurationNs: int64(i) * 1000, Reason: events.CloseReason_CLOSE_REASON_CLIENT}
		}
		out[i] = events.Event{ID: events.NewID(), Tenant: tenant, Device: device, Time: t.Add(time.Duration(i) * time.Millisecond).UTC(), Payload: p}
	}
	return out
}
