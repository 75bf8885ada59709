// Package observe builds Berth's logger and Prometheus metrics and serves
// health endpoints. It imports no domain package.
package observe

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-registry/berth/internal/httpx"
)

// NewLogger returns a text or JSON logger at level ("debug", "info", "warn", "error").
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if strings.EqualFold(format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Metrics holds Berth's Prometheus collectors in a registry of its own.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	bytesIn   *prometheus.CounterVec
	bytesOut  *prometheus.CounterVec
	uploads   prometheus.Histogram
	uploadsSz prometheus.Counter
}

// NewMetrics registers Berth's collectors plus the Go and process ones.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "berth_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"route"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_http_request_bytes_total", Help: "Request body bytes received by route.",
		}, []string{"route"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_http_response_bytes_total", Help: "Response body bytes sent by route.",
		}, []string{"route"}),
		uploads: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "berth_blob_upload_duration_seconds", Help: "Time from the start of an upload session to its successful finish.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
		uploadsSz: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_blob_upload_bytes_total", Help: "Bytes stored by finished upload sessions.",
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.bytesIn, m.bytesOut, m.uploads, m.uploadsSz,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds collectors that other packages define (garbage
// collection, quotas) to /metrics.
func (m *Metrics) Register(cs ...prometheus.Collector) {
	m.reg.MustRegister(cs...)
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveRequest records a finished request.
func (m *Metrics) ObserveRequest(r *http.Request, rec *httpx.Record) {
	m.requests.WithLabelValues(rec.Route, methodLabel(r.Method), strconv.Itoa(rec.Status)).Inc()
	m.duration.WithLabelValues(rec.Route).Observe(time.Since(rec.Start).Seconds())
	m.bytesIn.WithLabelValues(rec.Route).Add(float64(rec.BytesIn))
	m.bytesOut.WithLabelValues(rec.Route).Add(float64(rec.BytesOut))
}

// ObserveUpload records a finished upload session.
func (m *Metrics) ObserveUpload(d time.Duration, size int64) {
	m.uploads.Observe(d.Seconds())
	m.uploadsSz.Add(float64(size))
}

// methodLabel keeps the label set bounded whatever methods clients send.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return m
	}
	return "OTHER"
}
