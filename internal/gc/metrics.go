package gc

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/meta"
)

// StatsStore is meta.GC as the metrics read it.
type StatsStore interface {
	Stats(ctx context.Context) (meta.QueueStats, error)
}

// Metrics are garbage collection's Prometheus metrics. The queue figures
// are read from the database at each scrape, so every replica reports the
// cluster's queue.
type Metrics struct {
	deleted prometheus.Counter
	freed   prometheus.Counter
	queue   *queueCollector
}

// NewMetrics returns the metrics, reading queue figures from stats.
func NewMetrics(stats StatsStore) *Metrics {
	return &Metrics{
		deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_gc_blobs_deleted_total", Help: "Blobs garbage collection deleted (rate: deletes per second).",
		}),
		freed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_gc_bytes_freed_total", Help: "Bytes garbage collection freed in storage.",
		}),
		queue: &queueCollector{stats: stats,
			reviews: prometheus.NewDesc("berth_gc_review_queue_length", "Blob reviews queued.", nil, nil),
			due:     prometheus.NewDesc("berth_gc_review_queue_due", "Blob reviews due now.", nil, nil),
			oldest: prometheus.NewDesc("berth_gc_oldest_pending_review_seconds",
				"How long the oldest due review has been waiting (0: none).", nil, nil),
			pending: prometheus.NewDesc("berth_gc_pending_bytes", "Bytes of queued blobs no manifest references.", nil, nil),
		},
	}
}

// Collectors returns what to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.deleted, m.freed, m.queue}
}

type queueCollector struct {
	stats                         StatsStore
	reviews, due, oldest, pending *prometheus.Desc
}

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- q.reviews
	ch <- q.due
	ch <- q.oldest
	ch <- q.pending
}

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := q.stats.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(q.reviews, err)
		return
	}
	age := 0.0
	if !s.OldestDue.IsZero() {
		age = max(time.Since(s.OldestDue).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(q.reviews, prometheus.GaugeValue, float64(s.Reviews))
	ch <- prometheus.MustNewConstMetric(q.due, prometheus.GaugeValue, float64(s.Due))
	ch <- prometheus.MustNewConstMetric(q.oldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(q.pending, prometheus.GaugeValue, float64(s.PendingBytes))
}
