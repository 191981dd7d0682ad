package publish

import "github.com/prometheus/client_golang/prometheus"

// Register exports the publisher's counters to reg as Prometheus metrics
// named prefix_* (e.g. halo_edge_publisher_spool_files).
func (p *Publisher) Register(reg prometheus.Registerer, prefix string) error {
	counter := func(name, help string, f func(Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: prefix + "_" + name, Help: help}, func() float64 { return float64(f(p.Stats())) })
	}
	gauge := func(name, help string, f func(Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: prefix + "_" + name, Help: help}, func() float64 { return f(p.Stats()) })
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, c := range []prometheus.Collector{
		counter("emitted_total", "Events accepted by the publisher.", func(s Stats) uint64 { return s.Emitted }),
		counter("refused_total", "Events refused because the spool or buffer was full.", func(s Stats) uint64 { return s.Refused }),
		counter("appended_total", "Events acknowledged by the log.", func(s Stats) uint64 { return s.Appended }),
		counter("append_errors_total", "Appends that failed or timed out.", func(s Stats) uint64 { return s.AppendErrors }),
		counter("spooled_events_total", "Events written to the spool.", func(s Stats) uint64 { return s.SpooledEvents }),
		counter("corrupt_spool_files_total", "Spool files that did not decode, moved aside.", func(s Stats) uint64 { return s.Corrupt }),
		counter("rejected_total", "Events the log refused as invalid, saved aside.", func(s Stats) uint64 { return s.Rejected }),
		gauge("spool_files", "Spool files waiting to be drained.", func(s Stats) float64 { return float64(s.SpoolFiles) }),
		gauge("spool_bytes", "Bytes of spool waiting to be drained.", func(s Stats) float64 { return float64(s.SpoolBytes) }),
		gauge("buffered_events", "Events in memory, neither appended nor spooled.", func(s Stats) float64 { return float64(s.Buffered) }),
		gauge("spooling", "1 while the log is unreachable and events go to the spool.", func(s Stats) float64 { return b(s.Spooling) }),
		gauge("spool_full", "1 while the spool is full and events are refused.", func(s Stats) float64 { return b(s.SpoolFull) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
