package ossemu

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const controlPrefix = "/_emu/"

// serveControl serves the out-of-process control API (Options.EnableControl):
//
//	GET    /_emu/faults    current Faults (JSON)
//	PUT    /_emu/faults    replace Faults (JSON; durations and sizes may be strings: "10ms", "32MB")
//	GET    /_emu/requests  the request log (JSON array)
//	DELETE /_emu/requests  empty the request log
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	writeJSON := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
	}
	switch strings.TrimPrefix(r.URL.Path, controlPrefix) {
	case "faults":
		switch r.Method {
		case http.MethodGet:
			writeJSON(s.Faults())
		case http.MethodPut, http.MethodPost:
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			var f Faults
			if err == nil {
				err = json.Unmarshal(body, &f)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.SetFaults(f)
			writeJSON(f)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	case "requests":
		switch r.Method {
		case http.MethodGet:
			writeJSON(s.Requests())
		case http.MethodDelete:
			s.ResetRequests()
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	default:
		http.NotFound(w, r)
	}
}

// UnmarshalJSON accepts the field names of Faults (case-insensitively);
// durations as nanoseconds or strings ("10ms"), byte counts as numbers or
// strings ("32MB", "1MiB").
func (f *Faults) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var out Faults
	for k, v := range raw {
		var err error
		switch strings.ToLower(k) {
		case "latency":
			out.Latency, err = jsonDuration(v)
		case "stallduration":
			out.StallDuration, err = jsonDuration(v)
		case "bytespersec":
			out.BytesPerSec, err = jsonSize(v)
		case "resetafterbytes":
			out.ResetAfterBytes, err = jsonSize(v)
		case "stallafterbytes":
			out.StallAfterBytes, err = jsonSize(v)
		case "shortbodybytes":
			out.ShortBodyBytes, err = jsonSize(v)
		case "resetcount":
			err = json.Unmarshal(v, &out.ResetCount)
		case "status5xxeveryn":
			err = json.Unmarshal(v, &out.Status5xxEveryN)
		case "status5xxcode":
			err = json.Unmarshal(v, &out.Status5xxCode)
		case "failnext":
			err = json.Unmarshal(v, &out.FailNext)
		case "stallcount":
			err = json.Unmarshal(v, &out.StallCount)
		case "shortbodycount":
			err = json.Unmarshal(v, &out.ShortBodyCount)
		case "keyfilter":
			err = json.Unmarshal(v, &out.KeyFilter)
		case "extrabodybytes":
			out.ExtraBodyBytes, err = jsonSize(v)
		case "lengthmismatch":
			out.LengthMismatch, err = jsonSize(v)
		case "hugeheaderbytes":
			var n int64
			n, err = jsonSize(v)
			out.HugeHeaderBytes = int(n)
		case "wrongcontentrange":
			err = json.Unmarshal(v, &out.WrongContentRange)
		case "ignorerange":
			err = json.Unmarshal(v, &out.IgnoreRange)
		case "absurdsize":
			err = json.Unmarshal(v, &out.AbsurdSize)
		case "headerrornodetail":
			err = json.Unmarshal(v, &out.HeadErrorNoDetail)
		case "malformedlisting":
			err = json.Unmarshal(v, &out.MalformedListing)
		case "duplicatelisting":
			err = json.Unmarshal(v, &out.DuplicateListing)
		case "negativelistingsize":
			err = json.Unmarshal(v, &out.NegativeListingSize)
		case "down":
			err = json.Unmarshal(v, &out.Down)
		case "unsatisfiablerange":
			err = json.Unmarshal(v, &out.UnsatisfiableRange)
			if err == nil && out.UnsatisfiableRange != "" && out.UnsatisfiableRange != "standard" && out.UnsatisfiableRange != "minio" {
				err = fmt.Errorf("%q: want \"\", \"standard\" or \"minio\"", out.UnsatisfiableRange)
			}
		case "notmodifiedwithoutetag":
			err = json.Unmarshal(v, &out.NotModifiedWithoutETag)
		default:
			err = fmt.Errorf("unknown field")
		}
		if err != nil {
			return fmt.Errorf("faults: %s: %w", k, err)
		}
	}
	*f = out
	return nil
}

func jsonDuration(v json.RawMessage) (time.Duration, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return time.ParseDuration(s)
	}
	var n int64
	err := json.Unmarshal(v, &n)
	return time.Duration(n), err
}

func jsonSize(v json.RawMessage) (int64, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return ParseSize(s)
	}
	var n int64
	err := json.Unmarshal(v, &n)
	return n, err
}

// ParseSize parses a byte count: a number with an optional suffix. SI
// suffixes are decimal (KB, MB, GB, TB = 10^3..10^12), IEC suffixes and
// bare letters binary (KiB/K, MiB/M, GiB/G, TiB/T); "B" and a trailing
// "/s" (for rates) are accepted. "32MB" = 32,000,000; "32MiB" = "32M" =
// 33,554,432.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(t, "/s")
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
		"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q", s, unit)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid size %q", s)
		}
		return n * int64(mult), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int64(f * mult), nil
}
