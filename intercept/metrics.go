package intercept

import "github.com/prometheus/client_golang/prometheus"

// metrics are the chain's Prometheus series. They are registered only when
// Options.Metrics is set, and count either way.
type metrics struct {
	requests       *prometheus.CounterVec   // by verdict and decision
	recordFailures *prometheus.CounterVec   // by stage: intent, complete, append
	recordSeconds  prometheus.Histogram     // intent commit latency
	upstreamTime   *prometheus.HistogramVec // by service
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_requests_total",
			Help: "Requests through the chain, by verdict (forwarded, refused, upstream_error, answered) and policy effect.",
		}, []string{"verdict", "decision"}),
		recordFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_record_failures_total",
			Help: "Records that could not be written, by stage. An intent failure refused the call; a complete or append failure left a call recorded incomplete or not at all.",
		}, []string{"stage"}),
		recordSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gatehouse_record_intent_seconds",
			Help:    "Time to commit a call's intent durably before it is forwarded.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		upstreamTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_upstream_seconds",
			Help:    "Time from sending a call upstream to its response headers, by service.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"service"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.recordFailures, m.recordSeconds, m.upstreamTime)
	}
	return m
}
