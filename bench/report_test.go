package bench

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func secs(ms ...float64) []float64 {
	out := make([]float64, len(ms))
	for i, m := range ms {
		out[i] = m / 1000
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestPercentiles(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want []float64 // per PercentileLevels
	}{
		{"empty", nil, []float64{0, 0, 0, 0, 0, 0, 0, 0}},
		{"one", secs(7), secs(7, 7, 7, 7, 7, 7, 7, 7)},
		// n=10: rank ceil(p*11/100): 2, 3, 6, 9, 10, 11→10, 11→10, 11→10.
		{"ten", secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), secs(2, 3, 6, 9, 10, 10, 10, 10)},
		// n=1000 of 1..1000 ms: ranks 101, 251, 501, 751, 901, 951, 991, 1000.
		{"thousand", func() []float64 {
			var v []float64
			for i := 1; i <= 1000; i++ {
				v = append(v, float64(i)/1000)
			}
			return v
		}(), secs(101, 251, 501, 751, 901, 951, 991, 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Percentiles(tt.in)
			if len(got) != len(PercentileLevels) {
				t.Fatalf("len %d", len(got))
			}
			for i, p := range got {
				if p.Level != PercentileLevels[i] || !near(p.Seconds, tt.want[i]) {
					t.Errorf("p%v = %v, want %v", p.Level, p.Seconds, tt.want[i])
				}
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	counts := func(b []Bucket) []int {
		var c []int
		for _, x := range b {
			c = append(c, x.Count)
		}
		return c
	}
	tests := []struct {
		name   string
		in     []float64
		uppers []float64
		counts []int
	}{
		{"empty", nil, nil, nil},
		// Whole seconds keep the bucket bounds exact in binary floating point.
		{"evenly spread", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
			[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"first bucket holds only the fastest", secs(1, 1, 1, 5),
			secs(1, 1.4, 1.8, 2.2, 2.6, 3, 3.4, 3.8, 4.2, 4.6, 5), []int{3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"bounds are inclusive", secs(0, 10, 10, 20, 100),
			secs(0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100), []int{1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"all equal", secs(2, 2, 2), secs(2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2), []int{3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Histogram(tt.in)
			if tt.in == nil {
				if got != nil {
					t.Fatalf("got %v, want nil", got)
				}
				return
			}
			if len(got) != HistogramBuckets+1 {
				t.Fatalf("%d buckets", len(got))
			}
			for i, b := range got {
				if math.Abs(b.Upper-tt.uppers[i]) > 1e-9 {
					t.Errorf("bucket %d upper %v, want %v", i, b.Upper, tt.uppers[i])
				}
			}
			if c := counts(got); !equalInts(c, tt.counts) {
				t.Errorf("counts %v, want %v", c, tt.counts)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestComputeStats(t *testing.T) {
	// Population stddev of 2,4,4,4,5,5,7,9 is exactly 2; mean 5.
	s := ComputeStats("put", []float64{9, 2, 4, 4, 5, 4, 7, 5}, map[string]int{"boom": 2}, 2*time.Second)
	if s.Count != 8 || s.Errors != 2 {
		t.Fatalf("count %d errors %d", s.Count, s.Errors)
	}
	if s.Average != 5 || s.Stddev != 2 || s.Fastest != 2 || s.Slowest != 9 || s.RPS != 4 {
		t.Fatalf("got avg %v stddev %v fastest %v slowest %v rps %v", s.Average, s.Stddev, s.Fastest, s.Slowest, s.RPS)
	}
	if !sortedAsc(s.Lats) {
		t.Fatalf("lats not sorted: %v", s.Lats)
	}
	empty := ComputeStats("x", nil, nil, time.Second)
	if empty.Count != 0 || empty.RPS != 0 || empty.Average != 0 || empty.ErrorDist == nil {
		t.Fatalf("empty stats: %+v", empty)
	}
}

func sortedAsc(v []float64) bool {
	for i := 1; i < len(v); i++ {
		if v[i] < v[i-1] {
			return false
		}
	}
	return true
}

// fakeClock advances by step on every reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

func TestRecorder(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0), step: 250 * time.Millisecond}
	r := NewRecorder("range", clk.now, true)
	r.Start() // t=1000.25
	base := time.Unix(1000, 0)
	r.Record(Result{Start: base, End: base.Add(10 * time.Millisecond)})
	r.Record(Result{Start: base, End: base.Add(30 * time.Millisecond)})
	r.Record(Result{Start: base.Add(time.Second), End: base.Add(time.Second + 20*time.Millisecond)})
	r.Record(Result{Start: base, End: base, Err: errors.New("etcdserver: request timed out")})
	if r.Count() != 4 {
		t.Fatalf("Count %d", r.Count())
	}
	s := r.Stop() // t=1000.5
	if s.Total != 250*time.Millisecond || s.Count != 3 || s.Errors != 1 {
		t.Fatalf("total %v count %d errors %d", s.Total, s.Count, s.Errors)
	}
	if !near(s.Average, 0.02) || !near(s.RPS, 12) {
		t.Fatalf("avg %v rps %v", s.Average, s.RPS)
	}
	want := []DataPoint{
		{Timestamp: 1000, MinLatency: 10 * time.Millisecond, AvgLatency: 20 * time.Millisecond, MaxLatency: 30 * time.Millisecond, Throughput: 2},
		{Timestamp: 1001, MinLatency: 20 * time.Millisecond, AvgLatency: 20 * time.Millisecond, MaxLatency: 20 * time.Millisecond, Throughput: 1},
	}
	if len(s.TimeSeries) != 2 || s.TimeSeries[0] != want[0] || s.TimeSeries[1] != want[1] {
		t.Fatalf("time series %+v", s.TimeSeries)
	}
}

func TestTextLayout(t *testing.T) {
	s := ComputeStats("put", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, map[string]int{"b": 1, "a": 1, "c": 3}, 2*time.Second)
	got := s.Text(false)
	want := "\nSummary:\n" +
		"  Total:\t2.0000 secs.\n" +
		"  Slowest:\t11.0000 secs.\n" +
		"  Fastest:\t1.0000 secs.\n" +
		"  Average:\t6.0000 secs.\n" +
		"  Stddev:\t3.1623 secs.\n" +
		"  Requests/sec:\t5.5000\n" +
		"\nResponse time histogram:\n" +
		"  1.0000 [1]\t|" + strings.Repeat("∎", 40) + "\n" +
		"  2.0000 [1]\t|" + strings.Repeat("∎", 40) + "\n" +
		"  3.0000 [1]\t|" + strings.Repeat("∎", 40) + "\n" +
		"  4.0000 [1]\t|" + strings.Repeat("∎", 40) + "\n" +
		"  5.0000 [1]\t|" + strings.Repeat("∎", 40) + "\n" +
		"  6.0000 [1]\t|" + strings.Repeat("∎", 40) + "\n" +
		"  7.0000 [1]\t|" + strings.Repeat("∎", 40) + "\n" +
		"  8.0000 [1]\t|" + strings.Repeat("∎", 40) + "\n" +
		"  9.0000 [1]\t|" + strings.Repeat("∎", 40) + "\n" +
		"  10.0000 [1]\t|" + strings.Repeat("∎", 40) + "\n" +
		"  11.0000 [1]\t|" + strings.Repeat("∎", 40) + "\n" +
		"\nLatency distribution:\n" +
		"  10% in 2000.000 ms.\n" +
		"  25% in 3000.000 ms.\n" +
		"  50% in 6000.000 ms.\n" +
		"  75% in 9000.000 ms.\n" +
		"  90% in 11000.000 ms.\n" +
		"  95% in 11000.000 ms.\n" +
		"  99% in 11000.000 ms.\n" +
		"  99.9% in 11000.000 ms.\n" +
		"\nError distribution:\n" +
		"  [3]\tc\n" +
		"  [1]\ta\n" +
		"  [1]\tb\n"
	if got != want {
		t.Fatalf("text mismatch\ngot:\n%s\nwant:\n%s", got, want)
	}
	if p := s.Text(true); !strings.Contains(p, "  Total:\t2 secs.\n") || !strings.Contains(p, "  Requests/sec:\t5.5\n") {
		t.Fatalf("precise text:\n%s", p)
	}
	// Only errors: no summary block, as etcd.
	onlyErr := ComputeStats("put", nil, map[string]int{"x": 2}, time.Second).Text(false)
	if onlyErr != "\nError distribution:\n  [2]\tx\n" {
		t.Fatalf("errors-only text %q", onlyErr)
	}
	// Bars scale to the largest bucket.
	bars := ComputeStats("p", secs(1, 1, 1, 1, 5, 5), nil, time.Second).Text(false)
	if !strings.Contains(bars, "  0.0010 [4]\t|"+strings.Repeat("∎", 40)+"\n") || !strings.Contains(bars, "  0.0050 [2]\t|"+strings.Repeat("∎", 20)+"\n") {
		t.Fatalf("bars:\n%s", bars)
	}
}

func TestJSON(t *testing.T) {
	s := ComputeStats("range", secs(1, 2, 3), map[string]int{"e": 1}, time.Second)
	b, err := s.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got JSONStats
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "range" || got.Count != 3 || got.Errors != 1 || !near(got.AverageSeconds, 0.002) ||
		!near(got.RequestsPerSecond, 3) || len(got.Histogram) != 11 || len(got.Percentiles) != 8 ||
		len(got.ErrorDist) != 1 || got.ErrorDist[0] != (ErrorCount{Error: "e", Count: 1}) {
		t.Fatalf("json %s", b)
	}
}

func TestEncodeKey(t *testing.T) {
	tests := []struct {
		prefix string
		n      int64
		size   int
		want   string
	}{
		{"", 0, 8, "\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"", 1, 8, "\x02\x00\x00\x00\x00\x00\x00\x00"},
		{"", -1, 4, "\x01\x00\x00\x00"},
		{"", 300, 8, "\xd8\x04\x00\x00\x00\x00\x00\x00"},
		{"p/", 300, 1, "p/\xd8"}, // truncated
	}
	for _, tt := range tests {
		if got := EncodeKey(tt.prefix, tt.n, tt.size); got != tt.want {
			t.Errorf("EncodeKey(%q,%d,%d) = %q, want %q", tt.prefix, tt.n, tt.size, got, tt.want)
		}
	}
	seen := map[string]bool{}
	for i := range int64(10000) {
		seen[EncodeKey("", i, 8)] = true
	}
	if len(seen) != 10000 {
		t.Fatalf("8-byte keys collide: %d distinct", len(seen))
	}
}

func TestValidate(t *testing.T) {
	bad := []error{
		Config{Conns: 1, Clients: 1}.Validate(),
		Config{Endpoints: []string{"x"}, Conns: 0, Clients: 1}.Validate(),
		Config{Endpoints: []string{"x"}, Conns: 1, Clients: 1, Cert: "c"}.Validate(),
		PutOptions{Total: 1, KeySize: 8, KeySpaceSize: 0}.Validate(),
		RangeOptions{Key: "k", Consistency: "x"}.Validate(),
		RangeOptions{Key: "k", Consistency: "l", CountOnly: true, KeysOnly: true}.Validate(),
		TxnPutOptions{KeySize: 8, OpsPerTxn: 3, KeySpaceSize: 2}.Validate(),
		STMOptions{Isolation: "z", Keys: 1, Locker: "stm"}.Validate(),
		DefaultTableOptions().withTotal(0).Validate(),
	}
	for i, err := range bad {
		if !errors.Is(err, ErrInvalidOption) {
			t.Errorf("case %d: %v does not wrap ErrInvalidOption", i, err)
		}
	}
	good := []error{
		DefaultConfig().Validate(), DefaultPutOptions().Validate(), DefaultTxnPutOptions().Validate(),
		DefaultTxnMixedOptions().Validate(), DefaultWatchOptions().Validate(), DefaultWatchGetOptions().Validate(),
		DefaultWatchLatencyOptions().Validate(), DefaultSTMOptions().Validate(), DefaultTableOptions().Validate(),
		RangeOptions{Key: "k", Consistency: "s"}.Validate(),
	}
	for i, err := range good {
		if err != nil {
			t.Errorf("default %d: %v", i, err)
		}
	}
}

func (o TableOptions) withTotal(n int) TableOptions { o.Total = n; return o }

func TestTableRowsFollowSeed(t *testing.T) {
	rows := TableRows(DefaultTableOptions())
	want := []struct {
		op, strategy   string
		conns, clients int
	}{
		{"write", TargetLeader, 1, 1},
		{"write", TargetLeader, 100, 100},
		{"write", TargetAllMembers, 100, 100},
		{"read", Linearizable, 1, 1},
		{"read", Linearizable, 100, 100},
		{"read", Serializable, 1, 1},
		{"read", Serializable, 100, 100},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows", len(rows))
	}
	for i, w := range want {
		r := rows[i]
		if r.Op != w.op || r.Strategy != w.strategy || r.Conns != w.conns || r.Clients != w.clients ||
			r.Requests != 10000 || r.KeySize != 8 || r.ValSize != 256 {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}
}

func TestWriteTableAndComparison(t *testing.T) {
	mk := func(name string, avgMs, rps float64) Table {
		tb := Table{Name: name, Endpoints: []string{"a:1", "b:2"}, Members: 3, Leader: "a:1"}
		for _, r := range TableRows(DefaultTableOptions()) {
			r.Stats = Stats{Average: avgMs / 1000, RPS: rps, Count: r.Requests}
			tb.Rows = append(tb.Rows, r)
		}
		tb.Rows[1].Stats.Errors = 2
		tb.Rows[1].Stats.ErrorDist = map[string]int{"etcdserver: too many requests": 2}
		return tb
	}
	var b strings.Builder
	WriteTable(&b, mk("concord", 4, 251))
	out := b.String()
	for _, want := range []string{
		"> concord: 3 members, endpoints a:1,b:2, leader a:1",
		"| op    | target       | requests | keys  | key  | value | conns | clients | latency (ms) | qps    |",
		"| write | leader       | 10000    | 10000 | 8    | 256   | 1     | 1       | 4.0          | 251    |",
		"| read  | Serializable | 10000    | 10000 | 8    | 256   | 100   | 100     | 4.0          | 251    |",
		"concord write leader conns=100 clients=100: 2 of 10000 requests failed:",
		"  [2]\tetcdserver: too many requests",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	WriteComparison(&b, mk("concord", 2, 500), mk("etcd", 4, 250))
	if !strings.Contains(b.String(), "| write | all members  | 100   | 100     |         500 |      250 | 2.00      |                  2.0 |               4.0 | 0.50          |") {
		t.Errorf("comparison:\n%s", b.String())
	}
}
