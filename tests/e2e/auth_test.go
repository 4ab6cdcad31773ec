package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/concord-kv/concord/tests/concordtest"
)

// TestAuthAllowedDenied: with auth enabled, user u reads and writes under
// its prefix and is refused elsewhere with etcd's errors; an anonymous
// client and a wrong password are refused; root may do all; after
// AuthDisable anyone may write again.
func TestAuthAllowedDenied(t *testing.T) {
	c := newCluster(t, 1)
	anon := c.Client(t)
	root, user := authSetup(t, c, anon)
	ctx := ctxT(t)

	if _, err := user.Put(ctx, "/ok/a", "1"); err != nil {
		t.Fatalf("u put /ok/a: %v", err)
	}
	if r, err := user.Get(ctx, "/ok/", clientv3.WithPrefix()); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("u get /ok/: %v %v", r, err)
	}
	for name, op := range map[string]func() error{
		"put":        func() error { _, err := user.Put(ctx, "/no/a", "1"); return err },
		"get":        func() error { _, err := user.Get(ctx, "/no/a"); return err },
		"get prefix": func() error { _, err := user.Get(ctx, "/", clientv3.WithPrefix()); return err },
		"delete":     func() error { _, err := user.Delete(ctx, "/no/a"); return err },
		"put prev_kv of a write-only key": func() error {
			_, err := root.RoleAdd(ctx, "w")
			if err == nil {
				_, err = root.RoleGrantPermission(ctx, "w", "/w/", clientv3.GetPrefixRangeEnd("/w/"), clientv3.PermissionType(authpb.WRITE))
			}
			if err == nil {
				_, err = root.UserGrantRole(ctx, "u", "w")
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = user.Put(ctx, "/w/a", "1", clientv3.WithPrevKV())
			return err
		},
		"txn else branch": func() error {
			_, err := user.Txn(ctx).If(clientv3.Compare(clientv3.Version("/ok/a"), ">", 0)).
				Then(clientv3.OpGet("/ok/a")).Else(clientv3.OpPut("/no/b", "1")).Commit()
			return err
		},
		"compact": func() error { _, err := user.Compact(ctx, 1); return err },
	} {
		if err := op(); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("u %s: %v, want %v", name, err, rpctypes.ErrPermissionDenied)
		}
	}
	if _, err := user.Put(ctx, "/w/b", "1"); err != nil {
		t.Errorf("u put /w/b (write granted): %v", err)
	}
	// the Lock service acts as u with u's token
	lockRPC(t, user, "/ok/lock")
	if _, err := anon.Put(ctx, "/ok/a", "1"); !errors.Is(err, rpctypes.ErrUserEmpty) {
		t.Errorf("anonymous put: %v, want %v", err, rpctypes.ErrUserEmpty)
	}
	if _, err := anon.Authenticate(ctx, "u", "wrong"); !errors.Is(err, rpctypes.ErrAuthFailed) {
		t.Errorf("wrong password: %v, want %v", err, rpctypes.ErrAuthFailed)
	}
	if _, err := root.Put(ctx, "/no/a", "1"); err != nil {
		t.Errorf("root put: %v", err)
	}
	if _, err := root.AuthDisable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Put(ctx, "/no/a", "2"); err != nil {
		t.Errorf("anonymous put after auth disable: %v", err)
	}
}

// TestAuthTokenAcrossLeaderKill: a Go client logged in with Username and
// Password keeps working when the leader is killed: the token, committed
// through raft, is known to the other members, and where it is not the
// client renews it.
func TestAuthTokenAcrossLeaderKill(t *testing.T) {
	c := newCluster(t, 3)
	waitPublished(t, c)
	leader := c.Leader(t)
	_, user := authSetup(t, c, c.Client(t))
	ctx := ctxT(t)
	if _, err := user.Put(ctx, "/ok/before", "1"); err != nil {
		t.Fatal(err)
	}
	leader.Kill()
	for i, key := range []string{"/ok/after1", "/ok/after2", "/ok/after3"} {
		retryOp(t, "put after the leader kill", func(ctx context.Context) error {
			_, err := user.Put(ctx, key, "1")
			return err
		})
		if i == 0 {
			leader.Restart(t)
		}
	}
	r, err := user.Get(ctx, "/ok/", clientv3.WithPrefix())
	if err != nil || len(r.Kvs) != 4 {
		t.Fatalf("u get /ok/ after the leader change: %v %v", r, err)
	}
}

