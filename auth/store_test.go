package auth

import (
	"encoding/base64"
	"errors"
	"slices"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestApplyKinds walks every auth request kind through its successes and
// errors, checking the error and the auth revision after each step (etcd
// 3.4 numbers them the same: enabling, no-op grants and failures do not
// move it).
func TestApplyKinds(t *testing.T) {
	e := newEnv(t, Config{})
	h := e.hash("pw")
	rootH := e.hash("rootpw")
	steps := []struct {
		user string // "" nobody, "root!" root at the current revision
		req  *pb.InternalRaftRequest
		err  error
		rev  uint64
	}{
		{"", statusReq, nil, 1},
		{"", enableReq, ErrRootUserNotExist, 1},
		{"", userAdd("", h), ErrUserEmpty, 1},
		{"", userAdd(RootUser, rootH), nil, 2},
		{"", userAdd(RootUser, rootH), ErrUserAlreadyExist, 2},
		{"", enableReq, ErrRootRoleNotExist, 2},
		{"", userAdd("clear", ""), ErrNoPasswordUser, 2},
		{"", userAdd("b64", base64.StdEncoding.EncodeToString([]byte(h))), nil, 3},
		{"", userAddNoPassword("np"), nil, 4},
		{"", roleAdd(""), ErrRoleEmpty, 4},
		{"", roleAdd("r1"), nil, 5},
		{"", roleAdd("r1"), ErrRoleAlreadyExist, 5},
		{"", grantRole("nobody", "r1"), ErrUserNotFound, 5},
		{"", grantRole(RootUser, "nosuch"), ErrRoleNotFound, 5},
		{"", grantRole(RootUser, RootRole), nil, 6}, // root needs no role record
		{"", grantRole(RootUser, RootRole), nil, 6}, // duplicate: no-op
		{"", grantRole("np", "r1"), nil, 7},
		{"", revokeRole("np", "r2"), ErrRoleNotGranted, 7},
		{"", revokeRole("nobody", "r1"), ErrUserNotFound, 7},
		{"", grantPerm("nosuch", authpb.Permission_READ, "a", ""), ErrRoleNotFound, 7},
		{"", &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r1"}}, ErrPermissionNotGiven, 7},
		{"", grantPerm("r1", authpb.Permission_READ, "b", "c"), nil, 8},
		{"", grantPerm("r1", authpb.Permission_READWRITE, "a", ""), nil, 9},
		{"", grantPerm("r1", authpb.Permission_WRITE, "a", ""), nil, 10}, // same range: type changes
		{"", revokePerm("r1", "zz", ""), ErrPermissionNotGranted, 10},
		{"", revokePerm("nosuch", "a", ""), ErrRoleNotFound, 10},
		{"", changePassword("nobody", h), ErrUserNotFound, 10},
		{"", changePassword("b64", "not a hash"), ErrNoPasswordUser, 10},
		{"", changePassword("b64", e.hash("pw2")), nil, 11},
		{"", userDelete("nobody"), ErrUserNotFound, 11},
		{"", authenticate(RootUser, "tok"), ErrAuthNotEnabled, 11},
		{"", enableReq, nil, 11},
		{"", enableReq, ErrUserEmpty, 11}, // enabled: admin needed even for a no-op
		{"root!", enableReq, nil, 11},
		{"np", roleAdd("r2"), ErrPermissionDenied, 11},
		{"nobody", roleAdd("r2"), ErrUserNotFound, 11},
		{"", roleAdd("r2"), ErrUserEmpty, 11},
		{"root!", roleAdd("r2"), nil, 12},
		{"root!", userDelete(RootUser), ErrInvalidAuthMgmt, 12},
		{"root!", revokeRole(RootUser, RootRole), ErrInvalidAuthMgmt, 12},
		{"root!", roleDelete(RootRole), ErrInvalidAuthMgmt, 12},
		{"root!", roleDelete("nosuch"), ErrRoleNotFound, 12},
		{"root!", grantRole("b64", "r1"), nil, 13},
		{"root!", roleDelete("r1"), nil, 14}, // also revoked from np and b64
		{"root!", revokeRole("np", "r1"), ErrRoleNotGranted, 14},
		{"root!", authenticate("nobody", "tok"), ErrAuthFailed, 14},
		{"root!", authenticate("np", "tok"), ErrAuthFailed, 14},
		{"root!", authenticate(RootUser, ""), ErrInvalidAuthToken, 14},
		{"root!", authenticate(RootUser, "tok"), nil, 14},
		{"root!", userDelete("b64"), nil, 15},
		{"root!", disableReq, nil, 16},
		{"", disableReq, nil, 16}, // disabled: no-op
		{"", roleDelete(RootRole), ErrRoleNotFound, 16},
		{"", revokeRole(RootUser, RootRole), nil, 17},
		{"", userDelete(RootUser), nil, 18},
	}
	for i, st := range steps {
		_, err := e.apply(st.user, st.req)
		if !errors.Is(err, st.err) || (err == nil) != (st.err == nil) {
			t.Fatalf("step %d %v as %q: err %v, want %v", i, st.req, st.user, err, st.err)
		}
		if got := e.s.Revision(); got != st.rev {
			t.Fatalf("step %d %v: revision %d, want %d", i, st.req, got, st.rev)
		}
	}
	if got := e.s.UserList().Users; !slices.Equal(got, []string{"np"}) {
		t.Fatalf("users %q", got)
	}
	if got := e.s.RoleList().Roles; !slices.Equal(got, []string{"r2"}) {
		t.Fatalf("roles %q", got)
	}
}

// TestReadsSorted checks the read answers' order and shapes, from memory
// and through raft (etcd 3.4's UserGet/RoleGet/…List entries).
func TestReadsSorted(t *testing.T) {
	e := newEnv(t, Config{})
	for _, u := range []string{"zed", "amy", "Bob"} {
		e.must(userAdd(u, e.hash("x")))
	}
	for _, r := range []string{"w", "c", "m"} {
		e.must(roleAdd(r))
		e.must(grantRole("amy", r))
	}
	e.must(grantPerm("c", authpb.Permission_READ, "k2", ""))
	e.must(grantPerm("c", authpb.Permission_READ, "k1", "k3"))
	e.must(grantPerm("c", authpb.Permission_WRITE, "k1", ""))
	e.must(grantPerm("c", authpb.Permission_READ, "", "\x00"))
	if got := e.s.UserList().Users; !slices.Equal(got, []string{"Bob", "amy", "zed"}) {
		t.Fatalf("UserList %q", got)
	}
	if got := e.s.RoleList().Roles; !slices.Equal(got, []string{"c", "m", "w"}) {
		t.Fatalf("RoleList %q", got)
	}
	ug, err := e.s.UserGet("amy")
	if err != nil || !slices.Equal(ug.Roles, []string{"c", "m", "w"}) {
		t.Fatalf("UserGet amy: %v %v", ug, err)
	}
	if _, err := e.s.UserGet("nobody"); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("UserGet nobody: %v", err)
	}
	rg, err := e.s.RoleGet("c")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range rg.Perm {
		got = append(got, p.PermType.String()+" "+string(p.Key)+" "+string(p.RangeEnd))
	}
	want := []string{"READ  \x00", "WRITE k1 ", "READ k1 k3", "READ k2 "}
	if !slices.Equal(got, want) {
		t.Fatalf("RoleGet c: %q, want %q", got, want)
	}
	if _, err := e.s.RoleGet("nosuch"); !errors.Is(err, ErrRoleNotFound) {
		t.Fatalf("RoleGet nosuch: %v", err)
	}
	resp := e.must(&pb.InternalRaftRequest{AuthUserList: &pb.AuthUserListRequest{}}).(*pb.AuthUserListResponse)
	if !slices.Equal(resp.Users, []string{"Bob", "amy", "zed"}) {
		t.Fatalf("UserList entry %q", resp.Users)
	}
	st := e.must(statusReq).(*pb.AuthStatusResponse)
	if st.Enabled || st.AuthRevision != e.s.Revision() {
		t.Fatalf("AuthStatus %v", st)
	}
}

// TestLoadRoundTrip reloads a store from its records, in a new Store and
// over one holding other state, and compares every read.
func TestLoadRoundTrip(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(userAdd("u", e.hash("pw")))
	e.must(userAddNoPassword("np"))
	e.must(roleAdd("r"))
	e.must(grantPerm("r", authpb.Permission_READWRITE, "a", "b"))
	e.must(grantRole("u", "r"))
	e.withRoot()
	e.must(authenticate("u", "tok-u"))

	fresh, err := NewStore(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Load(e.db); err != nil {
		t.Fatal(err)
	}
	same := func(a, b *Store) {
		t.Helper()
		if a.Enabled() != b.Enabled() || a.Revision() != b.Revision() {
			t.Fatalf("enabled/revision %v/%d vs %v/%d", a.Enabled(), a.Revision(), b.Enabled(), b.Revision())
		}
		if !slices.Equal(a.UserList().Users, b.UserList().Users) || !slices.Equal(a.RoleList().Roles, b.RoleList().Roles) {
			t.Fatalf("lists differ")
		}
		for _, u := range a.UserList().Users {
			x, _ := a.UserGet(u)
			y, _ := b.UserGet(u)
			if !slices.Equal(x.Roles, y.Roles) {
				t.Fatalf("user %s roles %q vs %q", u, x.Roles, y.Roles)
			}
		}
		x, _ := a.RoleGet("r")
		y, _ := b.RoleGet("r")
		if len(x.Perm) != 1 || len(y.Perm) != 1 || x.Perm[0].String() != y.Perm[0].String() {
			t.Fatalf("role r %v vs %v", x.Perm, y.Perm)
		}
	}
	same(e.s, fresh)
	if fresh.Revision() != 8 || !fresh.Enabled() {
		t.Fatalf("loaded revision %d enabled %v", fresh.Revision(), fresh.Enabled())
	}
	if _, err := fresh.CheckPassword("u", "pw"); err != nil {
		t.Fatalf("loaded hash: %v", err)
	}
	if _, err := fresh.CheckPassword("np", ""); !errors.Is(err, ErrNoPasswordUser) {
		t.Fatalf("loaded no_password: %v", err)
	}
	// Load over the live store (a snapshot install) keeps the state and
	// the tokens of users that still exist.
	ch := e.s.Changed()
	if err := e.s.Load(e.db); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Load did not signal Changed")
	}
	if ai, ok := e.s.tokenInfo("tok-u"); !ok || ai.Username != "u" {
		t.Fatalf("token after Load: %v %v", ai, ok)
	}
	// An empty engine loads as a new cluster: revision 1, disabled.
	empty := newEnv(t, Config{})
	if err := e.s.Load(empty.db); err != nil {
		t.Fatal(err)
	}
	if e.s.Revision() != 1 || e.s.Enabled() || len(e.s.UserList().Users) != 0 {
		t.Fatalf("after loading an empty engine: rev %d enabled %v users %q", e.s.Revision(), e.s.Enabled(), e.s.UserList().Users)
	}
	if _, ok := e.s.tokenInfo("tok-u"); ok {
		t.Fatal("token survived a Load where auth is disabled")
	}
}

// TestAuthenticateRevision: an Authenticate checked at an older revision
// (header revision, no user) is refused; a caller's token revision in the
// header is not the password check's and is ignored.
func TestAuthenticateRevision(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(userAdd("u", e.hash("pw")))
	e.withRoot()
	checked, err := e.s.CheckPassword("u", "pw")
	if err != nil {
		t.Fatal(err)
	}
	e.must(changePassword("u", e.hash("new")))
	r := authenticate("u", "t1")
	r.Header = &pb.RequestHeader{AuthRevision: checked}
	if _, err := e.apply("", r); !errors.Is(err, ErrAuthOldRevision) {
		t.Fatalf("stale check: %v", err)
	}
	r = authenticate("u", "t2")
	r.Header = &pb.RequestHeader{Username: "u", AuthRevision: checked}
	if _, err := e.apply("", r); err != nil {
		t.Fatalf("caller's old token revision: %v", err)
	}
	r = authenticate("u", "t3")
	r.Header = &pb.RequestHeader{AuthRevision: e.s.Revision()}
	if _, err := e.apply("", r); err != nil {
		t.Fatalf("current check: %v", err)
	}
}
