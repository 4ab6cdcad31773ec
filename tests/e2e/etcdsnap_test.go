package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/concord-kv/concord/tests/concordtest"
)

// This file proves the etcd snapshot format both ways with etcd's own
// tools: Concord → etcdctl snapshot save → etcdctl snapshot restore →
// etcd, and etcd → etcdctl snapshot save → concordctl snapshot restore →
// Concord, comparing full `get -w json` dumps (headers left out).

// dumpAt is `etcdctl get "" --prefix -w json` at rev (0: current) on ep,
// without the response header: the kvs (base64 keys and values, create and
// mod revisions, versions, leases) and count.
func dumpAt(t *testing.T, ep string, rev int64) string {
	t.Helper()
	args := []string{"get", "", "--prefix", "-w", "json"}
	if rev > 0 {
		args = append(args, "--rev="+strconv.FormatInt(rev, 10))
	}
	out, err := etcdctl(t, []string{ep}, "", args...)
	if err != nil {
		return "error: " + lastLine(out)
	}
	var resp map[string]any
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("get -w json on %s: %v\n%s", ep, err, out)
	}
	delete(resp, "header")
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// checkDumps fails unless ep's dumps at comp-1 and comp are what the
// comparisons need: compacted, and keys.
func checkDumps(t *testing.T, ep string, comp int64) {
	t.Helper()
	if d := dumpAt(t, ep, comp-1); !strings.Contains(d, "compacted") {
		t.Errorf("dump at %d: %s, want compacted", comp-1, d)
	}
	if d := dumpAt(t, ep, comp); !strings.Contains(d, `"kvs":[{`) {
		t.Errorf("dump at %d: %s, want keys", comp, d)
	}
}

// leaseDump lists ep's leases with their granted TTL and attached keys.
func leaseDump(t *testing.T, ep string) []string {
	t.Helper()
	cli := authClient(t, []string{ep}, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ls, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls.Leases {
		ttl, err := cli.TimeToLive(ctx, l.ID, clientv3.WithAttachedKeys())
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]string, len(ttl.Keys))
		for i, k := range ttl.Keys {
			keys[i] = string(k)
		}
		sort.Strings(keys)
		out = append(out, fmt.Sprintf("%x ttl=%d keys=%v", l.ID, ttl.GrantedTTL, keys))
	}
	sort.Strings(out)
	return out
}

