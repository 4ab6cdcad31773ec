package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/concord-kv/concord/internal/electionpb"
	"github.com/concord-kv/concord/internal/lockpb"
	"github.com/concord-kv/concord/tests/concordtest"
)

// Texts of etcd's auth refusals (rpctypes).
const (
	deniedText = "etcdserver: permission denied"
	// watchDeniedText is the cancel_reason of a refused watch: etcd sends
	// the status' Error() text.
	watchDeniedText  = "rpc error: code = PermissionDenied desc = etcdserver: permission denied"
	userEmptyText    = "etcdserver: user name is empty"
	invalidTokenText = "etcdserver: invalid auth token"
	authFailedText   = "etcdserver: authentication failed, invalid user ID or password"
)

// authSetup enables auth on the cluster cli reaches: root (password
// "rootpw") holds the root role; user "u" (password "upw") holds role "r",
// read and write on the prefix /ok/. It returns a root client and a client
// of u.
func authSetup(t *testing.T, c *concordtest.Cluster, cli *clientv3.Client) (root, user *clientv3.Client) {
	t.Helper()
	ctx := ctxT(t)
	steps := []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "r"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "r", "/ok/", clientv3.GetPrefixRangeEnd("/ok/"), clientv3.PermissionType(authpb.READWRITE))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "u", "upw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "u", "r"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("auth setup step %d: %v", i, err)
		}
	}
	return authClient(t, c.Endpoints(), "root", "rootpw"), authClient(t, c.Endpoints(), "u", "upw")
}

// authClient is a Go client of eps logged in as name (empty: anonymous),
// closed when the test ends.
func authClient(t *testing.T, eps []string, name, password string) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{Endpoints: eps, Username: name, Password: password, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("client as %s: %v", name, err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// tokenOf authenticates name on conn and returns its token.
func tokenOf(t *testing.T, conn *grpc.ClientConn, name, password string) string {
	t.Helper()
	resp, err := pb.NewAuthClient(conn).Authenticate(ctxT(t), &pb.AuthenticateRequest{Name: name, Password: password})
	if err != nil {
		t.Fatalf("authenticate %s: %v", name, err)
	}
	return resp.Token
}

// rpcCase calls one RPC in the way that must be refused and returns the
// refusal; want is its text.
type rpcCase struct {
	want string
	call func(ctx context.Context, conn *grpc.ClientConn, f *rpcFixture) error
}

// rpcFixture is what the denied calls refer to: a lease of root's with a
// key u may not write attached.
type rpcFixture struct {
	lease    int64
	memberID uint64
}

// streamErr returns the error a server stream ends with (nil if it sent a
// message first).
func streamErr(s grpc.ClientStream, err error) error {
	if err != nil {
		return err
	}
	return s.RecvMsg(new(pb.RangeStreamResponse))
}

// deniedCases has one row per RPC of every service Concord serves: a call
// as user u (or anonymously, or with a bad token, where any user may call
// the RPC) that the server must refuse, with etcd's text.
func deniedCases() map[string]rpcCase {
	all := map[string]rpcCase{}
	for _, part := range []map[string]rpcCase{kvCases(), leaseCases(), clusterCases(), maintenanceCases(), authCases(), lockCases()} {
		for k, v := range part {
			all[k] = v
		}
	}
	return all
}

// deniedCase is a row refused with "permission denied".
func deniedCase(call func(ctx context.Context, conn *grpc.ClientConn, f *rpcFixture) error) rpcCase {
	return rpcCase{deniedText, call}
}

// anonCase is a row of an RPC any user may call: called without a token,
// it is refused with "user name is empty".
func anonCase(call func(ctx context.Context, conn *grpc.ClientConn, f *rpcFixture) error) rpcCase {
	return rpcCase{userEmptyText, func(ctx context.Context, conn *grpc.ClientConn, f *rpcFixture) error {
		return call(metadata.NewOutgoingContext(ctx, metadata.MD{}), conn, f)
	}}
}

// deniedKey is a key u may neither read nor write.
var deniedKey = []byte("/no/k")

// deniedLeader is an election leader key under a prefix u may not use.
func deniedLeader(f *rpcFixture) *electionpb.LeaderKey {
	return &electionpb.LeaderKey{Name: []byte("/no/e"), Key: []byte("/no/e/1"), Rev: 1, Lease: f.lease}
}

// kvCases are the rows of KV and Watch.
func kvCases() map[string]rpcCase {
	return map[string]rpcCase{
		"/etcdserverpb.KV/Range": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewKVClient(c).Range(ctx, &pb.RangeRequest{Key: deniedKey})
			return err
		}),
		"/etcdserverpb.KV/RangeStream": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			s, err := pb.NewKVClient(c).RangeStream(ctx, &pb.RangeRequest{Key: []byte("/"), RangeEnd: []byte("0")})
			return streamErr(s, err)
		}),
		"/etcdserverpb.KV/Put": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewKVClient(c).Put(ctx, &pb.PutRequest{Key: deniedKey, Value: []byte("v")})
			return err
		}),
		"/etcdserverpb.KV/DeleteRange": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewKVClient(c).DeleteRange(ctx, &pb.DeleteRangeRequest{Key: deniedKey})
			return err
		}),
		"/etcdserverpb.KV/Txn": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			// allowed compare and success branch; the failure branch's
			// nested txn writes a denied key
			put := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: deniedKey, Value: []byte("v")}}}
			nested := &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: []*pb.RequestOp{put}}}}
			_, err := pb.NewKVClient(c).Txn(ctx, &pb.TxnRequest{
				Compare: []*pb.Compare{{Key: []byte("/ok/a"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL}},
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("/ok/a")}}}},
				Failure: []*pb.RequestOp{nested},
			})
			return err
		}),
		"/etcdserverpb.KV/Compact": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewKVClient(c).Compact(ctx, &pb.CompactionRequest{Revision: 1})
			return err
		}),
		"/etcdserverpb.Watch/Watch": {watchDeniedText, func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			return deniedWatch(ctx, c, deniedKey)
		}},
	}
}

