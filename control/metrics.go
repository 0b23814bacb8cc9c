package control

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossmount/ossmount/store"
	ossstore "github.com/ossmount/ossmount/store/oss"
)

// collector exports a Snapshot, read at each scrape, in Prometheus form:
// counters for what only grows, gauges for what the cache holds now.
type collector struct {
	snapshot func() Snapshot
	descs    map[string]*prometheus.Desc
}

// metric is one exported figure: its name, help, type and labels, and how
// it is read from a Snapshot (emit sends one value with its label values).
type metric struct {
	name, help string
	kind       prometheus.ValueType
	labels     []string
	collect    func(s Snapshot, emit func(v float64, labels ...string))
}

// one is the collect function of an unlabelled metric.
func one(value func(Snapshot) float64) func(Snapshot, func(float64, ...string)) {
	return func(s Snapshot, emit func(float64, ...string)) { emit(value(s)) }
}

// metrics is every metric, one row each.
var metrics = []metric{
	{"ossmount_requests_total", "Requests sent to OSS, by kind (GET, HEAD, LIST), retries included.", prometheus.CounterValue, []string{"kind"},
		func(s Snapshot, emit func(float64, ...string)) {
			for _, k := range []string{ossstore.OpGet, ossstore.OpHead, ossstore.OpList} {
				emit(float64(s.Requests[k]), k)
			}
		}},
	{"ossmount_conditional_requests_total", "GETs carrying If-None-Match or If-Modified-Since.", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.Conditional) })},
	{"ossmount_not_modified_total", "304 Not Modified answers.", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.NotModified) })},
	{"ossmount_opens_total", "Open-time revalidations.", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.Opens) })},
	{"ossmount_part_gets_total", "GETs of parts (reads and readahead).", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.PartGETs) })},
	{"ossmount_retries_total", "Retried part requests.", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.Retries) })},
	{"ossmount_request_errors_total", "Failed requests, by kind.", prometheus.CounterValue, []string{"kind"},
		func(s Snapshot, emit func(float64, ...string)) {
			for _, k := range store.ErrorKinds() {
				emit(float64(s.Errors[k.String()]), k.String())
			}
		}},
	{"ossmount_in_flight_gets", "GETs in flight now.", prometheus.GaugeValue, nil,
		one(func(s Snapshot) float64 { return float64(s.InFlight) })},
	{"ossmount_fetched_bytes_total", "Response body bytes received from OSS.", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.BytesFetched) })},
	{"ossmount_cache_hit_bytes_total", "Read bytes served from blocks cached before the reader asked for them.", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.CacheHitBytes) })},
	{"ossmount_cache_miss_bytes_total", "Read bytes that waited for a fetch.", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.CacheMissBytes) })},
	{"ossmount_cache_readahead_bytes_total", "Read bytes served from what was fetched ahead for the same reader (readahead, the open's GET).", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.CacheReadAheadBytes) })},
	{"ossmount_negative_lookups_total", "HEADs answered 404: lookups of names that are no file (not errors).", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.NegativeLookups) })},
	{"ossmount_cache_used_bytes", "Bytes of cached blocks.", prometheus.GaugeValue, nil,
		one(func(s Snapshot) float64 { return float64(s.CacheUsedBytes) })},
	{"ossmount_cache_limit_bytes", "cache_size (0: unbounded).", prometheus.GaugeValue, nil,
		one(func(s Snapshot) float64 { return float64(s.CacheLimitBytes) })},
	{"ossmount_cache_objects", "Object versions with cached blocks.", prometheus.GaugeValue, nil,
		one(func(s Snapshot) float64 { return float64(s.CacheObjects) })},
	{"ossmount_cache_blocks", "Cached blocks.", prometheus.GaugeValue, nil,
		one(func(s Snapshot) float64 { return float64(s.CacheBlocks) })},
	{"ossmount_cache_evictions_total", "Blocks evicted to stay within the limits.", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.Evictions) })},
	{"ossmount_cache_crc_failures_total", "Cached blocks or objects that failed a CRC check and were dropped.", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.CRCFailures) })},
	{"ossmount_cache_write_errors_total", "Cache writes that failed (the data was served uncached).", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.CacheWriteErrors) })},
	{"ossmount_passthrough_opens_total", "Cache files handed to the kernel to read a file from directly (FUSE passthrough).", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.PassthroughOpens) })},
	{"ossmount_passthrough_pinned_objects", "Object versions pinned in the cache because the kernel reads their cache file.", prometheus.GaugeValue, nil,
		one(func(s Snapshot) float64 { return float64(s.PassthroughPinned) })},
	{"ossmount_credentials_info", "1, labelled with the credential source in use.", prometheus.GaugeValue, []string{"source"},
		func(s Snapshot, emit func(float64, ...string)) { emit(1, s.Credentials.Source) }},
	{"ossmount_credentials_expiry_timestamp_seconds", "When the current credentials expire (Unix time; 0: they do not).", prometheus.GaugeValue, nil,
		one(func(s Snapshot) float64 { return expiryUnix(s.Credentials.Expires) })},
	{"ossmount_credentials_renewals_total", "Successful fetches of credentials.", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.Credentials.Renewals) })},
	{"ossmount_credentials_renewal_failures_total", "Failed fetches of credentials.", prometheus.CounterValue, nil,
		one(func(s Snapshot) float64 { return float64(s.Credentials.Failures) })},
}

// NewCollector returns a Prometheus collector of snapshot's figures.
func NewCollector(snapshot func() Snapshot) prometheus.Collector {
	c := &collector{snapshot: snapshot, descs: map[string]*prometheus.Desc{}}
	for _, m := range metrics {
		c.descs[m.name] = prometheus.NewDesc(m.name, m.help, m.labels, nil)
	}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	for _, m := range metrics {
		m.collect(s, func(v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(c.descs[m.name], m.kind, v, labels...)
		})
	}
}