// writeHistory gives cli's cluster keys, overwrites, deletes, leases with
// keys, a compaction and writes after it; it returns the compacted and the
// current revision.
func writeHistory(t *testing.T, cli *clientv3.Client) (compacted, current int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	put := func(k, v string, opts ...clientv3.OpOption) int64 {
		r, err := cli.Put(ctx, k, v, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return r.Header.Revision
	}
	for i := 0; i < 30; i++ {
		put(fmt.Sprintf("/k/%02d", i), fmt.Sprintf("v%d", i))
	}
	for i := 0; i < 30; i += 3 {
		put(fmt.Sprintf("/k/%02d", i), fmt.Sprintf("w%d", i))
	}
	if _, err := cli.Delete(ctx, "/k/1", clientv3.WithPrefix()); err != nil { // /k/10../k/19 in one revision
		t.Fatal(err)
	}
	l1, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := cli.Grant(ctx, 7200)
	if err != nil {
		t.Fatal(err)
	}
	put("/leased/a", "a", clientv3.WithLease(l1.ID))
	put("/leased/b", "b", clientv3.WithLease(l1.ID))
	put("/leased/c", "c", clientv3.WithLease(l2.ID))
	put("/k/00", "x0")
	if _, err := cli.Delete(ctx, "/k/05"); err != nil {
		t.Fatal(err)
	}
	compacted = put("/k/20", "x20")
	if _, err := cli.Delete(ctx, "/k/21"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, compacted); err != nil {
		t.Fatal(err)
	}
	put("/k/00", "y0")
	put("/k/10", "back") // recreated after its deletion
	if _, err := cli.Delete(ctx, "/k/22"); err != nil {
		t.Fatal(err)
	}
	current = put("/k/23", "")
	return compacted, current
}

// TestEtcdSnapshotFromConcordIntoEtcd: Concord → etcdctl 3.4 snapshot
// save → etcdctl snapshot status and restore → etcd 3.4 started on the
// restored directory serves the same keys, values, create/mod revisions,
// versions, history above the compaction and leases.
func TestEtcdSnapshotFromConcordIntoEtcd(t *testing.T) {
	c := newCluster(t, 1)
	src := c.Members[0]
	comp, cur := writeHistory(t, src.Client(t))

	dir := t.TempDir()
	file := filepath.Join(dir, "concord.db")
	if out, err := etcdctl(t, []string{src.ClientURL}, "", "snapshot", "save", file); err != nil || !strings.Contains(out, "Snapshot saved at "+file) {
		t.Fatalf("etcdctl snapshot save: %v\n%s", err, out)
	}
	out, err := etcdctl(t, nil, "", "snapshot", "status", file, "-w", "json")
	if err != nil {
		t.Fatalf("etcdctl snapshot status: %v\n%s", err, out)
	}
	var st snapshotStatus
	if err := json.Unmarshal([]byte(lastLine(out)), &st); err != nil || st.Revision != cur {
		t.Errorf("etcdctl snapshot status: %+v (%v), want revision %d\n%s", st, err, cur, out)
	}

	peer := "http://" + concordtest.FreeAddr(t, "127.0.0.1")
	data := filepath.Join(dir, "etcd-data")
	if out, err := etcdctl(t, nil, "", "snapshot", "restore", file, "--name=e1", "--data-dir="+data,
		"--initial-cluster=e1="+peer, "--initial-advertise-peer-urls="+peer); err != nil {
		t.Fatalf("etcdctl snapshot restore: %v\n%s", err, out)
	}
	ep := startEtcdOn(t, "e1", data, peer)
	checkDumps(t, ep, comp)

	for rev := comp - 1; rev <= cur+1; rev++ {
		want, got := dumpAt(t, src.ClientURL, rev), dumpAt(t, ep, rev)
		if want != got {
			t.Errorf("at revision %d:\nconcord %s\netcd    %s", rev, want, got)
		}
	}
	if want, got := dumpAt(t, src.ClientURL, 0), dumpAt(t, ep, 0); want != got {
		t.Errorf("current:\nconcord %s\netcd    %s", want, got)
	}
	if want, got := leaseDump(t, src.ClientURL), leaseDump(t, ep); !reflect.DeepEqual(want, got) || len(want) != 2 {
		t.Errorf("leases:\nconcord %v\netcd    %v", want, got)
	}
	// etcd continues at the next revision.
	cli := authClient(t, []string{ep}, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if r, err := cli.Put(ctx, "/after", "x"); err != nil || r.Header.Revision != cur+1 {
		t.Errorf("put on etcd after restore: %v %v, want revision %d", r, err, cur+1)
	}
}

// TestEtcdSnapshotFromEtcdIntoConcord: etcd 3.4 with history → etcdctl
// snapshot save → concordctl snapshot status (etcdctl's hash and
// revision) → concordctl snapshot restore ×3 → a 3-member Concord serves
// everything at the same revisions, history above the compaction and
// leases, and continues at the next revision.
func TestEtcdSnapshotFromEtcdIntoConcord(t *testing.T) {
	ep := startEtcd(t)
	ecli := authClient(t, []string{ep}, "", "")
	comp, cur := writeHistory(t, ecli)
	uctx, ucancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ucancel()
	// Users and roles are not in the key space: no revision. Auth stays
	// off on etcd (snapshot save needs no credentials); it is enabled on
	// the restored Concord to prove the passwords came along.
	for _, step := range []func() error{
		func() error { _, err := ecli.UserAdd(uctx, "alice", "secret"); return err },
		func() error { _, err := ecli.UserAdd(uctx, "root", "rootpw"); return err },
		func() error { _, err := ecli.RoleAdd(uctx, "root"); return err },
		func() error { _, err := ecli.UserGrantRole(uctx, "root", "root"); return err },
		func() error { _, err := ecli.RoleAdd(uctx, "reader"); return err },
		func() error {
			_, err := ecli.RoleGrantPermission(uctx, "reader", "/", clientv3.GetPrefixRangeEnd("/"), clientv3.PermissionType(clientv3.PermRead))
			return err
		},
		func() error { _, err := ecli.UserGrantRole(uctx, "alice", "reader"); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "etcd.db")
	if out, err := etcdctl(t, []string{ep}, "", "snapshot", "save", file); err != nil {
		t.Fatalf("etcdctl snapshot save: %v\n%s", err, out)
	}
	out, err := etcdctl(t, nil, "", "snapshot", "status", file, "-w", "json")
	var est snapshotStatus
	if err != nil || json.Unmarshal([]byte(lastLine(out)), &est) != nil {
		t.Fatalf("etcdctl snapshot status: %v\n%s", err, out)
	}
	if st := statusOf(t, file); st.Hash != est.Hash || st.Revision != cur || st.TotalSize != est.TotalSize {
		t.Errorf("concordctl snapshot status %+v; etcdctl's %+v, revision %d", st, est, cur)
	}

	o := clusterOptions("from-etcd")
	o.NamePrefix = "c"
	nc := concordtest.New(t, 3, o)
	for _, m := range nc.Members {
		out, errOut, code := concordctl(t, "snapshot", "restore", file, "--data-dir", m.DataDir, "--name", m.Name,
			"--initial-cluster", nc.InitialCluster(), "--initial-cluster-token", "from-etcd",
			"--initial-advertise-peer-urls", m.PeerURL, "--bump-revision=0")
		if code != 0 {
			t.Fatalf("restore %s: exit %d\n%s%s", m.Name, code, out, errOut)
		}
	}
	nc.Launch(t)
	checkDumps(t, ep, comp)
	for _, m := range nc.Members {
		for rev := comp - 1; rev <= cur+1; rev++ {
			if want, got := dumpAt(t, ep, rev), dumpAt(t, m.ClientURL, rev); want != got {
				t.Errorf("%s at revision %d:\netcd    %s\nconcord %s", m.Name, rev, want, got)
			}
		}
		if want, got := dumpAt(t, ep, 0), dumpAt(t, m.ClientURL, 0); want != got {
			t.Errorf("%s current:\netcd    %s\nconcord %s", m.Name, want, got)
		}
	}
	if want, got := leaseDump(t, ep), leaseDump(t, nc.Members[2].ClientURL); !reflect.DeepEqual(want, got) || len(want) != 2 {
		t.Errorf("leases:\netcd    %v\nconcord %v", want, got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ccli := nc.Client(t)
	if r, err := ccli.Put(ctx, "/after", "x"); err != nil || r.Header.Revision != cur+1 {
		t.Errorf("put on Concord after restore: %v %v, want revision %d", r, err, cur+1)
	}
	for _, name := range []string{"alice", "root"} {
		want, err1 := ecli.UserGet(ctx, name)
		got, err2 := ccli.UserGet(ctx, name)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(want.Roles, got.Roles) {
			t.Errorf("user %s: etcd %v %v, concord %v %v", name, want, err1, got, err2)
		}
	}
	wantRole, err1 := ecli.RoleGet(ctx, "reader")
	gotRole, err2 := ccli.RoleGet(ctx, "reader")
	if err1 != nil || err2 != nil || fmt.Sprint(wantRole.Perm) != fmt.Sprint(gotRole.Perm) {
		t.Errorf("role reader: etcd %v %v, concord %v %v", wantRole, err1, gotRole, err2)
	}
	if _, err := ccli.AuthEnable(ctx); err != nil {
		t.Fatalf("auth enable on the restored Concord: %v", err)
	}
	alice := authClient(t, nc.Endpoints(), "alice", "secret")
	if _, err := alice.Get(ctx, "/after"); err != nil {
		t.Errorf("alice reads /after: %v", err)
	}
	if _, err := alice.Put(ctx, "/after", "y"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("alice writes /after: %v, want permission denied", err)
	}
}

// writeKubernetesLike writes a Kubernetes-shaped data set through cli: a
// few thousand /registry/<resource>/<namespace>/<name> keys with binary
// values ("k8s\x00" and protobuf-like bytes), written mostly in
// transactions of 100 as a busy apiserver's revisions are dense, events
// attached to a few leases (as the apiserver's --event-ttl), node leases
// renewed many times, deletions and a compaction. It returns the
// compacted revision.
func writeKubernetesLike(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rnd := rand.New(rand.NewPCG(9, 9))
	value := func(n int) string {
		b := make([]byte, 4+n)
		copy(b, "k8s\x00")
		for i := 4; i < len(b); i++ {
			b[i] = byte(rnd.IntN(256))
		}
		return string(b)
	}
	var leases []clientv3.LeaseID
	for i := 0; i < 4; i++ {
		l, err := cli.Grant(ctx, 3600)
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l.ID)
	}
	resources := []string{"pods", "services/specs", "configmaps", "secrets", "deployments", "replicasets", "serviceaccounts", "events"}
	var ops []clientv3.Op
	flush := func() {
		if len(ops) == 0 {
			return
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
		ops = ops[:0]
	}
	for i := 0; i < 3000; i++ {
		res := resources[i%len(resources)]
		k := fmt.Sprintf("/registry/%s/ns-%d/obj-%04d", res, i%7, i)
		var opts []clientv3.OpOption
		if res == "events" {
			opts = append(opts, clientv3.WithLease(leases[i%len(leases)]))
		}
		ops = append(ops, clientv3.OpPut(k, value(100+rnd.IntN(900)), opts...))
		if len(ops) == 100 {
			flush()
		}
	}
	flush()
	for round := 0; round < 20; round++ {
		for n := 0; n < 10; n++ {
			if _, err := cli.Put(ctx, fmt.Sprintf("/registry/leases/kube-node-lease/node-%d", n), value(60)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < 3000; i += 31 {
		if _, err := cli.Delete(ctx, fmt.Sprintf("/registry/pods/ns-%d/obj-%04d", i%7, i)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := cli.Put(ctx, "/registry/ranges/serviceips", value(40))
	if err != nil {
		t.Fatal(err)
	}
	comp := r.Header.Revision - 50
	if _, err := cli.Compact(ctx, comp); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3000; i += 17 {
		res := resources[i%len(resources)]
		if res == "events" || res == "pods" {
			continue
		}
		if _, err := cli.Put(ctx, fmt.Sprintf("/registry/%s/ns-%d/obj-%04d", res, i%7, i), value(200)); err != nil {
			t.Fatal(err)
		}
	}
	return comp
}

// TestEtcdSnapshotKubernetesBothWays: a Kubernetes-shaped data set goes
// etcd 3.4 → etcdctl snapshot save → concordctl snapshot restore →
// Concord → etcdctl snapshot save → etcdctl snapshot restore → etcd 3.4,
// and every step serves the same full dump (keys, values, revisions,
// versions, leases), now and at the compacted revision.
func TestEtcdSnapshotKubernetesBothWays(t *testing.T) {
	src := startEtcd(t)
	ecli := authClient(t, []string{src}, "", "")
	comp := writeKubernetesLike(t, ecli)
	want, wantComp, wantLeases := dumpAt(t, src, 0), dumpAt(t, src, comp), leaseDump(t, src)
	if !strings.Contains(wantComp, `"count":`) || len(wantLeases) != 4 {
		t.Fatalf("source etcd: dump at %d %.200s, leases %v", comp, wantComp, wantLeases)
	}
	dir := t.TempDir()

	// etcd → Concord.
	fromEtcd := filepath.Join(dir, "from-etcd.db")
	if out, err := etcdctl(t, []string{src}, "", "snapshot", "save", fromEtcd); err != nil {
		t.Fatalf("etcdctl snapshot save: %v\n%s", err, out)
	}
	c := concordtest.New(t, 1, clusterOptions("k8s"))
	m := c.Members[0]
	if out, errOut, code := concordctl(t, "snapshot", "restore", fromEtcd, "--data-dir", m.DataDir, "--name", m.Name,
		"--initial-cluster", c.InitialCluster(), "--initial-cluster-token", "k8s", "--initial-advertise-peer-urls", m.PeerURL, "--bump-revision=0"); code != 0 {
		t.Fatalf("concordctl snapshot restore: exit %d\n%s%s", code, out, errOut)
	}
	c.Launch(t)
	if got := dumpAt(t, m.ClientURL, 0); got != want {
		t.Errorf("Concord restored from etcd differs:\nconcord %.300s\netcd    %.300s", got, want)
	}
	if got := dumpAt(t, m.ClientURL, comp); got != wantComp {
		t.Errorf("Concord restored from etcd differs at revision %d", comp)
	}
	if got := leaseDump(t, m.ClientURL); !reflect.DeepEqual(got, wantLeases) {
		t.Errorf("Concord's leases %v, etcd's %v", got, wantLeases)
	}

	// Concord → etcd.
	fromConcord := filepath.Join(dir, "from-concord.db")
	if out, err := etcdctl(t, []string{m.ClientURL}, "", "snapshot", "save", fromConcord); err != nil {
		t.Fatalf("etcdctl snapshot save from Concord: %v\n%s", err, out)
	}
	peer := "http://" + concordtest.FreeAddr(t, "127.0.0.1")
	data := filepath.Join(dir, "etcd-again")
	if out, err := etcdctl(t, nil, "", "snapshot", "restore", fromConcord, "--name=e2", "--data-dir="+data,
		"--initial-cluster=e2="+peer, "--initial-advertise-peer-urls="+peer); err != nil {
		t.Fatalf("etcdctl snapshot restore: %v\n%s", err, out)
	}
	back := startEtcdOn(t, "e2", data, peer)
	if got := dumpAt(t, back, 0); got != want {
		t.Errorf("etcd restored from Concord differs:\netcd again %.300s\netcd       %.300s", got, want)
	}
	if got := dumpAt(t, back, comp); got != wantComp {
		t.Errorf("etcd restored from Concord differs at revision %d", comp)
	}
	if got := leaseDump(t, back); !reflect.DeepEqual(got, wantLeases) {
		t.Errorf("etcd-again's leases %v, etcd's %v", got, wantLeases)
	}
}
