package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/concord-kv/concord/tests/concordtest"
)

// rssBytes is the resident set size of the member's process.
func rssBytes(m *concordtest.Member) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.PID()))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// putLoad runs n puts of 256-byte values to keys under prefix from 100
// concurrent clients and returns the puts per second.
func putLoad(b *testing.B, cli *clientv3.Client, prefix string, n int) float64 {
	val := strings.Repeat("v", 256)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < 100; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if _, err := cli.Put(context.Background(), fmt.Sprintf("%s%08d", prefix, i%1000), val); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkPutWithWatchers measures write throughput of a 3-member cluster
// with no watchers, then with 1000 watchers on the leader, 100 of which
// never read their stream (their HTTP/2 windows fill and stay full). It
// reports puts/s, the leader's RSS after the load, and the slowdown.
//
// Sub-benchmarks: "distinct-keys" gives each watcher its own key among the
// 1000 keys written (each put reaches one watcher, 10% of them stalled);
// "one-prefix" has every watcher on the written prefix (each put fans out
// to all 1000 watchers, so delivery work is 1000× the write rate).
//
//	go test -run XXX -bench PutWithWatchers -benchtime 20000x ./tests/e2e/
func BenchmarkPutWithWatchers(b *testing.B) {
	for _, shared := range []bool{false, true} {
		name := "distinct-keys"
		if shared {
			name = "one-prefix"
		}
		b.Run(name, func(b *testing.B) { benchPutWithWatchers(b, shared) })
	}
}

func benchPutWithWatchers(b *testing.B, shared bool) {
	c := newCluster(b, 3)
	leader := c.Leader(b)
	cli := c.Client(b, leader)
	n := b.N
	if n < 1000 {
		n = 1000
	}
	base := putLoad(b, cli, "/bench/base/", n)
	baseRSS := rssBytes(leader)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchKey := func(i int) (string, []clientv3.OpOption) {
		if shared {
			return "/bench/w/", []clientv3.OpOption{clientv3.WithPrefix()}
		}
		return fmt.Sprintf("/bench/w/%08d", i), nil
	}
	// 900 reading watchers on 9 clients.
	for s := 0; s < 9; s++ {
		wc := c.Client(b, leader)
		for w := 0; w < 100; w++ {
			k, opts := watchKey(100 + s*100 + w)
			ch := wc.Watch(ctx, k, opts...)
			go func() {
				for range ch {
				}
			}()
		}
	}
	// 100 stalled watchers on 10 raw streams that are never read.
	stalled := c.Client(b, leader)
	for s := 0; s < 10; s++ {
		ws, err := pb.NewWatchClient(stalled.ActiveConnection()).Watch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for w := 0; w < 10; w++ {
			k, _ := watchKey(s*10 + w)
			req := &pb.WatchCreateRequest{Key: []byte(k), PrevKv: true}
			if shared {
				req.RangeEnd = []byte("/bench/w0")
			}
			if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: req}}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	with := putLoad(b, cli, "/bench/w/", n)
	b.StopTimer()
	rss := rssBytes(leader)
	b.ReportMetric(base, "puts/s-0-watchers")
	b.ReportMetric(with, "puts/s-1000-watchers")
	b.ReportMetric(100*(base-with)/base, "%-drop")
	b.ReportMetric(float64(baseRSS)/(1<<20), "MiB-rss-0-watchers")
	b.ReportMetric(float64(rss)/(1<<20), "MiB-rss-1000-watchers")
}

// BenchmarkWatchLatency measures put-to-delivery latency of a watch on
// another member, reporting p50 and p99 in milliseconds.
//
//	go test -run XXX -bench WatchLatency -benchtime 2000x ./tests/e2e/
func BenchmarkWatchLatency(b *testing.B) {
	c := newCluster(b, 3)
	writer := c.Client(b, c.Members[0])
	reader := c.Client(b, c.Members[1])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := reader.Watch(ctx, "/lat/", clientv3.WithPrefix())
	if _, err := writer.Put(ctx, "/lat/warm", "x"); err != nil {
		b.Fatal(err)
	}
	<-ch
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := writer.Put(ctx, "/lat/k", "v"); err != nil {
			b.Fatal(err)
		}
		<-ch
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
}
