package api

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/concord-kv/concord/internal/electionpb"
	"github.com/concord-kv/concord/internal/lockpb"
)

// TestEveryMethodHasRule: every RPC of the services the server registers
// has an access rule in methodRules, and every rule names such an RPC (a
// method without a rule would be refused to all but root).
func TestEveryMethodHasRule(t *testing.T) {
	descs := []grpc.ServiceDesc{pb.KV_ServiceDesc, pb.Watch_ServiceDesc, pb.Lease_ServiceDesc, pb.Cluster_ServiceDesc,
		pb.Maintenance_ServiceDesc, pb.Auth_ServiceDesc, lockpb.Lock_ServiceDesc, electionpb.Election_ServiceDesc,
		healthpb.Health_ServiceDesc}
	seen := map[string]bool{}
	for _, d := range descs {
		var names []string
		for _, m := range d.Methods {
			names = append(names, m.MethodName)
		}
		for _, s := range d.Streams {
			names = append(names, s.StreamName)
		}
		for _, n := range names {
			full := "/" + d.ServiceName + "/" + n
			seen[full] = true
			if !MethodRuleKnown(full) {
				t.Errorf("%s has no access rule", full)
			}
		}
	}
	for m := range methodRules {
		if !seen[m] {
			t.Errorf("rule for %s names no served RPC", m)
		}
	}
}
