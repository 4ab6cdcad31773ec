package bench

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// DataPoint holds the figures of the requests that started within one
// wall-clock second (etcd benchmark's --sample).
type DataPoint struct {
	// Timestamp is the second, in Unix seconds.
	Timestamp int64 `json:"unix_second"`
	// MinLatency, AvgLatency and MaxLatency over the requests of that second.
	MinLatency time.Duration `json:"min_latency_ns"`
	AvgLatency time.Duration `json:"avg_latency_ns"`
	MaxLatency time.Duration `json:"max_latency_ns"`
	// Throughput is the number of requests started in that second.
	Throughput int64 `json:"throughput"`
}

// secondPoints accumulates DataPoints; its owner (Recorder) guards it.
type secondPoints struct {
	m map[int64]*secondPoint
}

type secondPoint struct {
	min, max, sum time.Duration
	n             int64
}

func newSecondPoints() *secondPoints { return &secondPoints{m: map[int64]*secondPoint{}} }

func (sp *secondPoints) add(start time.Time, lat time.Duration) {
	sec := start.Unix()
	p, ok := sp.m[sec]
	if !ok {
		sp.m[sec] = &secondPoint{min: lat, max: lat, sum: lat, n: 1}
		return
	}
	p.min = min(p.min, lat)
	p.max = max(p.max, lat)
	p.sum += lat
	p.n++
}

// series returns one DataPoint per second from the first to the last
// second seen, empty seconds included, in time order.
func (sp *secondPoints) series() []DataPoint {
	if len(sp.m) == 0 {
		return nil
	}
	secs := make([]int64, 0, len(sp.m))
	for s := range sp.m {
		secs = append(secs, s)
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i] < secs[j] })
	var out []DataPoint
	for s := secs[0]; s <= secs[len(secs)-1]; s++ {
		d := DataPoint{Timestamp: s}
		if p, ok := sp.m[s]; ok {
			d.MinLatency, d.MaxLatency, d.Throughput = p.min, p.max, p.n
			d.AvgLatency = p.sum / time.Duration(p.n)
		}
		out = append(out, d)
	}
	return out
}

// timeSeriesText renders samples as etcd does: a heading and CSV rows.
func timeSeriesText(ts []DataPoint) string {
	var b strings.Builder
	b.WriteString("\nSample in one second (unix latency throughput):\n")
	b.WriteString("UNIX-SECOND,MIN-LATENCY-MS,AVG-LATENCY-MS,MAX-LATENCY-MS,AVG-THROUGHPUT\n")
	for _, d := range ts {
		fmt.Fprintf(&b, "%d,%s,%s,%s,%d\n", d.Timestamp, d.MinLatency, d.AvgLatency, d.MaxLatency, d.Throughput)
	}
	return b.String()
}
