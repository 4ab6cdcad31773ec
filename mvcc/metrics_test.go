package mvcc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	// A clock that moves 5 ms at every reading makes each timed span a
	// whole number of ticks.
	clock := time.Unix(1_700_000_000, 0)
	now := func() time.Time { clock = clock.Add(5 * time.Millisecond); return clock }
	e := newTestEnv(t, Options{Registerer: reg, Now: now})
	e.put("a", "1")
	e.put("a", "2")
	e.put("b", "1")
	done, err := e.compact(4)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if _, _, _, err := e.s.HashKV(0); err != nil {
		t.Fatal(err)
	}
	// A read holding its iterator counts as an open read transaction.
	var during float64
	if _, _, err := e.s.RangeStream(context.Background(), []byte("a"), nil, RangeOptions{}, func(*mvccpb.KeyValue) error {
		during = gaugeValue(t, reg, "etcd_mvcc_db_open_read_transactions")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if during != 1 {
		t.Errorf("etcd_mvcc_db_open_read_transactions during a range = %v, want 1", during)
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			got[mf.GetName()] = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			got[mf.GetName()] = m.GetCounter().GetValue()
		case m.GetHistogram() != nil:
			got[mf.GetName()+"_count"] = float64(m.GetHistogram().GetSampleCount())
			got[mf.GetName()+"_sum"] = m.GetHistogram().GetSampleSum()
		}
	}
	want := map[string]float64{
		"etcd_debugging_mvcc_current_revision":         4,
		"etcd_debugging_mvcc_compact_revision":         4,
		"etcd_debugging_mvcc_keys_total":               2,
		"etcd_debugging_mvcc_db_compaction_keys_total": 2, // a@2: version and log record
		"etcd_debugging_mvcc_total_put_size_in_bytes":  6, // three puts of 1-byte keys and values
		"etcd_mvcc_db_open_read_transactions":          0, // the range above ended
		// One batch, timed by two clock readings (5 ms); the whole
		// compaction began at the same reading.
		"etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds_count": 1,
		"etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds_sum":   5,
		"etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_count": 1,
		"etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_sum":   5,
		"etcd_mvcc_hash_rev_duration_seconds_count":                           1,
		// No in-memory index and no Maintenance.Hash: never observed.
		"etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds_count": 0,
		"etcd_mvcc_hash_duration_seconds_count":                                  0,
	}
	if got["etcd_debugging_mvcc_db_compaction_last"] < 1_700_000_000 {
		t.Errorf("etcd_debugging_mvcc_db_compaction_last = %v, want the Unix time of the compaction", got["etcd_debugging_mvcc_db_compaction_last"])
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v (all %v)", name, got[name], v, got)
		}
	}
	// A second store on the same registry is refused, not a panic.
	if _, err := Open(e.db, Options{Registerer: reg}); err == nil || !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		t.Fatalf("second registration: %v", err)
	}
}

// gaugeValue gathers reg and returns the value of the gauge name.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
