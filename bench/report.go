package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Result is the outcome of one benchmark request: when it was sent, when
// its answer (or error) arrived, and the error, nil on success. Failed
// requests count in the error distribution only, as in etcd's pkg/report.
type Result struct {
	Start time.Time
	End   time.Time
	Err   error
}

// Duration is End minus Start.
func (r Result) Duration() time.Duration { return r.End.Sub(r.Start) }

// Recorder collects the Results of one run. It is safe for concurrent use:
// every field below mu is guarded by it.
type Recorder struct {
	name string
	now  func() time.Time

	mu      sync.Mutex
	started time.Time
	lats    []float64 // seconds, successful requests, in arrival order
	errs    map[string]int
	sps     *secondPoints // nil unless sampling
}

// NewRecorder returns a Recorder for the run called name ("put",
// "range", ...) that reads time from now. With sample set it also keeps
// per-second figures (etcd benchmark's --sample).
func NewRecorder(name string, now func() time.Time, sample bool) *Recorder {
	r := &Recorder{name: name, now: now, errs: map[string]int{}}
	if sample {
		r.sps = newSecondPoints()
	}
	return r
}

// Start marks the beginning of the measured interval; Stats.Total runs from
// here to Stop. Calling Record before Start is allowed.
func (r *Recorder) Start() {
	r.mu.Lock()
	r.started = r.now()
	r.mu.Unlock()
}

// Record adds one result.
func (r *Recorder) Record(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res.Err != nil {
		r.errs[res.Err.Error()]++
		return
	}
	d := res.Duration()
	r.lats = append(r.lats, d.Seconds())
	if r.sps != nil {
		r.sps.add(res.Start, d)
	}
}

// Count returns how many results (successes and errors) were recorded.
func (r *Recorder) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.lats)
	for _, c := range r.errs {
		n += c
	}
	return n
}

// Stop ends the measured interval and returns the run's statistics.
func (r *Recorder) Stop() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := r.now().Sub(r.started)
	errs := make(map[string]int, len(r.errs))
	for k, v := range r.errs {
		errs[k] = v
	}
	s := ComputeStats(r.name, append([]float64(nil), r.lats...), errs, total)
	if r.sps != nil {
		s.TimeSeries = r.sps.series()
	}
	return s
}

// Stats are the figures of one run, as etcd's pkg/report computes them.
// All latencies are in seconds.
type Stats struct {
	// Name is the run's name ("put", "range", "watch-put", ...).
	Name string
	// Total is the wall time of the run.
	Total time.Duration
	// Count is the number of successful requests; Errors the failed ones.
	Count  int
	Errors int
	// Fastest, Slowest, Average and Stddev (population standard
	// deviation) of the successful requests' latencies, in seconds.
	Fastest, Slowest, Average, Stddev float64
	// RPS is Count divided by Total in seconds.
	RPS float64
	// Lats are the successful latencies in seconds, sorted ascending.
	Lats []float64
	// ErrorDist counts failed requests by error text.
	ErrorDist map[string]int
	// TimeSeries holds per-second figures when sampling (--sample).
	TimeSeries []DataPoint
}

// ComputeStats derives Stats from latencies (seconds, any order; the slice
// is sorted in place and kept), an error distribution and the run's wall
// time. With no latencies every latency figure and RPS is 0.
func ComputeStats(name string, lats []float64, errs map[string]int, total time.Duration) Stats {
	s := Stats{Name: name, Total: total, Count: len(lats), Lats: lats, ErrorDist: errs}
	if s.ErrorDist == nil {
		s.ErrorDist = map[string]int{}
	}
	for _, c := range s.ErrorDist {
		s.Errors += c
	}
	if len(lats) == 0 {
		return s
	}
	sort.Float64s(lats)
	var sum float64
	for _, l := range lats {
		sum += l
	}
	s.Average = sum / float64(len(lats))
	var sq float64
	for _, l := range lats {
		d := l - s.Average
		sq += d * d
	}
	s.Stddev = math.Sqrt(sq / float64(len(lats)))
	s.Fastest, s.Slowest = lats[0], lats[len(lats)-1]
	if total > 0 {
		s.RPS = float64(len(lats)) / total.Seconds()
	}
	return s
}

// PercentileLevels are the percentiles etcd's report prints.
var PercentileLevels = []float64{10, 25, 50, 75, 90, 95, 99, 99.9}

// Percentile is one line of the latency distribution.
type Percentile struct {
	Level   float64 `json:"percentile"`
	Seconds float64 `json:"seconds"`
}

// Percentiles returns, for each of PercentileLevels, the latency (seconds)
// at that level of sorted, using etcd's nearest-rank rule: the element at
// 1-based rank ceil(p*(n+1)/100), clamped to [1, n]. It returns zeros for
// an empty input.
func Percentiles(sorted []float64) []Percentile {
	out := make([]Percentile, len(PercentileLevels))
	n := len(sorted)
	for i, p := range PercentileLevels {
		out[i].Level = p
		if n == 0 {
			continue
		}
		rank := int(math.Ceil(p * float64(n+1) / 100))
		rank = min(max(rank, 1), n)
		out[i].Seconds = sorted[rank-1]
	}
	return out
}

// Bucket is one bar of the response-time histogram: the requests whose
// latency is at most Upper seconds and above the previous bucket's Upper.
type Bucket struct {
	Upper float64 `json:"upper_seconds"`
	Count int     `json:"count"`
}

// HistogramBuckets is the number of equal-width intervals between the
// fastest and slowest latency; the histogram has one more bucket, the
// first one holding the requests exactly as fast as the fastest.
const HistogramBuckets = 10

