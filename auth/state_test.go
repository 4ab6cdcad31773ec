package auth

import (
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	"google.golang.org/protobuf/proto"
)

// TestStateRoundTrip: ReadState of a store's records, written by
// WriteState into an empty engine (a snapshot restore), loads as the same
// store: flag, revision, users with their hashes, roles with permissions.
func TestStateRoundTrip(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(userAdd("u", e.hash("pw")))
	e.must(roleAdd("r"))
	e.must(grantPerm("r", authpb.Permission_READ, "a", "b"))
	e.must(grantRole("u", "r"))
	e.withRoot()
	st, err := ReadState(e.db)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Enabled || st.Revision != e.s.Revision() || len(st.Users) != 2 || len(st.Roles) != 1 {
		t.Fatalf("read %+v, store at revision %d", st, e.s.Revision())
	}

	to := newEnv(t, Config{})
	b := to.db.NewBatch()
	if err := WriteState(b, st); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	back, err := ReadState(to.db)
	if err != nil {
		t.Fatal(err)
	}
	if back.Enabled != st.Enabled || back.Revision != st.Revision || len(back.Users) != len(st.Users) || len(back.Roles) != len(st.Roles) {
		t.Fatalf("wrote %+v, read back %+v", st, back)
	}
	for i := range st.Users {
		if !proto.Equal(st.Users[i], back.Users[i]) {
			t.Errorf("user %d: wrote %v, read %v", i, st.Users[i], back.Users[i])
		}
	}
	for i := range st.Roles {
		if !proto.Equal(st.Roles[i], back.Roles[i]) {
			t.Errorf("role %d: wrote %v, read %v", i, st.Roles[i], back.Roles[i])
		}
	}
	if err := to.s.Load(to.db); err != nil {
		t.Fatal(err)
	}
	if _, err := to.s.CheckPassword("u", "pw"); err != nil {
		t.Errorf("password after WriteState: %v", err)
	}
	if err := to.s.IsRangePermitted(&AuthInfo{Username: "u", Revision: to.s.Revision()}, []byte("a"), nil); err != nil {
		t.Errorf("u reads a after WriteState: %v", err)
	}

	if err := WriteState(to.db.NewBatch(), State{Users: []*authpb.User{{}}}); !errors.Is(err, ErrUserEmpty) {
		t.Errorf("nameless user: %v, want ErrUserEmpty", err)
	}
	if err := WriteState(to.db.NewBatch(), State{Roles: []*authpb.Role{{}}}); !errors.Is(err, ErrRoleEmpty) {
		t.Errorf("nameless role: %v, want ErrRoleEmpty", err)
	}
}