// leaseCases are the rows of Lease.
func leaseCases() map[string]rpcCase {
	return map[string]rpcCase{
		"/etcdserverpb.Lease/LeaseGrant": anonCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewLeaseClient(c).LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 60})
			return err
		}),
		"/etcdserverpb.Lease/LeaseRevoke": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			_, err := pb.NewLeaseClient(c).LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: f.lease})
			return err
		}),
		"/etcdserverpb.Lease/LeaseKeepAlive": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			s, err := pb.NewLeaseClient(c).LeaseKeepAlive(ctx)
			if err != nil {
				return err
			}
			if err := s.Send(&pb.LeaseKeepAliveRequest{ID: f.lease}); err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}),
		"/etcdserverpb.Lease/LeaseTimeToLive": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			_, err := pb.NewLeaseClient(c).LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: f.lease, Keys: true})
			return err
		}),
		"/etcdserverpb.Lease/LeaseLeases": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewLeaseClient(c).LeaseLeases(ctx, &pb.LeaseLeasesRequest{})
			return err
		}),
	}
}

// clusterCases are the rows of Cluster.
func clusterCases() map[string]rpcCase {
	return map[string]rpcCase{
		"/etcdserverpb.Cluster/MemberAdd": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewClusterClient(c).MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"http://127.0.0.9:2380"}, IsLearner: true})
			return err
		}),
		"/etcdserverpb.Cluster/MemberRemove": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			_, err := pb.NewClusterClient(c).MemberRemove(ctx, &pb.MemberRemoveRequest{ID: f.memberID})
			return err
		}),
		"/etcdserverpb.Cluster/MemberUpdate": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			_, err := pb.NewClusterClient(c).MemberUpdate(ctx, &pb.MemberUpdateRequest{ID: f.memberID, PeerURLs: []string{"http://127.0.0.9:2380"}})
			return err
		}),
		"/etcdserverpb.Cluster/MemberList": anonCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewClusterClient(c).MemberList(ctx, &pb.MemberListRequest{})
			return err
		}),
		"/etcdserverpb.Cluster/MemberPromote": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			_, err := pb.NewClusterClient(c).MemberPromote(ctx, &pb.MemberPromoteRequest{ID: f.memberID})
			return err
		}),
	}
}