// TestAuthWatchCanceledOnRevoke: a watch of u's is canceled as soon as u
// loses read permission on its range: the server sends a canceled
// response with etcd's permission-denied reason (seen on a raw stream),
// and the Go client closes the watch channel; before, the watch sees
// events; a new watch is refused at once.
func TestAuthWatchCanceledOnRevoke(t *testing.T) {
	c := newCluster(t, 1)
	root, user := authSetup(t, c, c.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wch := user.Watch(ctx, "/ok/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	if r := <-wch; !r.Created {
		t.Fatalf("first watch response: %+v", r)
	}
	conn := dialRaw(t, c.Members[0])
	raw, err := pb.NewWatchClient(conn).Watch(metadata.AppendToOutgoingContext(ctx, "token", tokenOf(t, conn, "u", "upw")))
	if err != nil {
		t.Fatal(err)
	}
	create := &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte("/ok/"), RangeEnd: []byte(clientv3.GetPrefixRangeEnd("/ok/"))}}}
	if err := raw.Send(create); err != nil {
		t.Fatal(err)
	}
	created, err := raw.Recv()
	if err != nil || !created.Created || created.Canceled {
		t.Fatalf("raw watch create: %v %v", created, err)
	}
	if _, err := root.Put(ctx, "/ok/a", "1"); err != nil {
		t.Fatal(err)
	}
	if r := <-wch; len(r.Events) != 1 {
		t.Fatalf("watch event: %+v %v", r, r.Err())
	}
	if r, err := raw.Recv(); err != nil || len(r.Events) != 1 {
		t.Fatalf("raw watch event: %v %v", r, err)
	}
	if _, err := root.RoleRevokePermission(ctx, "r", "/ok/", clientv3.GetPrefixRangeEnd("/ok/")); err != nil {
		t.Fatal(err)
	}
	r, err := raw.Recv()
	if err != nil || !r.Canceled || r.WatchId != created.WatchId || r.CancelReason != watchDeniedText {
		t.Fatalf("raw watch after revoke: %v %v, want canceled with %q", r, err, watchDeniedText)
	}
	for r := range wch {
		if len(r.Events) > 0 {
			t.Fatalf("event after revoke: %+v", r)
		}
	}
	wch2 := user.Watch(ctx, "/ok/", clientv3.WithPrefix())
	if r := <-wch2; !r.Canceled || r.Err() == nil || !strings.Contains(r.Err().Error(), deniedText) {
		t.Fatalf("new watch after revoke: %+v %v", r, r.Err())
	}
}

