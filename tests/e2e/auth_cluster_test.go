package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/concord-kv/concord/tests/concordtest"
)

// addRoot adds user root (password rootpw) with the root role.
func addRoot(t *testing.T, ctx context.Context, cli *clientv3.Client) {
	t.Helper()
	if _, err := cli.UserAdd(ctx, "root", "rootpw"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.RoleAdd(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
}

// toggleWriter puts keys under prefix until ctx ends, counting the puts
// acknowledged and the errors by text.
type toggleWriter struct {
	mu     sync.Mutex // guards acked and errs
	acked  int
	errs   map[string]int
	prefix string
}

func (w *toggleWriter) run(ctx context.Context, cli *clientv3.Client, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := 0; ctx.Err() == nil; i++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := cli.Put(pctx, fmt.Sprintf("%s%06d", w.prefix, i), "v")
		cancel()
		w.mu.Lock()
		if err == nil {
			w.acked++
		} else if ctx.Err() == nil {
			w.errs[err.Error()]++
		}
		w.mu.Unlock()
	}
}

func (w *toggleWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked
}

// TestAuthToggleUnderWritesKeepsMembersEqual enables and disables auth
// five times on 3 members while writers with root's credentials and
// writers without credentials put keys (etcd issue 14571: enabling auth
// under load made members diverge). The root writers keep writing through
// every toggle; anonymous writes succeed only while auth is off. At the
// end every member reports the same HashKV at the same revision, and the
// same keys.
func TestAuthToggleUnderWritesKeepsMembersEqual(t *testing.T) {
	o := clusterOptions("e2e-cluster")
	o.Username, o.Password = "root", "rootpw" // for settle's Status calls
	c := concordtest.StartOptions(t, 3, o)
	eps := c.Endpoints()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addRoot(t, ctx, c.Client(t))
	admin := authClient(t, eps, "root", "rootpw")

	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var writers []*toggleWriter
	for i, m := range c.Members {
		for _, anon := range []bool{false, true} {
			w := &toggleWriter{errs: map[string]int{}, prefix: fmt.Sprintf("/w/%d-root/", i)}
			cli := authClient(t, []string{m.ClientURL}, "root", "rootpw")
			if anon {
				w.prefix = fmt.Sprintf("/w/%d-anon/", i)
				cli = m.Client(t)
			}
			writers = append(writers, w)
			wg.Add(1)
			go w.run(wctx, cli, &wg)
		}
	}
	// progress waits until every root writer acknowledged more puts.
	progress := func(what string) {
		t.Helper()
		before := make([]int, len(writers))
		for i, w := range writers {
			before[i] = w.count()
		}
		waitCond(t, 30*time.Second, "root writers' progress "+what, func() bool {
			for i, w := range writers {
				if !strings.Contains(w.prefix, "-anon/") && w.count() < before[i]+20 {
					return false
				}
			}
			return true
		})
	}
	progress("before the first toggle")
	for i := range 5 {
		if _, err := admin.AuthEnable(ctx); err != nil {
			t.Fatalf("auth enable %d: %v", i, err)
		}
		progress(fmt.Sprintf("after enable %d", i))
		if _, err := admin.AuthDisable(ctx); err != nil {
			t.Fatalf("auth disable %d: %v", i, err)
		}
		progress(fmt.Sprintf("after disable %d", i))
	}
	if _, err := admin.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	wg.Wait()
	for _, w := range writers {
		t.Logf("%s: %d acknowledged, errors %v", w.prefix, w.count(), w.errs)
		for e := range w.errs {
			if strings.Contains(w.prefix, "-anon/") && !strings.Contains(e, rpctypes.ErrUserEmpty.Error()) {
				t.Errorf("%s: anonymous write failed with %q, want %q", w.prefix, e, rpctypes.ErrUserEmpty)
			}
		}
	}

	gr, err := admin.Get(ctx, "/w/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	rev := gr.Header.Revision
	settle(t, c.Members, rev)
	var hashes []string
	for _, m := range c.Members {
		h, err := admin.HashKV(ctx, m.ClientURL, rev)
		if err != nil {
			t.Fatalf("hashkv %s: %v", m.Name, err)
		}
		mc := authClient(t, []string{m.ClientURL}, "root", "rootpw")
		r, err := mc.Get(ctx, "/w/", clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithRev(rev), clientv3.WithSerializable())
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, fmt.Sprintf("hash %d compact %d keys %d", h.Hash, h.CompactRevision, len(r.Kvs)))
		st, err := mc.AuthStatus(ctx)
		if err != nil || !st.Enabled {
			t.Errorf("%s: auth status %+v %v", m.Name, st, err)
		}
	}
	for i := range hashes {
		if hashes[i] != hashes[0] {
			t.Fatalf("members diverged at revision %d: %v", rev, hashes)
		}
	}
	if gr.Count == 0 {
		t.Fatal("no keys written")
	}
}

// TestAuthSnapshotRestoreKeepsUsersAndRoles saves a snapshot of an
// auth-enabled 3-member cluster with concordctl (as root), restores it
// into a new 1-member cluster and authenticates there as the old user:
// the user's permissions, the roles and auth being on all came along.
func TestAuthSnapshotRestoreKeepsUsersAndRoles(t *testing.T) {
	old := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli := old.Client(t)
	addRoot(t, ctx, cli)
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "alice", "alicepw"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "ra"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "ra", "/alice/", clientv3.GetPrefixRangeEnd("/alice/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserGrantRole(ctx, "alice", "ra"); return err },
		func() error { _, err := cli.Put(ctx, "/alice/a", "1"); return err },
		func() error { _, err := cli.Put(ctx, "/bob/b", "2"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "auth.snap")
	src := old.Members[0]
	if out, errOut, code := concordctl(t, "--endpoints="+src.ClientURL, "snapshot", "save", file); code == 0 ||
		!strings.Contains(errOut, rpctypes.ErrUserEmpty.Error()) {
		t.Errorf("snapshot save without credentials: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := concordctl(t, "--endpoints="+src.ClientURL, "--user=alice:alicepw", "snapshot", "save", file); code == 0 ||
		!strings.Contains(errOut, rpctypes.ErrPermissionDenied.Error()) {
		t.Errorf("snapshot save as alice: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := concordctl(t, "--endpoints="+src.ClientURL, "--user=root:rootpw", "snapshot", "save", file); code != 0 {
		t.Fatalf("snapshot save as root: exit %d\n%s%s", code, out, errOut)
	}
	old.Stop()

	o := clusterOptions("auth-restored")
	o.NamePrefix = "r"
	o.Username, o.Password = "root", "rootpw" // auth is on from the start
	nc := concordtest.New(t, 1, o)
	m := nc.Members[0]
	if out, errOut, code := concordctl(t, "snapshot", "restore", file, "--data-dir", m.DataDir, "--name", m.Name,
		"--initial-cluster", nc.InitialCluster(), "--initial-cluster-token", "auth-restored",
		"--initial-advertise-peer-urls", m.PeerURL); code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	nc.Launch(t)

	alice := authClient(t, nc.Endpoints(), "alice", "alicepw")
	if r, err := alice.Get(ctx, "/alice/a"); err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "1" {
		t.Fatalf("alice reads /alice/a after restore: %v %v", r, err)
	}
	if _, err := alice.Put(ctx, "/alice/b", "x"); err != nil {
		t.Fatalf("alice writes /alice/b: %v", err)
	}
	if _, err := alice.Get(ctx, "/bob/b"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("alice reads /bob/b: %v, want %v", err, rpctypes.ErrPermissionDenied)
	}
	if _, err := nc.Client(t).Get(ctx, "/alice/a"); !errors.Is(err, rpctypes.ErrUserEmpty) {
		t.Fatalf("anonymous get after restore: %v, want %v", err, rpctypes.ErrUserEmpty)
	}
	bad, err := clientv3.New(clientv3.Config{Endpoints: nc.Endpoints(), Username: "alice", Password: "wrong", Logger: zap.NewNop()})
	if err == nil {
		_, err = bad.Get(ctx, "/alice/a")
		_ = bad.Close()
	}
	if !errors.Is(err, rpctypes.ErrAuthFailed) {
		t.Fatalf("wrong password after restore: %v, want %v", err, rpctypes.ErrAuthFailed)
	}
	root := authClient(t, nc.Endpoints(), "root", "rootpw")
	users, err := root.UserList(ctx)
	if err != nil || strings.Join(users.Users, ",") != "alice,root" {
		t.Fatalf("users after restore: %v %v", users, err)
	}
	roles, err := root.RoleList(ctx)
	if err != nil || strings.Join(roles.Roles, ",") != "ra,root" {
		t.Fatalf("roles after restore: %v %v", roles, err)
	}
	rg, err := root.RoleGet(ctx, "ra")
	if err != nil || len(rg.Perm) != 1 || string(rg.Perm[0].Key) != "/alice/" || string(rg.Perm[0].RangeEnd) != "/alice0" ||
		rg.Perm[0].PermType != clientv3.PermReadWrite {
		t.Fatalf("role ra after restore: %v %v", rg, err)
	}
	st, err := root.AuthStatus(ctx)
	if err != nil || !st.Enabled {
		t.Fatalf("auth status after restore: %+v %v", st, err)
	}
}

// TestAuthTokenUsableOnEveryMemberAtOnce: a simple token handed out by one
// member is accepted at once by the others, even before they applied the
// Authenticate entry. etcdctl 3.4 authenticates on its first endpoint and
// then opens a watch on whichever endpoint its balancer picks
// (TestAuthEtcdctlSideBySide's watch); etcd 3.4 serves a linearizable
// Range there since it looks the token up after the ReadIndex wait. Each
// round authenticates on one member and at once sends a linearizable
// Range to a second and a watch to the third; every one must be served.
// (A member that does not know a token yet can wait for its applied index
// to reach the commit index, as a linearizable read does, before it
// refuses the token.)
func TestAuthTokenUsableOnEveryMemberAtOnce(t *testing.T) {
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addRoot(t, ctx, c.Client(t))
	if _, err := c.Client(t).AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	conns := make([]*grpc.ClientConn, len(c.Members))
	for i, m := range c.Members {
		conns[i] = dialRaw(t, m)
	}
	refused := 0
	for round := range 30 {
		a, r, w := round%3, (round+1)%3, (round+2)%3
		ar, err := pb.NewAuthClient(conns[a]).Authenticate(ctx, &pb.AuthenticateRequest{Name: "root", Password: "rootpw"})
		if err != nil {
			t.Fatal(err)
		}
		tctx, tcancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, ar.Token))
		ws, werr := pb.NewWatchClient(conns[w]).Watch(tctx)
		if werr == nil {
			// A stream the server ended reports why on Recv, not on Send.
			_ = ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{
				CreateRequest: &pb.WatchCreateRequest{Key: []byte("k")}}})
		}
		_, rerr := pb.NewKVClient(conns[r]).Range(tctx, &pb.RangeRequest{Key: []byte("k")})
		if rerr != nil {
			refused++
			t.Errorf("round %d: range on %s with a token from %s: %v", round, c.Members[r].Name, c.Members[a].Name, rerr)
		}
		if werr == nil {
			var wr *pb.WatchResponse
			if wr, werr = ws.Recv(); werr == nil && (!wr.Created || wr.Canceled) {
				werr = errors.New(wr.CancelReason)
			}
		}
		if werr != nil {
			refused++
			t.Errorf("round %d: watch on %s with a token from %s: %v", round, c.Members[w].Name, c.Members[a].Name, werr)
		}
		tcancel()
	}
	if refused > 0 {
		t.Errorf("%d of 60 requests refused a fresh token", refused)
	}
}
