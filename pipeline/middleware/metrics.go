package middleware

import (
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts handled messages by result and observes handler latency.
type Metrics struct {
	Messages *prometheus.CounterVec // result: ok, error
	Duration prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer, prefix string) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: prefix + "_messages_total",
			Help: "Log deliveries handled, by result."}, []string{"result"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: prefix + "_handler_seconds",
			Help: "Time to handle one log delivery.", Buckets: prometheus.ExponentialBuckets(5e-6, 4, 12)}),
	}
	if reg != nil {
		reg.MustRegister(m.Messages, m.Duration)
	}
	return m
}

// Middleware measures the wrapped handler.
func (m *Metrics) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		start := time.Now()
		out, err := h(msg)
		m.Duration.Observe(time.Since(start).Seconds())
		if err != nil {
			m.Messages.WithLabelValues("error").Inc()
		} else {
			m.Messages.WithLabelValues("ok").Inc()
		}
		return out, err
	}
}
