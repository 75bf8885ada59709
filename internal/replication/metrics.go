package replication

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are replication's Prometheus metrics.
type Metrics struct {
	bytesCopied prometheus.Counter
	tasks       *prometheus.CounterVec
	executions  *prometheus.HistogramVec
	proxy       *prometheus.CounterVec
}

// NewMetrics returns unregistered metrics (Collectors lists them).
func NewMetrics() *Metrics {
	return &Metrics{
		bytesCopied: prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_replication_bytes_total",
			Help: "Bytes sent to replication destinations (blobs and manifests)."}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_replication_tasks_total",
			Help: "Replication tasks finished, by final status."}, []string{"status"}),
		executions: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "berth_replication_execution_duration_seconds",
			Help: "Duration of replication executions, by final status.", Buckets: prometheus.ExponentialBuckets(0.5, 2, 14)},
			[]string{"status"}),
		proxy: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_proxy_cache_requests_total",
			Help: "Proxy-cache manifest requests, by outcome (hit, miss, stale)."}, []string{"outcome"}),
	}
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.bytesCopied, m.tasks, m.executions, m.proxy}
}

func (m *Metrics) bytes(n int64) {
	if n > 0 {
		m.bytesCopied.Add(float64(n))
	}
}

func (m *Metrics) task(status string) { m.tasks.WithLabelValues(status).Inc() }

func (m *Metrics) execution(status string, d time.Duration) {
	m.executions.WithLabelValues(status).Observe(d.Seconds())
}
