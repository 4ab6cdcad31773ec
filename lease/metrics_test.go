package lease

import (
	"fmt"
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.Metrics = NewMetrics(reg)
	e := newEnv(t, cfg, "a") // one member: each applied op counts once
	e.runScript(`
		promote a
		grant 1 10 -> ttl=10
		grant 2 100 -> ttl=100
		grant 2 100 -> err=lease already exists
		renew a 1 -> ttl=10
		renew a 1 -> ttl=10
		renew a 9 -> err=lease not found
		advance 10s
		expired a -> [1]
		expired a -> []
		advance 3s
		expired a -> [1]          # reported again, counted once
		revoke 1 -> keys=[]
	`)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		switch mf.GetType().String() {
		case "COUNTER":
			got[mf.GetName()] = fmt.Sprintf("counter %v", m.GetCounter().GetValue())
		case "HISTOGRAM":
			got[mf.GetName()] = fmt.Sprintf("histogram count=%d sum=%v", m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum())
		}
	}
	want := map[string]string{
		"etcd_debugging_lease_granted_total":        "counter 2",
		"etcd_debugging_lease_renewed_total":        "counter 2",
		"etcd_debugging_lease_revoked_total":        "counter 1",
		"etcd_debugging_lease_ttl_total":            "histogram count=2 sum=110",
		"etcd_debugging_server_lease_expired_total": "counter 1",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("metrics = %v, want %v", got, want)
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.grant(1)
	m.revoke()
	m.renew()
	m.expire(3)
}