// maintenanceCases are the rows of Maintenance.
func maintenanceCases() map[string]rpcCase {
	return map[string]rpcCase{
		"/etcdserverpb.Maintenance/Alarm": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			_, err := pb.NewMaintenanceClient(c).Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: f.memberID, Alarm: pb.AlarmType_NOSPACE})
			return err
		}),
		"/etcdserverpb.Maintenance/Status": anonCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewMaintenanceClient(c).Status(ctx, &pb.StatusRequest{})
			return err
		}),
		"/etcdserverpb.Maintenance/Defragment": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewMaintenanceClient(c).Defragment(ctx, &pb.DefragmentRequest{})
			return err
		}),
		"/etcdserverpb.Maintenance/Hash": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewMaintenanceClient(c).Hash(ctx, &pb.HashRequest{})
			return err
		}),
		"/etcdserverpb.Maintenance/HashKV": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewMaintenanceClient(c).HashKV(ctx, &pb.HashKVRequest{})
			return err
		}),
		"/etcdserverpb.Maintenance/Snapshot": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			s, err := pb.NewMaintenanceClient(c).Snapshot(ctx, &pb.SnapshotRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}),
		"/etcdserverpb.Maintenance/MoveLeader": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			_, err := pb.NewMaintenanceClient(c).MoveLeader(ctx, &pb.MoveLeaderRequest{TargetID: f.memberID})
			return err
		}),
		"/etcdserverpb.Maintenance/Downgrade": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewMaintenanceClient(c).Downgrade(ctx, &pb.DowngradeRequest{Action: pb.DowngradeRequest_VALIDATE, Version: "3.5"})
			return err
		}),
	}
}

// authCases are the rows of Auth.
func authCases() map[string]rpcCase {
	return map[string]rpcCase{
		"/etcdserverpb.Auth/AuthEnable": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).AuthEnable(ctx, &pb.AuthEnableRequest{})
			return err
		}),
		"/etcdserverpb.Auth/AuthDisable": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).AuthDisable(ctx, &pb.AuthDisableRequest{})
			return err
		}),
		"/etcdserverpb.Auth/AuthStatus": {invalidTokenText, func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).AuthStatus(metadata.NewOutgoingContext(ctx, metadata.Pairs("token", "bogus")), &pb.AuthStatusRequest{})
			return err
		}},
		"/etcdserverpb.Auth/Authenticate": {authFailedText, func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).Authenticate(ctx, &pb.AuthenticateRequest{Name: "u", Password: "wrong"})
			return err
		}},
		"/etcdserverpb.Auth/UserAdd": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).UserAdd(ctx, &pb.AuthUserAddRequest{Name: "x", Password: "x"})
			return err
		}),
		"/etcdserverpb.Auth/UserGet": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).UserGet(ctx, &pb.AuthUserGetRequest{Name: "root"})
			return err
		}),
		"/etcdserverpb.Auth/UserList": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).UserList(ctx, &pb.AuthUserListRequest{})
			return err
		}),
		"/etcdserverpb.Auth/UserDelete": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).UserDelete(ctx, &pb.AuthUserDeleteRequest{Name: "root"})
			return err
		}),
		"/etcdserverpb.Auth/UserChangePassword": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).UserChangePassword(ctx, &pb.AuthUserChangePasswordRequest{Name: "root", Password: "x"})
			return err
		}),
		"/etcdserverpb.Auth/UserGrantRole": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "u", Role: "root"})
			return err
		}),
		"/etcdserverpb.Auth/UserRevokeRole": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).UserRevokeRole(ctx, &pb.AuthUserRevokeRoleRequest{Name: "root", Role: "root"})
			return err
		}),
		"/etcdserverpb.Auth/RoleAdd": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: "x"})
			return err
		}),
		"/etcdserverpb.Auth/RoleGet": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).RoleGet(ctx, &pb.AuthRoleGetRequest{Role: "root"})
			return err
		}),
		"/etcdserverpb.Auth/RoleList": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).RoleList(ctx, &pb.AuthRoleListRequest{})
			return err
		}),
		"/etcdserverpb.Auth/RoleDelete": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).RoleDelete(ctx, &pb.AuthRoleDeleteRequest{Role: "r"})
			return err
		}),
		"/etcdserverpb.Auth/RoleGrantPermission": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{Key: deniedKey}})
			return err
		}),
		"/etcdserverpb.Auth/RoleRevokePermission": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := pb.NewAuthClient(c).RoleRevokePermission(ctx, &pb.AuthRoleRevokePermissionRequest{Role: "r", Key: []byte("/ok/")})
			return err
		}),
	}
}

