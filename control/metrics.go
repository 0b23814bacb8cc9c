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

type metric struct {
	name, help string
	kind       prometheus.ValueType
	labels     []string
}

var metrics = []metric{
	{"ossmount_requests_total", "Requests sent to OSS, by kind (GET, HEAD, LIST), retries included.", prometheus.CounterValue, []string{"kind"}},
	{"ossmount_conditional_requests_total", "GETs carrying If-None-Match or If-Modified-Since.", prometheus.CounterValue, nil},
	{"ossmount_not_modified_total", "304 Not Modified answers.", prometheus.CounterValue, nil},
	{"ossmount_opens_total", "Open-time revalidations.", prometheus.CounterValue, nil},
	{"ossmount_part_gets_total", "GETs of parts (reads and readahead).", prometheus.CounterValue, nil},
	{"ossmount_retries_total", "Retried part requests.", prometheus.CounterValue, nil},
	{"ossmount_request_errors_total", "Failed requests, by kind.", prometheus.CounterValue, []string{"kind"}},
	{"ossmount_in_flight_gets", "GETs in flight now.", prometheus.GaugeValue, nil},
	{"ossmount_fetched_bytes_total", "Response body bytes received from OSS.", prometheus.CounterValue, nil},
	{"ossmount_cache_hit_bytes_total", "Read bytes served from blocks cached before the reader asked for them.", prometheus.CounterValue, nil},
	{"ossmount_cache_miss_bytes_total", "Read bytes that waited for a fetch.", prometheus.CounterValue, nil},
	{"ossmount_cache_readahead_bytes_total", "Read bytes served from what was fetched ahead for the same reader (readahead, the open's GET).", prometheus.CounterValue, nil},
	{"ossmount_negative_lookups_total", "HEADs answered 404: lookups of names that are no file (not errors).", prometheus.CounterValue, nil},
	{"ossmount_cache_used_bytes", "Bytes of cached blocks.", prometheus.GaugeValue, nil},
	{"ossmount_cache_limit_bytes", "cache_size (0: unbounded).", prometheus.GaugeValue, nil},
	{"ossmount_cache_objects", "Object versions with cached blocks.", prometheus.GaugeValue, nil},
	{"ossmount_cache_blocks", "Cached blocks.", prometheus.GaugeValue, nil},
	{"ossmount_cache_evictions_total", "Blocks evicted to stay within the limits.", prometheus.CounterValue, nil},
	{"ossmount_cache_crc_failures_total", "Cached blocks or objects that failed a CRC check and were dropped.", prometheus.CounterValue, nil},
	{"ossmount_cache_write_errors_total", "Cache writes that failed (the data was served uncached).", prometheus.CounterValue, nil},
	{"ossmount_passthrough_opens_total", "Cache files handed to the kernel to read a file from directly (FUSE passthrough).", prometheus.CounterValue, nil},
	{"ossmount_passthrough_pinned_objects", "Object versions pinned in the cache because the kernel reads their cache file.", prometheus.GaugeValue, nil},
	{"ossmount_credentials_info", "1, labelled with the credential source in use.", prometheus.GaugeValue, []string{"source"}},
	{"ossmount_credentials_expiry_timestamp_seconds", "When the current credentials expire (Unix time; 0: they do not).", prometheus.GaugeValue, nil},
	{"ossmount_credentials_renewals_total", "Successful fetches of credentials.", prometheus.CounterValue, nil},
	{"ossmount_credentials_renewal_failures_total", "Failed fetches of credentials.", prometheus.CounterValue, nil},
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
	plain := map[string]float64{
		"ossmount_conditional_requests_total":  float64(s.Conditional),
		"ossmount_not_modified_total":          float64(s.NotModified),
		"ossmount_opens_total":                 float64(s.Opens),
		"ossmount_part_gets_total":             float64(s.PartGETs),
		"ossmount_retries_total":               float64(s.Retries),
		"ossmount_in_flight_gets":              float64(s.InFlight),
		"ossmount_fetched_bytes_total":         float64(s.BytesFetched),
		"ossmount_cache_hit_bytes_total":       float64(s.CacheHitBytes),
		"ossmount_cache_miss_bytes_total":      float64(s.CacheMissBytes),
		"ossmount_cache_readahead_bytes_total": float64(s.CacheReadAheadBytes),
		"ossmount_negative_lookups_total":      float64(s.NegativeLookups),
		"ossmount_cache_used_bytes":            float64(s.CacheUsedBytes),
		"ossmount_cache_limit_bytes":           float64(s.CacheLimitBytes),
		"ossmount_cache_objects":               float64(s.CacheObjects),
		"ossmount_cache_blocks":                float64(s.CacheBlocks),
		"ossmount_cache_evictions_total":       float64(s.Evictions),
		"ossmount_cache_crc_failures_total":    float64(s.CRCFailures),
		"ossmount_cache_write_errors_total":    float64(s.CacheWriteErrors),
		"ossmount_passthrough_opens_total":     float64(s.PassthroughOpens),
		"ossmount_passthrough_pinned_objects":  float64(s.PassthroughPinned),

		"ossmount_credentials_expiry_timestamp_seconds": expiryUnix(s.Credentials.Expires),
		"ossmount_credentials_renewals_total":           float64(s.Credentials.Renewals),
		"ossmount_credentials_renewal_failures_total":   float64(s.Credentials.Failures),
	}
	for _, m := range metrics {
		switch m.name {
		case "ossmount_requests_total":
			for _, k := range []string{ossstore.OpGet, ossstore.OpHead, ossstore.OpList} {
				ch <- prometheus.MustNewConstMetric(c.descs[m.name], m.kind, float64(s.Requests[k]), k)
			}
		case "ossmount_request_errors_total":
			for _, kind := range store.ErrorKinds() {
				k := kind.String()
				ch <- prometheus.MustNewConstMetric(c.descs[m.name], m.kind, float64(s.Errors[k]), k)
			}
		case "ossmount_credentials_info":
			ch <- prometheus.MustNewConstMetric(c.descs[m.name], m.kind, 1, s.Credentials.Source)
		default:
			ch <- prometheus.MustNewConstMetric(c.descs[m.name], m.kind, plain[m.name])
		}
	}
}
