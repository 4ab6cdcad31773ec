package auth

import (
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
)

// TestPermissionChecks checks etcd's rules for the Is*Permitted checks:
// single keys, ranges, prefixes, "\x00" (to the end), ranges covered only
// by the union of several permissions and roles, read vs write, the root
// role, and the user and revision errors.
func TestPermissionChecks(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(userAdd("u", e.hash("pw")))
	e.must(roleAdd("r1"))
	e.must(roleAdd("r2"))
	e.must(grantPerm("r1", authpb.Permission_READ, "k", ""))          // the key k
	e.must(grantPerm("r1", authpb.Permission_READWRITE, "p/", "p0"))  // prefix p/
	e.must(grantPerm("r1", authpb.Permission_READ, "m", "n"))         // [m, n)
	e.must(grantPerm("r2", authpb.Permission_READ, "n", "o"))         // [n, o): with r1, [m, o)
	e.must(grantPerm("r2", authpb.Permission_WRITE, "w", ""))         // write only
	e.must(grantPerm("r2", authpb.Permission_READWRITE, "z", "\x00")) // z to the end
	e.must(grantPerm("r2", authpb.Permission_READ, "inv", "a"))       // inverted: grants nothing
	e.must(grantRole("u", "r1"))
	e.must(grantRole("u", "r2"))
	e.must(userAdd("other", e.hash("pw")))
	// disabled: everything is allowed, even for nobody
	if err := e.s.IsPutPermitted(nil, []byte("x")); err != nil {
		t.Fatalf("disabled: %v", err)
	}
	e.withRoot()
	u := &AuthInfo{Username: "u", Revision: e.s.Revision()}
	root := &AuthInfo{Username: RootUser, Revision: e.s.Revision()}
	const R, W, D = "range", "put", "delete"
	cases := []struct {
		ai       *AuthInfo
		op       string
		key, end string
		err      error
	}{
		{u, R, "k", "", nil},
		{u, W, "k", "", ErrPermissionDenied},
		{u, R, "k", "k\x00", nil}, // [k, k\x00) is the key k alone
		{u, R, "k", "k\x00\x00", ErrPermissionDenied},
		{u, R, "ka", "", ErrPermissionDenied},
		{u, R, "p/", "p0", nil},
		{u, R, "p/a", "p/b", nil},
		{u, R, "p/x", "", nil},
		{u, W, "p/x", "", nil},
		{u, D, "p/", "p0", nil},
		{u, D, "p", "p0", ErrPermissionDenied},
		{u, R, "p/", "p1", ErrPermissionDenied},
		{u, R, "m", "o", nil}, // the union of r1 and r2
		{u, R, "m", "o\x00", ErrPermissionDenied},
		{u, R, "ma", "nb", nil},
		{u, R, "l", "n", ErrPermissionDenied},
		{u, W, "w", "", nil},
		{u, R, "w", "", ErrPermissionDenied},
		{u, R, "z", "\x00", nil},
		{u, D, "zzz", "\x00", nil},
		{u, R, "y", "\x00", ErrPermissionDenied},
		{u, R, "inv", "", ErrPermissionDenied},
		{u, R, "", "\x00", ErrPermissionDenied},
		{root, R, "", "\x00", nil},
		{root, D, "", "\x00", nil},
		{&AuthInfo{Username: "other", Revision: root.Revision}, R, "k", "", ErrPermissionDenied},
		{&AuthInfo{Username: "ghost", Revision: root.Revision}, R, "k", "", ErrPermissionDenied},
		{nil, R, "k", "", ErrUserEmpty},
		{&AuthInfo{}, R, "k", "", ErrUserEmpty},
		{&AuthInfo{Username: "u"}, R, "k", "", ErrUserEmpty}, // revision 0
		{&AuthInfo{Username: "u", Revision: root.Revision - 1}, R, "k", "", ErrAuthOldRevision},
		{&AuthInfo{Username: RootUser, Revision: root.Revision - 1}, R, "k", "", ErrAuthOldRevision},
		{&AuthInfo{Username: "u", Revision: root.Revision + 1}, R, "k", "", nil},
	}
	for i, c := range cases {
		var err error
		switch c.op {
		case R:
			err = e.s.IsRangePermitted(c.ai, []byte(c.key), []byte(c.end))
		case W:
			err = e.s.IsPutPermitted(c.ai, []byte(c.key))
		case D:
			err = e.s.IsDeleteRangePermitted(c.ai, []byte(c.key), []byte(c.end))
		}
		if !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
			t.Errorf("case %d: %v %s [%q, %q): %v, want %v", i, c.ai, c.op, c.key, c.end, err, c.err)
		}
	}

	// The cache follows changes: revoking a permission denies at once
	// (at the new revision).
	e.must(revokePerm("r1", "k", ""))
	u.Revision = e.s.Revision()
	if err := e.s.IsRangePermitted(u, []byte("k"), nil); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("after revoke: %v", err)
	}
	e.must(grantRole("u", RootRole))
	u.Revision = e.s.Revision()
	if err := e.s.IsPutPermitted(u, []byte("anything")); err != nil {
		t.Fatalf("after granting root: %v", err)
	}
}

func TestAdminPermitted(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(userAdd("u", e.hash("pw")))
	if err := e.s.IsAdminPermitted(nil); err != nil {
		t.Fatalf("disabled: %v", err)
	}
	e.withRoot()
	rev := e.s.Revision()
	for i, c := range []struct {
		ai  *AuthInfo
		err error
	}{
		{&AuthInfo{Username: RootUser, Revision: rev}, nil},
		{&AuthInfo{Username: "u", Revision: rev}, ErrPermissionDenied},
		{&AuthInfo{Username: "ghost", Revision: rev}, ErrUserNotFound},
		{&AuthInfo{Username: RootUser, Revision: rev - 1}, ErrAuthOldRevision},
		{&AuthInfo{}, ErrUserEmpty},
		{nil, ErrUserEmpty},
	} {
		if err := e.s.IsAdminPermitted(c.ai); !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
			t.Errorf("case %d %v: %v, want %v", i, c.ai, err, c.err)
		}
	}
}

func TestMergeIntervals(t *testing.T) {
	m := merge([]interval{
		{[]byte("c"), []byte("d")}, {[]byte("a"), []byte("b")}, {[]byte("b"), []byte("c")},
		{[]byte("x"), nil}, {[]byte("y"), []byte("z")}, {[]byte("f"), []byte("e")},
	})
	want := []string{"a-d", "x-∞"}
	if len(m) != len(want) {
		t.Fatalf("merged %q", m)
	}
	for i, iv := range m {
		end := string(iv.end)
		if iv.end == nil {
			end = "∞"
		}
		if got := string(iv.start) + "-" + end; got != want[i] {
			t.Fatalf("merged[%d] %s, want %s", i, got, want[i])
		}
	}
}