// lockCases are the rows of Lock and Election (refused by the inner client acting as the caller).
func lockCases() map[string]rpcCase {
	return map[string]rpcCase{
		"/v3lockpb.Lock/Lock": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			_, err := lockpb.NewLockClient(c).Lock(ctx, &lockpb.LockRequest{Name: []byte("/no/l"), Lease: f.lease})
			return err
		}),
		"/v3lockpb.Lock/Unlock": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := lockpb.NewLockClient(c).Unlock(ctx, &lockpb.UnlockRequest{Key: []byte("/no/l/1")})
			return err
		}),
		"/v3electionpb.Election/Campaign": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			_, err := electionpb.NewElectionClient(c).Campaign(ctx, &electionpb.CampaignRequest{Name: []byte("/no/e"), Lease: f.lease, Value: []byte("v")})
			return err
		}),
		"/v3electionpb.Election/Proclaim": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			_, err := electionpb.NewElectionClient(c).Proclaim(ctx, &electionpb.ProclaimRequest{Leader: deniedLeader(f), Value: []byte("v")})
			return err
		}),
		"/v3electionpb.Election/Leader": deniedCase(func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			_, err := electionpb.NewElectionClient(c).Leader(ctx, &electionpb.LeaderRequest{Name: []byte("/no/e")})
			return err
		}),
		// As etcd's v3election: a denied Observe ends without a leader.
		"/v3electionpb.Election/Observe": {"EOF", func(ctx context.Context, c *grpc.ClientConn, _ *rpcFixture) error {
			s, err := electionpb.NewElectionClient(c).Observe(ctx, &electionpb.LeaderRequest{Name: []byte("/no/e")})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
		"/v3electionpb.Election/Resign": deniedCase(func(ctx context.Context, c *grpc.ClientConn, f *rpcFixture) error {
			_, err := electionpb.NewElectionClient(c).Resign(ctx, &electionpb.ResignRequest{Leader: deniedLeader(f)})
			return err
		}),
	}
}

// deniedWatch opens a watch on key and returns the refusal the server
// sends as etcd does: a created-and-canceled response whose cancel_reason
// is the error text.
func deniedWatch(ctx context.Context, c *grpc.ClientConn, key []byte) error {
	s, err := pb.NewWatchClient(c).Watch(ctx)
	if err != nil {
		return err
	}
	if err := s.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: key}}}); err != nil {
		return err
	}
	resp, err := s.Recv()
	if err != nil {
		return err
	}
	if !resp.Created || !resp.Canceled || resp.WatchId != -1 {
		return status.Errorf(codes.Unknown, "watch not refused: %v", resp)
	}
	return status.Error(codes.Unknown, resp.CancelReason)
}

// TestAuthEveryRPCDenied lists every method of every gRPC service Concord
// serves (from the services' descriptors, so a new RPC without a row
// fails) and checks, on a member with auth enabled, that a call the
// caller may not make is refused with etcd's text.
func TestAuthEveryRPCDenied(t *testing.T) {
	c := newCluster(t, 1)
	root, _ := authSetup(t, c, c.Client(t))
	ctx := ctxT(t)
	lease, err := root.Grant(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Put(ctx, "/no/k", "v", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	st, err := root.Status(ctx, c.Members[0].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	f := &rpcFixture{lease: int64(lease.ID), memberID: st.Header.MemberId}
	conn := dialRaw(t, c.Members[0])
	uctx := metadata.AppendToOutgoingContext(ctx, "token", tokenOf(t, conn, "u", "upw"))

	cases := deniedCases()
	descs := []grpc.ServiceDesc{pb.KV_ServiceDesc, pb.Watch_ServiceDesc, pb.Lease_ServiceDesc, pb.Cluster_ServiceDesc,
		pb.Maintenance_ServiceDesc, pb.Auth_ServiceDesc, lockpb.Lock_ServiceDesc, electionpb.Election_ServiceDesc}
	seen := map[string]bool{}
	for _, d := range descs {
		var names []string
		for _, m := range d.Methods {
			names = append(names, m.MethodName)
		}
		for _, s := range d.Streams {
			names = append(names, s.StreamName)
		}
		for _, name := range names {
			full := "/" + d.ServiceName + "/" + name
			seen[full] = true
			t.Run(strings.TrimPrefix(full, "/"), func(t *testing.T) {
				tc, ok := cases[full]
				if !ok {
					t.Fatalf("%s has no row: add its denied case", full)
				}
				err := tc.call(uctx, conn, f)
				if got := status.Convert(err).Message(); err == nil || got != tc.want {
					t.Fatalf("%s: got %v, want %q", full, err, tc.want)
				}
			})
		}
	}
	for full := range cases {
		if !seen[full] {
			t.Errorf("row %s names no RPC of the services", full)
		}
	}
	// the refused calls changed nothing root can see
	if r, err := root.Get(ctx, "/no/k"); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("/no/k after the refused calls: %v %v", r, err)
	}
}
