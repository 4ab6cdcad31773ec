package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/storage"
)

// env is a store over an in-memory Pebble, with a fake clock.
type env struct {
	t   *testing.T
	db  *pebble.DB
	s   *Store
	now time.Time
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	db, err := storage.Open("", storage.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, db: db, now: time.Unix(1_700_000_000, 0)}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = bcrypt.MinCost
	}
	cfg.Now = func() time.Time { return e.now }
	if e.s, err = NewStore(cfg); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Load(db); err != nil {
		t.Fatal(err)
	}
	return e
}

// apply applies r as user (root at the current revision if user is
// "root!", nobody if "") in its own committed batch.
func (e *env) apply(user string, r *pb.InternalRaftRequest) (proto.Message, error) {
	e.t.Helper()
	switch user {
	case "":
	case "root!":
		r.Header = &pb.RequestHeader{Username: RootUser, AuthRevision: e.s.Revision()}
	default:
		r.Header = &pb.RequestHeader{Username: user, AuthRevision: e.s.Revision()}
	}
	b := e.db.NewIndexedBatch()
	defer b.Close()
	resp, handled, err := e.s.Apply(b, r)
	if !handled {
		e.t.Fatalf("request %v not handled", r)
	}
	if errors.Is(err, ErrStorage) {
		e.t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		e.t.Fatal(err)
	}
	return resp, err
}

// must applies r as root (or nobody while auth is disabled) and fails
// the test on an error.
func (e *env) must(r *pb.InternalRaftRequest) proto.Message {
	e.t.Helper()
	user := ""
	if e.s.Enabled() {
		user = "root!"
	}
	resp, err := e.apply(user, r)
	if err != nil {
		e.t.Fatalf("%v: %v", r, err)
	}
	return resp
}

func (e *env) hash(pw string) string {
	e.t.Helper()
	h, err := e.s.HashPassword(pw)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

func userAdd(name, hash string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: name, HashedPassword: hash}}
}

func userAddNoPassword(name string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: name, Options: &authpb.UserAddOptions{NoPassword: true}}}
}

func userDelete(name string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: name}}
}

func changePassword(name, hash string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthUserChangePassword: &pb.AuthUserChangePasswordRequest{Name: name, HashedPassword: hash}}
}

func grantRole(user, role string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: user, Role: role}}
}

func revokeRole(user, role string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: user, Role: role}}
}

func roleAdd(name string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: name}}
}

func roleDelete(name string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: name}}
}

func grantPerm(role string, t authpb.Permission_Type, key, end string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: role,
		Perm: &authpb.Permission{PermType: t, Key: []byte(key), RangeEnd: []byte(end)}}}
}

func revokePerm(role, key, end string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: role, Key: []byte(key), RangeEnd: []byte(end)}}
}

func authenticate(name, token string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: name, SimpleToken: token}}
}

var (
	enableReq  = &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}
	disableReq = &pb.InternalRaftRequest{AuthDisable: &pb.AuthDisableRequest{}}
	statusReq  = &pb.InternalRaftRequest{AuthStatus: &pb.AuthStatusRequest{}}
)

// withRoot adds root (password "rootpw") holding the root role and
// enables auth.
func (e *env) withRoot() {
	e.t.Helper()
	e.must(userAdd(RootUser, e.hash("rootpw")))
	e.must(grantRole(RootUser, RootRole))
	e.must(enableReq)
}
