package apply

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"

	"github.com/concord-kv/concord/auth"
	"github.com/concord-kv/concord/lease"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/storage"
)

// withAuth is a harness with leases and an auth store where root (root
// role) and u exist and auth is enabled; u's role reads and writes "a…"
// (prefix a), reads "r", writes "w".
func withAuth(t *testing.T) (*harness, *auth.Store) {
	h := newHarness(t)
	as, err := auth.NewStore(auth.Config{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	le, err := lease.New(lease.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{DB: h.db, KV: h.kv, Cluster: membership.NewCluster(1), Auth: as, Lessor: le})
	if err != nil {
		t.Fatal(err)
	}
	h.a = a
	hash, err := as.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	perm := func(typ authpb.Permission_Type, k, e string) *pb.InternalRaftRequest {
		return &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "ru",
			Perm: &authpb.Permission{PermType: typ, Key: []byte(k), RangeEnd: []byte(e)}}}
	}
	for i, res := range h.do(
		&pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: hash}},
		&pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}},
		&pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "u", HashedPassword: hash}},
		&pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "ru"}},
		perm(authpb.Permission_READWRITE, "a", "b"),
		perm(authpb.Permission_READ, "r", ""),
		perm(authpb.Permission_WRITE, "w", ""),
		&pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "u", Role: "ru"}},
		&pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}},
	) {
		if res.Err != nil {
			t.Fatalf("setup %d: %v", i, res.Err)
		}
	}
	return h, as
}

func as(user string, rev uint64, r *pb.InternalRaftRequest) *pb.InternalRaftRequest {
	r.Header = &pb.RequestHeader{Username: user, AuthRevision: rev}
	return r
}

func op(r any) *pb.RequestOp {
	switch r := r.(type) {
	case *pb.PutRequest:
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: r}}
	case *pb.DeleteRangeRequest:
		return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: r}}
	case *pb.RangeRequest:
		return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: r}}
	case *pb.TxnRequest:
		return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: r}}
	}
	panic("op")
}

// TestAuthAppliedWrites checks authApplierV3's rules on committed writes:
// each denied request returns the error and leaves the revision as it
// was; each allowed one applies.
func TestAuthAppliedWrites(t *testing.T) {
	h, st := withAuth(t)
	rev := st.Revision()
	k := func(s string) []byte { return []byte(s) }
	cases := []struct {
		name string
		req  *pb.InternalRaftRequest
		err  error
	}{
		{"put allowed", as("u", rev, putReq("a1", "v")), nil},
		{"put no user", putReq("a1", "v"), auth.ErrUserEmpty},
		{"put old revision", as("u", rev-1, putReq("a1", "v")), auth.ErrAuthOldRevision},
		{"put denied", as("u", rev, putReq("b", "v")), auth.ErrPermissionDenied},
		{"put read-only key", as("u", rev, putReq("r", "v")), auth.ErrPermissionDenied},
		{"put write-only", as("u", rev, putReq("w", "v")), nil},
		{"put write-only prev_kv", as("u", rev, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: k("w"), PrevKv: true}}), auth.ErrPermissionDenied},
		{"put root", as("root", rev, putReq("zz", "v")), nil},
		{"delete allowed", as("u", rev, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: k("a"), RangeEnd: k("b")}}), nil},
		{"delete too wide", as("u", rev, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: k("a"), RangeEnd: k("c")}}), auth.ErrPermissionDenied},
		{"delete prev_kv write-only", as("u", rev, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: k("w"), PrevKv: true}}), auth.ErrPermissionDenied},
		{"delete write-only", as("u", rev, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: k("w")}}), nil},
		{"txn allowed", as("u", rev, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: k("r"), Target: pb.Compare_VERSION}},
			Success: []*pb.RequestOp{op(&pb.PutRequest{Key: k("a2")})},
			Failure: []*pb.RequestOp{op(&pb.RangeRequest{Key: k("r")})}}}), nil},
		{"txn compare denied", as("u", rev, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: k("w"), Target: pb.Compare_VERSION}},
			Success: []*pb.RequestOp{op(&pb.PutRequest{Key: k("a2")})}}}), auth.ErrPermissionDenied},
		{"txn failure branch denied", as("u", rev, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Success: []*pb.RequestOp{op(&pb.PutRequest{Key: k("a2")})},
			Failure: []*pb.RequestOp{op(&pb.DeleteRangeRequest{Key: k("b")})}}}), auth.ErrPermissionDenied},
		{"txn nested denied", as("u", rev, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Success: []*pb.RequestOp{op(&pb.TxnRequest{Success: []*pb.RequestOp{op(&pb.RangeRequest{Key: k("b")})}})}}}), auth.ErrPermissionDenied},
		{"txn range denied", as("u", rev, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Success: []*pb.RequestOp{op(&pb.RangeRequest{Key: k("a"), RangeEnd: k("\x00")})}}}), auth.ErrPermissionDenied},
		{"txn delete prev_kv denied", as("u", rev, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Success: []*pb.RequestOp{op(&pb.DeleteRangeRequest{Key: k("w"), PrevKv: true})}}}), auth.ErrPermissionDenied},
		{"admin entry by u", as("u", rev, &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "x"}}), auth.ErrPermissionDenied},
	}
	for _, c := range cases {
		before := h.kv.Rev()
		res := h.do(c.req)[0]
		if !errors.Is(res.Err, c.err) || (res.Err == nil) != (c.err == nil) {
			t.Errorf("%s: %v, want %v", c.name, res.Err, c.err)
		}
		if c.err != nil && h.kv.Rev() != before {
			t.Errorf("%s: denied but the revision moved %d → %d", c.name, before, h.kv.Rev())
		}
	}
}

// TestAuthLeaseRevoke: revoking (or attaching to) a lease needs write on
// every key attached to it; the leader's expiry revoke names no user.
func TestAuthLeaseRevoke(t *testing.T) {
	h, st := withAuth(t)
	rev := st.Revision()
	for i, res := range h.do(
		as("root", rev, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 7, TTL: 60}}),
		as("root", rev, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a1"), Lease: 7}}),
		as("root", rev, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("secret"), Lease: 7}}),
		as("root", rev, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 8, TTL: 60}}),
		as("u", rev, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a2"), Lease: 8}}),
	) {
		if res.Err != nil {
			t.Fatalf("setup %d: %v", i, res.Err)
		}
	}
	if res := h.do(as("u", rev, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a3"), Lease: 7}}))[0]; !errors.Is(res.Err, auth.ErrPermissionDenied) {
		t.Fatalf("u attaches to a lease holding secret: %v", res.Err)
	}
	if res := h.do(as("u", rev, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 7}}))[0]; !errors.Is(res.Err, auth.ErrPermissionDenied) {
		t.Fatalf("u revokes a lease holding secret: %v", res.Err)
	}
	if res := h.do(as("u", rev, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 8}}))[0]; res.Err != nil {
		t.Fatalf("u revokes its own lease: %v", res.Err)
	}
	if res := h.do(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 7}})[0]; res.Err != nil {
		t.Fatalf("expiry revoke: %v", res.Err)
	}
}

// TestAuthRestoreLoads: Restore reloads the auth store with the rest.
func TestAuthRestoreLoads(t *testing.T) {
	h, st := withAuth(t)
	if err := h.a.Restore(func(b *pebble.Batch) error {
		return b.DeleteRange([]byte{storage.PrefixAuth}, []byte{storage.PrefixAuth + 1}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	if st.Enabled() || len(st.UserList().Users) != 0 {
		t.Fatalf("after restoring an empty auth range: enabled %v users %q", st.Enabled(), st.UserList().Users)
	}
}
