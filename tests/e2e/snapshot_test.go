package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/concord-kv/concord/snapshot"
	"github.com/concord-kv/concord/tests/concordtest"
)

// concordctl runs concordctl (built once by concordtest) with args,
// returning stdout, stderr and the exit code.
func concordctl(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(concordtest.Build(t, "./cmd/concordctl"), args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("concordctl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// snapshotStatus is concordctl's (etcdutl's) snapshot status JSON.
type snapshotStatus struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
	Version   string `json:"version"`
}

func statusOf(t *testing.T, path string) snapshotStatus {
	t.Helper()
	out, errOut, code := concordctl(t, "-w", "json", "snapshot", "status", path)
	var st snapshotStatus
	if code != 0 {
		t.Fatalf("concordctl snapshot status %s: exit %d: %s", path, code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("snapshot status output %q: %v", out, err)
	}
	return st
}

// TestSnapshotSaveRestore saves a 3-member cluster with etcdctl 3.4 and
// with concordctl, checks both files with concordctl snapshot status,
// restores one into three new data dirs for a new cluster (new names, new
// URLs, new token), starts it and checks that every key and lease is there,
// that the revision was bumped by concordctl's default, and that a watch
// from a revision of the old cluster fails with "compacted" so watchers
// re-list.
func TestSnapshotSaveRestore(t *testing.T) {
	old := newCluster(t, 3)
	cli := old.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const nkeys = 40
	want := map[string]string{}
	for i := 0; i < nkeys; i++ {
		k, v := fmt.Sprintf("/registry/pods/ns/p%02d", i), fmt.Sprintf("v%d", i)
		if _, err := cli.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	for i := 0; i < nkeys; i += 4 { // overwrites
		k := fmt.Sprintf("/registry/pods/ns/p%02d", i)
		if _, err := cli.Put(ctx, k, "new-"+want[k]); err != nil {
			t.Fatal(err)
		}
		want[k] = "new-" + want[k]
	}
	if _, err := cli.Delete(ctx, "/registry/pods/ns/p01"); err != nil {
		t.Fatal(err)
	}
	delete(want, "/registry/pods/ns/p01")
	lg, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/leased", "x", clientv3.WithLease(lg.ID)); err != nil {
		t.Fatal(err)
	}
	want["/leased"] = "x"
	// A linearizable read on the member the snapshots are taken from:
	// it has applied every write above.
	src := old.Members[1]
	gr, err := src.Client(t).Get(ctx, "/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	oldRev := gr.Header.Revision
	if gr.Count != int64(len(want)) {
		t.Fatalf("old cluster has %d keys, want %d", gr.Count, len(want))
	}

	dir := t.TempDir()
	etcdctlFile := filepath.Join(dir, "etcdctl.snap")
	if out, err := etcdctl(t, []string{src.ClientURL}, "", "snapshot", "save", etcdctlFile); err != nil || !strings.Contains(out, "Snapshot saved at "+etcdctlFile) {
		t.Fatalf("etcdctl snapshot save: %v\n%s", err, out)
	}
	ctlFile := filepath.Join(dir, "concordctl.snap")
	if out, errOut, code := concordctl(t, "--endpoints="+src.ClientURL, "snapshot", "save", ctlFile); code != 0 || !strings.HasPrefix(out, "Snapshot saved at "+ctlFile+"\n") {
		t.Fatalf("concordctl snapshot save: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{etcdctlFile, ctlFile} {
		st := statusOf(t, f)
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		// An etcd file: its size less the sha256 trailer, the live keys.
		if st.Revision != oldRev || st.TotalSize != fi.Size()-32 || st.TotalKey != len(want) {
			t.Errorf("status of %s: %+v; want revision %d, size %d, %d keys", filepath.Base(f), st, oldRev, fi.Size()-32, len(want))
		}
		// etcdctl 3.4 hashes the same buckets the same way.
		out, err := etcdctl(t, nil, "", "snapshot", "status", f, "-w", "json")
		var est snapshotStatus
		if err != nil || json.Unmarshal([]byte(lastLine(out)), &est) != nil || est.Hash != st.Hash || est.Revision != st.Revision || est.TotalSize != st.TotalSize {
			t.Errorf("etcdctl snapshot status %s: %+v (%v), concordctl's %+v", filepath.Base(f), est, err, st)
		}
		info, err := snapshot.ReadInfo(f)
		if err != nil {
			t.Fatal(err)
		}
		if info.Keys != int64(len(want)) {
			t.Errorf("%s holds %d live keys, want %d", filepath.Base(f), info.Keys, len(want))
		}
	}
	// etcdctl 3.4's table has no VERSION column; concordctl's is etcdutl's.
	if out, _, code := concordctl(t, "-w", "table", "snapshot", "status", etcdctlFile); code != 0 || !regexp.MustCompile(`\|\s+HASH\s+\| REVISION \| TOTAL KEYS \| TOTAL SIZE \| VERSION \|`).MatchString(out) {
		t.Errorf("status table:\n%s", out)
	}
	// The old cluster stops: the new one reuses nothing of it but the file.
	old.Stop()

	// A new cluster: new names, URLs and token, each member's data dir
	// restored from the file etcdctl 3.4 saved.
	o := clusterOptions("restored-cluster")
	o.NamePrefix = "r"
	nc := concordtest.New(t, 3, o)
	for _, m := range nc.Members {
		out, errOut, code := concordctl(t, "snapshot", "restore", etcdctlFile, "--data-dir", m.DataDir, "--name", m.Name,
			"--initial-cluster", nc.InitialCluster(), "--initial-cluster-token", "restored-cluster",
			"--initial-advertise-peer-urls", m.PeerURL)
		if code != 0 {
			t.Fatalf("restore %s: exit %d\n%s%s", m.Name, code, out, errOut)
		}
	}
	// Restoring into a data dir that is in use is refused.
	if _, errOut, code := concordctl(t, "snapshot", "restore", etcdctlFile, "--data-dir", nc.Members[0].DataDir, "--name", "default"); code == 0 || !strings.Contains(errOut, "not empty") {
		t.Errorf("restore over a restored dir: exit %d: %s", code, errOut)
	}
	nc.Launch(t)

	newRev := oldRev + 1000000 // concordctl's default --bump-revision
	ncli := nc.Client(t)
	mresp, err := ncli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(mresp.Members) != 3 {
		t.Fatalf("restored cluster has members %v", mresp.Members)
	}
	for _, mm := range mresp.Members {
		if !strings.HasPrefix(mm.Name, "r") && mm.Name != "" {
			t.Errorf("member %q of the old cluster in the new one", mm.Name)
		}
	}
	// Every member serves every key at the bumped revision.
	for _, m := range nc.Members {
		gr, err := m.Client(t).Get(ctx, "/", clientv3.WithPrefix())
		if err != nil {
			t.Fatalf("get on %s: %v", m.Name, err)
		}
		got := map[string]string{}
		for _, kv := range gr.Kvs {
			got[string(kv.Key)] = string(kv.Value)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s serves %v\nwant %v", m.Name, got, want)
		}
		if gr.Header.Revision != newRev {
			t.Errorf("%s at revision %d, want %d (old %d + 1000000)", m.Name, gr.Header.Revision, newRev, oldRev)
		}
	}
	ttl, err := ncli.TimeToLive(ctx, lg.ID, clientv3.WithAttachedKeys())
	if err != nil || ttl.TTL <= 0 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != "/leased" {
		t.Errorf("restored lease: %+v %v", ttl, err)
	}

	// A watcher resuming from a revision of the old cluster must re-list.
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	wr, ok := <-ncli.Watch(wctx, "/registry/", clientv3.WithPrefix(), clientv3.WithRev(oldRev-5))
	if !ok || wr.CompactRevision != newRev || !errors.Is(wr.Err(), rpctypes.ErrCompacted) {
		t.Errorf("watch from old revision %d: ok %v compact %d err %v; want compacted at %d", oldRev-5, ok, wr.CompactRevision, wr.Err(), newRev)
	}
	// A watch from the bumped revision on sees new writes at newRev+1.
	wch := ncli.Watch(wctx, "/registry/", clientv3.WithPrefix(), clientv3.WithRev(newRev+1))
	pr, err := ncli.Put(ctx, "/registry/pods/ns/after", "restore")
	if err != nil {
		t.Fatal(err)
	}
	if pr.Header.Revision != newRev+1 {
		t.Errorf("first put after restore at revision %d, want %d", pr.Header.Revision, newRev+1)
	}
	wr = <-wch
	if wr.Err() != nil || len(wr.Events) != 1 || wr.Events[0].Kv.ModRevision != newRev+1 {
		t.Errorf("watch from %d: %+v %v", newRev+1, wr.Events, wr.Err())
	}

	// A restarted member is a normal member now (identity written,
	// restore marker gone): it rejoins with its data.
	r1 := nc.Members[0]
	r1.Kill()
	r1.Restart(t)
	nc.Leader(t)
	gr, err = r1.Client(t).Get(ctx, "/registry/pods/ns/after")
	if err != nil || len(gr.Kvs) != 1 || string(gr.Kvs[0].Value) != "restore" {
		t.Errorf("restarted %s: %v %v", r1.Name, gr, err)
	}
	if b, err := os.ReadFile(r1.LogFile); err != nil || strings.Count(string(b), "data dir restored from a snapshot") != 1 {
		t.Errorf("%s bootstrapped from the restore marker %d times, want once (%v)", r1.Name, strings.Count(string(b), "data dir restored from a snapshot"), err)
	}
}