// Histogram returns HistogramBuckets+1 buckets over sorted (ascending
// seconds), as etcd's report draws them: bucket i has upper bound
// fastest + i*(slowest-fastest)/10 and the last one ends at slowest. Each
// latency falls in the first bucket whose bound is ≥ it. Empty input gives
// nil.
func Histogram(sorted []float64) []Bucket {
	if len(sorted) == 0 {
		return nil
	}
	fastest, slowest := sorted[0], sorted[len(sorted)-1]
	width := (slowest - fastest) / HistogramBuckets
	b := make([]Bucket, HistogramBuckets+1)
	for i := range HistogramBuckets {
		b[i].Upper = fastest + width*float64(i)
	}
	b[HistogramBuckets].Upper = slowest
	i := 0
	for _, l := range sorted {
		for i < len(b)-1 && l > b[i].Upper {
			i++
		}
		b[i].Count++
	}
	return b
}

const barChar = "∎"

// barWidth is the length of the longest histogram bar.
const barWidth = 40

// Text renders s exactly in etcd benchmark's layout: a blank line,
// "Summary:" with Total, Slowest, Fastest, Average, Stddev, Requests/sec,
// "Response time histogram:", "Latency distribution:" (only levels above
// zero), the per-second samples when present, and "Error distribution:"
// when requests failed. Numbers use %4.4f, or %g when precise.
func (s Stats) Text(precise bool) string {
	p := "%4.4f"
	if precise {
		p = "%g"
	}
	var b strings.Builder
	if len(s.Lats) > 0 {
		secs := func(label string, v float64) {
			fmt.Fprintf(&b, "  %s:\t"+p+" secs.\n", label, v)
		}
		b.WriteString("\nSummary:\n")
		secs("Total", s.Total.Seconds())
		secs("Slowest", s.Slowest)
		secs("Fastest", s.Fastest)
		secs("Average", s.Average)
		secs("Stddev", s.Stddev)
		fmt.Fprintf(&b, "  Requests/sec:\t"+p+"\n", s.RPS)

		b.WriteString("\nResponse time histogram:\n")
		hist := Histogram(s.Lats)
		most := 0
		for _, h := range hist {
			most = max(most, h.Count)
		}
		for _, h := range hist {
			n := 0
			if most > 0 {
				n = h.Count * barWidth / most
			}
			fmt.Fprintf(&b, "  "+p+" [%d]\t|%s\n", h.Upper, h.Count, strings.Repeat(barChar, n))
		}

		b.WriteString("\nLatency distribution:\n")
		for _, pc := range Percentiles(s.Lats) {
			if pc.Seconds > 0 {
				fmt.Fprintf(&b, "  %v%% in %.3f ms.\n", pc.Level, pc.Seconds*1000)
			}
		}
		if len(s.TimeSeries) > 0 {
			b.WriteString(timeSeriesText(s.TimeSeries))
		}
	}
	if len(s.ErrorDist) > 0 {
		b.WriteString("\nError distribution:\n")
		for _, e := range s.sortedErrors() {
			fmt.Fprintf(&b, "  [%d]\t%s\n", e.Count, e.Error)
		}
	}
	return b.String()
}

// ErrorCount is one line of the error distribution.
type ErrorCount struct {
	Error string `json:"error"`
	Count int    `json:"count"`
}

// sortedErrors lists ErrorDist by count, most frequent first, then by text.
func (s Stats) sortedErrors() []ErrorCount {
	out := make([]ErrorCount, 0, len(s.ErrorDist))
	for e, c := range s.ErrorDist {
		out = append(out, ErrorCount{Error: e, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Error < out[j].Error
	})
	return out
}

// JSONStats is the machine-readable form of Stats written by -w json: the
// same figures as Text, latencies in seconds.
type JSONStats struct {
	Name              string       `json:"name"`
	TotalSeconds      float64      `json:"total_seconds"`
	Count             int          `json:"count"`
	Errors            int          `json:"errors"`
	SlowestSeconds    float64      `json:"slowest_seconds"`
	FastestSeconds    float64      `json:"fastest_seconds"`
	AverageSeconds    float64      `json:"average_seconds"`
	StddevSeconds     float64      `json:"stddev_seconds"`
	RequestsPerSecond float64      `json:"requests_per_second"`
	Histogram         []Bucket     `json:"histogram"`
	Percentiles       []Percentile `json:"latency_percentiles"`
	ErrorDist         []ErrorCount `json:"error_distribution"`
	TimeSeries        []DataPoint  `json:"time_series,omitempty"`
}

// JSONForm returns s as a JSONStats.
func (s Stats) JSONForm() JSONStats {
	h := Histogram(s.Lats)
	if h == nil {
		h = []Bucket{}
	}
	return JSONStats{
		Name:              s.Name,
		TotalSeconds:      s.Total.Seconds(),
		Count:             s.Count,
		Errors:            s.Errors,
		SlowestSeconds:    s.Slowest,
		FastestSeconds:    s.Fastest,
		AverageSeconds:    s.Average,
		StddevSeconds:     s.Stddev,
		RequestsPerSecond: s.RPS,
		Histogram:         h,
		Percentiles:       Percentiles(s.Lats),
		ErrorDist:         s.sortedErrors(),
		TimeSeries:        s.TimeSeries,
	}
}

// JSON returns s as one indented JSON object (see JSONStats).
func (s Stats) JSON() ([]byte, error) {
	return json.MarshalIndent(s.JSONForm(), "", "  ")
}
