package tunnel

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the edge's Prometheus metrics. Every refusal is counted by
// reason, so bad input is never dropped silently.
type Metrics struct {
	Handshakes    *prometheus.CounterVec // result: ok, or the auth.failed reason
	Refusals      *prometheus.CounterVec // reason
	Requests      *prometheus.CounterVec // mode (connect, http), outcome
	Bytes         *prometheus.CounterVec // direction: up, down
	BytesUp       prometheus.Counter     // Bytes{direction="up"}, looked up once
	BytesDown     prometheus.Counter
	ActiveConns   prometheus.Gauge
	ActiveStreams prometheus.Gauge
	EmitErrors    prometheus.Counter
	Cuts          *prometheus.CounterVec // reason: revoked, quarantine, block, shutdown, idle
}

// NewMetrics creates the edge's metrics and registers them with reg (when
// not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "halo_edge_handshakes_total",
			Help: "Device TLS handshakes by result (ok, or why the device was refused)."}, []string{"result"}),
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "halo_edge_refusals_total",
			Help: "Connections and requests the edge refused, by reason."}, []string{"reason"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "halo_edge_requests_total",
			Help: "Proxied CONNECT streams and HTTP requests by mode and outcome."}, []string{"mode", "outcome"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "halo_edge_bytes_total",
			Help: "Payload bytes carried, up (device to destination) and down."}, []string{"direction"}),
		ActiveConns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "halo_edge_device_connections",
			Help: "Device connections open now."}),
		ActiveStreams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "halo_edge_streams",
			Help: "CONNECT streams and HTTP requests in progress now."}),
		EmitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "halo_edge_emit_errors_total",
			Help: "Events the edge could not hand to the event log publisher."}),
		Cuts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "halo_edge_cuts_total",
			Help: "Open connections or streams the edge cut, by reason."}, []string{"reason"}),
	}
	m.BytesUp, m.BytesDown = m.Bytes.WithLabelValues("up"), m.Bytes.WithLabelValues("down")
	if reg != nil {
		reg.MustRegister(m.Handshakes, m.Refusals, m.Requests, m.Bytes, m.ActiveConns, m.ActiveStreams, m.EmitErrors, m.Cuts)
	}
	return m
}