// TestAuthLeaseRevokeDenied: u may revoke its own lease but not one with a
// key it may not write attached; root may.
func TestAuthLeaseRevokeDenied(t *testing.T) {
	c := newCluster(t, 1)
	root, user := authSetup(t, c, c.Client(t))
	ctx := ctxT(t)
	theirs, err := root.Grant(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Put(ctx, "/no/k", "v", clientv3.WithLease(theirs.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Revoke(ctx, theirs.ID); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("u revokes root's lease: %v, want %v", err, rpctypes.ErrPermissionDenied)
	}
	if _, err := user.Put(ctx, "/ok/k", "v", clientv3.WithLease(theirs.ID)); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("u attaches to root's lease: %v, want %v", err, rpctypes.ErrPermissionDenied)
	}
	mine, err := user.Grant(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.Put(ctx, "/ok/k", "v", clientv3.WithLease(mine.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Revoke(ctx, mine.ID); err != nil {
		t.Fatalf("u revokes its own lease: %v", err)
	}
	if _, err := root.Revoke(ctx, theirs.ID); err != nil {
		t.Fatalf("root revokes: %v", err)
	}
	if r, err := root.Get(ctx, "/", clientv3.WithPrefix()); err != nil || len(r.Kvs) != 0 {
		t.Fatalf("keys left after the revokes: %v %v", r, err)
	}
}

// TestAuthGateway: the JSON gateway's /v3/auth/authenticate returns a
// token that, in the Authorization header, lets /v3/kv/put write u's keys
// and is refused elsewhere; without it the request has no user. The
// failed authentication is counted and the auth revision exported.
func TestAuthGateway(t *testing.T) {
	c := newCluster(t, 1)
	authSetup(t, c, c.Client(t))
	base := c.Members[0].ClientURL
	post := func(path, body string, header ...string) curlResult {
		t.Helper()
		args := []string{"-X", "POST", "-d", body}
		for _, h := range header {
			args = append(args, "-H", h)
		}
		r, err := curl(t, base+path, args...)
		if err != nil {
			t.Fatalf("curl %s: %v", path, err)
		}
		return r
	}
	r := post("/v3/auth/authenticate", `{"name":"u","password":"upw"}`)
	var auth struct{ Token string }
	if err := json.Unmarshal([]byte(r.body), &auth); err != nil || r.code != "200" || auth.Token == "" {
		t.Fatalf("authenticate: %s %s (%v)", r.code, r.body, err)
	}
	// key "/ok/a" and value "1", base64
	if r := post("/v3/kv/put", `{"key":"L29rL2E=","value":"MQ=="}`, "Authorization: "+auth.Token); r.code != "200" || !strings.Contains(r.body, `"revision"`) {
		t.Fatalf("put /ok/a with the token: %s %s", r.code, r.body)
	}
	// key "/no/a"
	if r := post("/v3/kv/put", `{"key":"L25vL2E=","value":"MQ=="}`, "Authorization: "+auth.Token); !strings.Contains(r.body, `"etcdserver: permission denied"`) {
		t.Fatalf("put /no/a with the token: %s %s", r.code, r.body)
	}
	if r := post("/v3/kv/put", `{"key":"L29rL2E=","value":"MQ=="}`); !strings.Contains(r.body, `"etcdserver: user name is empty"`) {
		t.Fatalf("put without a token: %s %s", r.code, r.body)
	}
	if r := post("/v3/kv/put", `{"key":"L29rL2E=","value":"MQ=="}`, "Authorization: bogus"); !strings.Contains(r.body, `"etcdserver: invalid auth token"`) {
		t.Fatalf("put with a bad token: %s %s", r.code, r.body)
	}
	if r := post("/v3/auth/authenticate", `{"name":"u","password":"wrong"}`); !strings.Contains(r.body, authFailedText) {
		t.Fatalf("wrong password: %s %s", r.code, r.body)
	}
	if r := post("/v3/auth/user/list", `{}`, "Authorization: "+auth.Token); !strings.Contains(r.body, deniedText) {
		t.Fatalf("user list as u: %s %s", r.code, r.body)
	}
	m, err := curl(t, base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nconcord_auth_authenticate_failures_total 1\n", "\netcd_debugging_auth_revision "} {
		if !strings.Contains(m.body, want) {
			t.Errorf("/metrics has no %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(m.body, "\netcd_debugging_auth_revision 1\n") {
		t.Errorf("etcd_debugging_auth_revision did not move with the auth changes")
	}
}

// TestAuthBadJWTOption: a --auth-token naming a JWT key file that does not
// exist stops the start with exit status 1 and says why.
func TestAuthBadJWTOption(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(concordtest.Binary(t), "--data-dir="+filepath.Join(dir, "d"),
		"--listen-client-urls=http://"+concordtest.FreeAddr(t, "127.0.0.1"), "--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://"+concordtest.FreeAddr(t, "127.0.0.1"),
		"--auth-token=jwt,pub-key="+filepath.Join(dir, "none.pub")+",priv-key="+filepath.Join(dir, "none.key")+",sign-method=RS256")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "--auth-token") {
		t.Fatalf("the error does not name --auth-token:\n%s", out.String())
	}
}

// TestAuthKeepAliveAcrossAuthChange: u's lease keep-alive stream keeps
// renewing after an auth change that does not concern u (the stream
// checks each request with the caller as it is then, not as it was when
// the stream opened).
func TestAuthKeepAliveAcrossAuthChange(t *testing.T) {
	c := newCluster(t, 1)
	root, user := authSetup(t, c, c.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := user.Grant(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.Put(ctx, "/ok/ka", "v", clientv3.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
	ka, err := user.KeepAlive(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := <-ka; r == nil {
		t.Fatal("no first keep-alive response")
	}
	if _, err := root.UserAdd(ctx, "other", "pw"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // renewals every second (TTL/3) after the change
		if r := <-ka; r == nil || r.TTL <= 0 {
			t.Fatalf("keep-alive after the auth change: %+v", r)
		}
	}
	if r, err := user.Get(ctx, "/ok/ka"); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("the lease's key: %v %v", r, err)
	}
}
