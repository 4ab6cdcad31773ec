package benchcmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/concord-kv/concord/bench"
	"github.com/concord-kv/concord/bench/benchcmd"
	"github.com/concord-kv/concord/bench/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// run executes concord-bench with args in process and returns stdout.
func run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := benchcmd.NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("concord-bench %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

var histLine = regexp.MustCompile(`(?m)^  [0-9.]+ \[(\d+)\]\t\|∎*$`)

// summaries splits text output into etcd-shaped summaries and checks each
// one's layout; it returns the request count of each (the histogram's sum).
func summaries(t *testing.T, out string) []int {
	t.Helper()
	parts := strings.Split(out, "\nSummary:\n")[1:]
	if len(parts) == 0 {
		t.Fatalf("no summary in:\n%s", out)
	}
	var counts []int
	for _, p := range parts {
		order := []string{"  Total:\t", "  Slowest:\t", "  Fastest:\t", "  Average:\t", "  Stddev:\t", "  Requests/sec:\t",
			"\nResponse time histogram:\n", "\nLatency distribution:\n", "  10% in ", "  50% in ", "  99% in ", "  99.9% in "}
		at := 0
		for _, o := range order {
			i := strings.Index(p[at:], o)
			if i < 0 {
				t.Fatalf("summary lacks %q after offset %d:\n%s", o, at, p)
			}
			at += i + len(o)
		}
		if strings.Contains(p, "Error distribution") {
			t.Fatalf("requests failed:\n%s", p)
		}
		n := 0
		lines := histLine.FindAllStringSubmatch(p, -1)
		if len(lines) != bench.HistogramBuckets+1 {
			t.Fatalf("%d histogram lines in:\n%s", len(lines), p)
		}
		for _, m := range lines {
			c, _ := strconv.Atoi(m[1])
			n += c
		}
		counts = append(counts, n)
	}
	return counts
}

func jsonStats(t *testing.T, out string) []bench.JSONStats {
	t.Helper()
	var many []bench.JSONStats
	if err := json.Unmarshal([]byte(out), &many); err == nil {
		return many
	}
	var one bench.JSONStats
	if err := json.Unmarshal([]byte(out), &one); err != nil {
		t.Fatalf("not JSON stats: %v\n%s", err, out)
	}
	return []bench.JSONStats{one}
}

func revision(t *testing.T, c *clientv3.Client) int64 {
	t.Helper()
	r, err := c.Get(context.Background(), "rev-probe")
	if err != nil {
		t.Fatal(err)
	}
	return r.Header.Revision
}

func countKeys(t *testing.T, c *clientv3.Client, prefix string) int64 {
	t.Helper()
	opts := []clientv3.OpOption{clientv3.WithCountOnly(), clientv3.WithPrefix()}
	if prefix == "" {
		opts = []clientv3.OpOption{clientv3.WithCountOnly(), clientv3.WithFromKey()}
		prefix = "\x00"
	}
	r, err := c.Get(context.Background(), prefix, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r.Count
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// TestAgainstEtcd runs every command against one etcd 3.4 member and checks
// that each summary's counts match what the server holds afterwards.
func TestAgainstEtcd(t *testing.T) {
	cl := etcdtest.Start(t, 1)
	ep := "--endpoints=" + strings.Join(cl.Endpoints(), ",")
	c := cl.Client(t)

	t.Run("put", func(t *testing.T) {
		rev := revision(t, c)
		out := run(t, ep, "--conns=2", "--clients=4", "--total=300", "put", "--prefix=put/",
			"--sequential-keys", "--key-space-size=300", "--val-size=16")
		eq(t, "summary count", summaries(t, out)[0], 300)
		eq(t, "keys under put/", countKeys(t, c, "put/"), 300)
		eq(t, "revisions written", revision(t, c)-rev, 300)
		r, err := c.Get(context.Background(), bench.EncodeKey("put/", 299, 8))
		if err != nil || len(r.Kvs) != 1 || len(r.Kvs[0].Value) != 16 {
			t.Fatalf("key 299: %v %v", r, err)
		}
	})

	t.Run("put json with rate and hashkv", func(t *testing.T) {
		out := run(t, ep, "--total=20", "-w", "json", "put", "--prefix=rate/", "--rate=2000", "--sequential-keys", "--key-space-size=20", "--check-hashkv")
		s := jsonStats(t, out)
		eq(t, "sections", len(s), 1)
		eq(t, "count", s[0].Count, 20)
		eq(t, "errors", s[0].Errors, 0)
		eq(t, "name", s[0].Name, "put")
		eq(t, "keys under rate/", countKeys(t, c, "rate/"), 20)
	})

	for _, cons := range []string{"l", "s"} {
		t.Run("range "+cons, func(t *testing.T) {
			rev := revision(t, c)
			key := bench.EncodeKey("put/", 7, 8)
			out := run(t, ep, "--clients=3", "--total=200", "range", key, "--consistency="+cons)
			line := map[string]string{"l": "bench with linearizable range", "s": "bench with serializable range"}[cons]
			if !strings.HasPrefix(out, line+"\n") {
				t.Fatalf("missing %q:\n%s", line, out)
			}
			eq(t, "summary count", summaries(t, out)[0], 200)
			eq(t, "revision unchanged by reads", revision(t, c), rev)
			js := jsonStats(t, run(t, ep, "--total=50", "-w", "json", "range", "put/", "--prefix", "--count-only", "--consistency="+cons))
			eq(t, "json count", js[0].Count, 50)
		})
	}

	t.Run("txn-put", func(t *testing.T) {
		before, rev := countKeys(t, c, ""), revision(t, c)
		out := run(t, ep, "--clients=2", "--total=100", "txn-put", "--txn-ops=2", "--key-space-size=200", "--val-size=32")
		eq(t, "summary count", summaries(t, out)[0], 100)
		eq(t, "new keys", countKeys(t, c, "")-before, 200)
		eq(t, "one revision per txn", revision(t, c)-rev, 100)
	})

	t.Run("txn-mixed", func(t *testing.T) {
		rev := revision(t, c)
		js := jsonStats(t, run(t, ep, "--total=100", "-w", "json", "txn-mixed", "--key-space-size=10", "--rw-ratio=1", "--limit=5"))
		eq(t, "sections", len(js), 2)
		eq(t, "reads+writes", js[0].Count+js[1].Count, 100)
		eq(t, "revisions = writes", revision(t, c)-rev, int64(js[1].Count))
	})

	t.Run("watch", func(t *testing.T) {
		rev := revision(t, c)
		out := run(t, ep, "--clients=2", "--conns=2", "watch", "--streams=2", "--watch-per-stream=5",
			"--watched-key-total=5", "--sequential-keys", "--key-space-size=5", "--key-size=8", "--put-total=50")
		if !strings.Contains(out, "Watch creation summary:\n") || !strings.Contains(out, "Watch events received summary:\n") {
			t.Fatalf("headings missing:\n%s", out)
		}
		n := summaries(t, out)
		eq(t, "watchers created", n[0], 10)
		// 10 watchers over 5 keys: 2 per key, so 50 puts deliver 100 events.
		eq(t, "events received", n[1], 100)
		eq(t, "revisions written", revision(t, c)-rev, 50)
	})

	t.Run("watch-get", func(t *testing.T) {
		rev := revision(t, c)
		out := run(t, ep, "watch-get", "--watchers=20", "--streams=2", "--events=4")
		if !strings.Contains(out, "Get during watch summary:") {
			t.Fatalf("heading missing:\n%s", out)
		}
		eq(t, "setup revisions", revision(t, c)-rev, 4)
	})

	t.Run("watch-latency", func(t *testing.T) {
		rev := revision(t, c)
		js := jsonStats(t, run(t, ep, "-w", "json", "watch-latency", "--streams=2", "--watchers-per-stream=3", "--put-total=30", "--put-rate=1000"))
		eq(t, "sections", len(js), 2)
		eq(t, "puts", js[0].Count, 30)
		eq(t, "watch events", js[1].Count, 180)
		eq(t, "revisions written", revision(t, c)-rev, 30)
	})

	t.Run("lease-keepalive", func(t *testing.T) {
		before, err := c.Leases(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := run(t, ep, "--conns=2", "--clients=3", "--total=60", "lease-keepalive")
		eq(t, "summary count", summaries(t, out)[0], 60)
		after, err := c.Leases(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "leases granted (one per client)", len(after.Leases)-len(before.Leases), 3)
	})

	for _, locker := range []string{"stm", "lock-client", "lock-rpc"} {
		t.Run("stm "+locker, func(t *testing.T) {
			js := jsonStats(t, run(t, ep, "--clients=3", "--total=30", "-w", "json", "stm", "--stm-locker="+locker, "--keys=4", "--keys-per-txn=2", "--txn-wr-percent=50"))
			eq(t, "committed", js[0].Count, 30)
			eq(t, "errors", js[0].Errors, 0)
		})
	}
}

// TestTableAgainstEtcdCluster runs the seed table against a 3-member etcd
// 3.4 cluster, so the leader-only and all-members rows differ, and checks
// every row and the keys the cluster holds afterwards.
func TestTableAgainstEtcdCluster(t *testing.T) {
	cl := etcdtest.Start(t, 3)
	ep := "--endpoints=" + strings.Join(cl.Endpoints(), ",")
	c := cl.Client(t)

	leader, err := bench.FindLeader(context.Background(), bench.Config{Endpoints: cl.Endpoints(), Conns: 1, Clients: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// --target-leader sends every put to the leader.
	out := run(t, ep, "--target-leader", "--total=50", "put", "--prefix=tl/", "--sequential-keys", "--key-space-size=50")
	eq(t, "target-leader puts", summaries(t, out)[0], 50)
	eq(t, "keys under tl/", countKeys(t, c, "tl/"), 50)
	if _, err := c.Delete(context.Background(), "tl/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}

	var tables []bench.JSONTable
	out = run(t, ep, "--total=200", "-w", "json", "table", "--name=etcd", "--compare-endpoints="+strings.Join(cl.Endpoints(), ","), "--compare-name=again")
	if err := json.Unmarshal([]byte(out), &tables); err != nil {
		t.Fatalf("table json: %v\n%s", err, out)
	}
	eq(t, "tables", len(tables), 2)
	for _, tb := range tables {
		eq(t, "members", tb.Members, 3)
		eq(t, "leader", tb.Leader, leader)
		eq(t, "rows", len(tb.Rows), 7)
		for i, r := range tb.Rows {
			eq(t, tb.Name+" row "+strconv.Itoa(i)+" count", r.Stats.Count, 200)
			eq(t, tb.Name+" row "+strconv.Itoa(i)+" errors", r.Stats.Errors, 0)
		}
	}
	eq(t, "keys written by the table", countKeys(t, c, ""), 200)

	text := run(t, ep, "--total=200", "--conns=4", "--clients=8", "table", "--name=etcd34")
	for _, want := range []string{
		"> etcd34: 3 members",
		"| op    | target       | requests | keys  | key  | value | conns | clients | latency (ms) | qps    |",
		"| write | leader       | 200      | 200   | 8    | 256   | 1     | 1       |",
		"| write | all members  | 200      | 200   | 8    | 256   | 4     | 8       |",
		"| read  | Serializable | 200      | 200   | 8    | 256   | 4     | 8       |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
}
