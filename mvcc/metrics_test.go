package mvcc

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newTestEnv(t, Options{Registerer: reg})
	e.put("a", "1")
	e.put("a", "2")
	e.put("b", "1")
	done, err := e.compact(3)
	if err != nil {
		t.Fatal(err)
	}
	<-done
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
		}
	}
	want := map[string]float64{
		"etcd_debugging_mvcc_current_revision":         4,
		"etcd_debugging_mvcc_compact_revision":         3,
		"etcd_debugging_mvcc_keys_total":               2,
		"etcd_debugging_mvcc_db_compaction_keys_total": 2, // a@2: version and log record
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
