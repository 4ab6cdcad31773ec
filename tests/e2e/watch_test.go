package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestEtcdctlWatchAcrossMembers is seed 004 §6: a watch on member 1 sees
// the puts made on member 2, in order.
func TestEtcdctlWatchAcrossMembers(t *testing.T) {
	c := newCluster(t, 3)
	path, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "--endpoints="+c.Members[0].ClientURL, "watch", "--prefix", "/seed/")
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Events come as three lines: type, key, value. Markers written until
	// the watcher prints one prove the watch is established.
	triples := make(chan [3]string, 100)
	go func() {
		var cur []string
		for l := range lines {
			cur = append(cur, l)
			if len(cur) == 3 {
				triples <- [3]string{cur[0], cur[1], cur[2]}
				cur = nil
			}
		}
		close(triples)
	}()
	cli := c.Client(t, c.Members[1])
	ctx := ctxT(t)
	waitFor(t, 10*time.Second, "the watch to be established", func() bool {
		if _, err := cli.Put(ctx, "/seed/marker", "m"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-triples:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	for i := 1; i <= 4; i++ {
		if out, err := etcdctl(t, []string{c.Members[1].ClientURL}, "", "put", fmt.Sprintf("/seed/k%d", i), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatalf("put: %v %s", err, out)
		}
	}
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < 4 {
		select {
		case tr := <-triples:
			if tr[1] == "/seed/marker" {
				continue // a marker put before the watch was seen
			}
			got = append(got, strings.Join(tr[:], " "))
		case <-timeout:
			t.Fatalf("watch printed %q", got)
		}
	}
	want := []string{"PUT /seed/k1 v1", "PUT /seed/k2 v2", "PUT /seed/k3 v3", "PUT /seed/k4 v4"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("watch printed %q, want %q", got, want)
	}

	// A watch from a compacted revision fails with etcd's text.
	r, err := cli.Put(ctx, "/seed/k1", "again")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, r.Header.Revision); err != nil {
		t.Fatal(err)
	}
	o, err := etcdctl(t, []string{c.Members[0].ClientURL}, "", "watch", "--rev=2", "/seed/k1")
	if err == nil || !strings.Contains(o, "watch was canceled (etcdserver: mvcc: required revision has been compacted)") {
		t.Fatalf("watch below compaction: err=%v out=%q", err, o)
	}
}

// TestGoClientWatch: resume from a revision after reconnecting, prev_kv,
// filters, progress notifications, and compaction while behind.
func TestGoClientWatch(t *testing.T) {
	c := newCluster(t, 3, "--watch-progress-notify-interval=200ms")
	writer := c.Client(t, c.Members[0])
	ctx := ctxT(t)
	first, err := writer.Put(ctx, "/w/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 20; i++ {
		if _, err := writer.Put(ctx, "/w/a", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := writer.Delete(ctx, "/w/a"); err != nil {
		t.Fatal(err)
	}
	// History from the first revision, through another member, with prev_kv.
	reader := c.Client(t, c.Members[2])
	wctx, cancel := context.WithCancel(ctx)
	wch := reader.Watch(wctx, "/w/", clientv3.WithPrefix(), clientv3.WithRev(first.Header.Revision), clientv3.WithPrevKV())
	var evs []*clientv3.Event
	for len(evs) < 21 {
		resp := <-wch
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, resp.Events...)
	}
	cancel()
	for i, ev := range evs[:20] {
		if string(ev.Kv.Value) != fmt.Sprint(i+1) || ev.Kv.ModRevision != first.Header.Revision+int64(i) {
			t.Fatalf("event %d: %s@%d", i, ev.Kv.Value, ev.Kv.ModRevision)
		}
		if i > 0 && string(ev.PrevKv.Value) != fmt.Sprint(i) {
			t.Fatalf("event %d prev_kv %v", i, ev.PrevKv)
		}
	}
	if evs[20].Type != clientv3.EventTypeDelete || string(evs[20].PrevKv.Value) != "20" {
		t.Fatalf("delete event: %v", evs[20])
	}

	// NOPUT filter and progress notifications.
	wctx, cancel = context.WithCancel(ctx)
	defer cancel()
	fch := reader.Watch(wctx, "/f/", clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithProgressNotify())
	if _, err := writer.Put(ctx, "/f/x", "1"); err != nil {
		t.Fatal(err)
	}
	d, err := writer.Delete(ctx, "/f/x")
	if err != nil {
		t.Fatal(err)
	}
	sawDelete, sawProgress := false, false
	deadline := time.After(15 * time.Second)
	for !sawDelete || !sawProgress {
		select {
		case resp := <-fch:
			if err := resp.Err(); err != nil {
				t.Fatal(err)
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypePut {
					t.Fatalf("NOPUT watch got a put: %v", ev)
				}
				sawDelete = true
			}
			if resp.IsProgressNotify() && sawDelete {
				if resp.Header.Revision < d.Header.Revision {
					t.Fatalf("progress revision %d before the delete at %d", resp.Header.Revision, d.Header.Revision)
				}
				sawProgress = true
			}
		case <-deadline:
			t.Fatalf("delete seen %v, progress seen %v", sawDelete, sawProgress)
		}
	}
	// RequestProgress answers with a revision at or after the last write.
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	pch := reader.Watch(rctx, "/p/", clientv3.WithPrefix())
	if err := reader.RequestProgress(rctx); err != nil {
		t.Fatal(err)
	}
	resp := <-pch
	if !resp.IsProgressNotify() || resp.Header.Revision < d.Header.Revision {
		t.Fatalf("requested progress: %+v", resp)
	}

	// Compacted start revision: the watch ends with ErrCompacted.
	if _, err := writer.Compact(ctx, d.Header.Revision); err != nil {
		t.Fatal(err)
	}
	// Compact answers once member 1 applied it; a linearizable read on
	// member 3 waits until it applied it too.
	if _, err := reader.Get(ctx, "sync"); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	cch := reader.Watch(cctx, "/w/", clientv3.WithPrefix(), clientv3.WithRev(first.Header.Revision))
	resp = <-cch
	if !errors.Is(resp.Err(), rpctypes.ErrCompacted) || resp.CompactRevision != d.Header.Revision {
		t.Fatalf("watch from compacted revision: err=%v compact=%d", resp.Err(), resp.CompactRevision)
	}
}

// TestWatchFromCompactedRevisionSeesItsDelete is etcd issue 18089's
// scenario: after a physical compaction at the revision of a delete, a
// watch from that revision still gets the DELETE, then the later PUT.
func TestWatchFromCompactedRevisionSeesItsDelete(t *testing.T) {
	c := newCluster(t, 1)
	cli := c.Client(t)
	ctx := ctxT(t)
	for _, v := range []string{"1", "2", "3"} {
		if _, err := cli.Put(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
	}
	del, err := cli.Delete(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "k", "4"); err != nil {
		t.Fatal(err)
	}
	delRev := del.Header.Revision
	if _, err := cli.Compact(ctx, delRev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var evs []*clientv3.Event
	for resp := range cli.Watch(wctx, "k", clientv3.WithRev(delRev)) {
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, resp.Events...)
		if len(evs) >= 2 {
			break
		}
	}
	if len(evs) != 2 || evs[0].Type != clientv3.EventTypeDelete || evs[0].Kv.ModRevision != delRev ||
		evs[1].Type != clientv3.EventTypePut || string(evs[1].Kv.Value) != "4" {
		t.Fatalf("watch from the compacted revision %d: %v, want DELETE@%d then PUT k=4", delRev, evs, delRev)
	}
}
