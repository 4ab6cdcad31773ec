package benchcmd_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/concord-kv/concord/bench"
	"github.com/concord-kv/concord/bench/etcdtest"
	"github.com/concord-kv/concord/tests/concordtest"
)

// TestMain removes the concord binary concordtest built for this package.
func TestMain(m *testing.M) { os.Exit(concordtest.Main(m)) }

// TestTableConcordVersusEtcd runs the seed 002 table with --total 300
// against a 3-member Concord and, with --compare-endpoints, a 3-member etcd
// 3.4, then checks every row of both tables and what each cluster holds.
func TestTableConcordVersusEtcd(t *testing.T) {
	cc := concordtest.Start(t, 3)
	ec := etcdtest.Start(t, 3)
	ccl, ecl := cc.Client(t), ec.Client(t)
	cfg := func(eps []string) bench.Config { return bench.Config{Endpoints: eps, Conns: 1, Clients: 1} }
	cLeader, err := bench.FindLeader(context.Background(), cfg(cc.Endpoints()), nil)
	if err != nil {
		t.Fatalf("concord leader: %v", err)
	}
	eLeader, err := bench.FindLeader(context.Background(), cfg(ec.Endpoints()), nil)
	if err != nil {
		t.Fatalf("etcd leader: %v", err)
	}
	cRev, eRev := revision(t, ccl), revision(t, ecl)

	out := run(t, "--endpoints="+strings.Join(cc.Endpoints(), ","), "--total=300", "-w", "json", "table",
		"--name=concord", "--compare-endpoints="+strings.Join(ec.Endpoints(), ","), "--compare-name=etcd34")
	var tables []bench.JSONTable
	if err := json.Unmarshal([]byte(out), &tables); err != nil {
		t.Fatalf("table json: %v\n%s", err, out)
	}
	eq(t, "tables", len(tables), 2)
	for i, want := range []struct {
		name, leader string
		eps          []string
	}{{"concord", cLeader, cc.Endpoints()}, {"etcd34", eLeader, ec.Endpoints()}} {
		tb := tables[i]
		eq(t, "name", tb.Name, want.name)
		eq(t, tb.Name+" members", tb.Members, 3)
		eq(t, tb.Name+" leader", tb.Leader, want.leader)
		eq(t, tb.Name+" endpoints", strings.Join(tb.Endpoints, ","), strings.Join(want.eps, ","))
		eq(t, tb.Name+" rows", len(tb.Rows), 7)
		for j, r := range tb.Rows {
			row := tb.Name + " row " + strconv.Itoa(j) + " (" + r.Op + " " + r.Strategy + ")"
			eq(t, row+" requests", r.Requests, 300)
			eq(t, row+" count", r.Stats.Count, 300)
			eq(t, row+" errors", r.Stats.Errors, 0)
			t.Logf("%s: %.0f requests/s, average %.2f ms", row, r.Stats.RequestsPerSecond, 1000*r.Stats.AverageSeconds)
			if r.Stats.RequestsPerSecond <= 0 {
				t.Errorf("%s: %v requests/s", row, r.Stats.RequestsPerSecond)
			}
		}
	}
	// Both write rows put the same 300 keys: the clusters end up alike.
	eq(t, "keys in concord", countKeys(t, ccl, ""), 300)
	eq(t, "keys in etcd", countKeys(t, ecl, ""), 300)
	// One revision per write request, plus the put of the read key before
	// each read row.
	writes := 0
	for _, r := range tables[0].Rows {
		if r.Op == "write" {
			writes += r.Requests
		} else {
			writes++
		}
	}
	if c, e := revision(t, ccl)-cRev, revision(t, ecl)-eRev; c != int64(writes) || e != int64(writes) {
		t.Errorf("revisions written: concord %d, etcd %d, want %d", c, e, writes)
	}
}
