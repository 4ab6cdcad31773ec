package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestGoClientKV exercises KV, Txn, Compact and RangeStream with the
// official Go client 3.7 against 3 members, reading through each.
func TestGoClientKV(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.Client(t)
	ctx := ctxT(t)
	var revs []int64
	for i := 0; i < 2500; i++ {
		r, err := cli.Put(ctx, fmt.Sprintf("/list/%05d", i), strings.Repeat("v", 64))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, r.Header.Revision)
	}
	for i := 1; i < len(revs); i++ {
		if revs[i] != revs[i-1]+1 {
			t.Fatalf("revisions not consecutive: %d then %d", revs[i-1], revs[i])
		}
	}
	for _, m := range c.Members {
		one := c.Client(t, m)
		g, err := one.Get(ctx, "/list/", clientv3.WithPrefix(), clientv3.WithLimit(10))
		if err != nil {
			t.Fatal(err)
		}
		if g.Count != 2500 || len(g.Kvs) != 10 || !g.More {
			t.Fatalf("%s: count=%d kvs=%d more=%v", m.Name, g.Count, len(g.Kvs), g.More)
		}
		s, err := one.Get(ctx, "/list/", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithCountOnly())
		if err != nil || s.Count != 2500 {
			t.Fatalf("%s serializable count: %v %v", m.Name, s, err)
		}
	}
	// RangeStream returns the same as Range.
	stream, err := cli.GetStream(ctx, "/list/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	sr, err := clientv3.GetStreamToGetResponse(stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(sr.Kvs) != 2500 || sr.Count != 2500 || string(sr.Kvs[2499].Key) != "/list/02499" {
		t.Fatalf("GetStream: %d kvs, count %d", len(sr.Kvs), sr.Count)
	}
	// Txn compare-and-swap, as Kubernetes' OptimisticPut does.
	g, _ := cli.Get(ctx, "/list/00001")
	mod := g.Kvs[0].ModRevision
	tr, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision("/list/00001"), "=", mod)).
		Then(clientv3.OpPut("/list/00001", "new")).Else(clientv3.OpGet("/list/00001")).Commit()
	if err != nil || !tr.Succeeded {
		t.Fatalf("cas: %v %v", tr, err)
	}
	tr, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision("/list/00001"), "=", mod)).
		Then(clientv3.OpPut("/list/00001", "newer")).Else(clientv3.OpGet("/list/00001")).Commit()
	if err != nil || tr.Succeeded || string(tr.Responses[0].GetResponseRange().Kvs[0].Value) != "new" {
		t.Fatalf("stale cas: %v %v", tr, err)
	}
	// Historical read, compaction, then the same read fails.
	old, err := cli.Get(ctx, "/list/00001", clientv3.WithRev(mod))
	if err != nil || string(old.Kvs[0].Value) != strings.Repeat("v", 64) {
		t.Fatalf("historical read: %v %v", old, err)
	}
	if _, err := cli.Compact(ctx, tr.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(ctx, "/list/00001", clientv3.WithRev(mod)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("read below compaction: %v", err)
	}
	d, err := cli.Delete(ctx, "/list/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil || d.Deleted != 2500 || len(d.PrevKvs) != 2500 {
		t.Fatalf("delete prefix: %v", err)
	}
}

// TestBadInputs checks that bad requests get etcd's gRPC code and text and
// change nothing.
func TestBadInputs(t *testing.T) {
	c := newCluster(t, 1)
	cli := c.Client(t)
	ctx := ctxT(t)
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	before, _ := cli.Get(ctx, "k")
	// The Go client turns statuses into rpctypes errors; the raw stub shows
	// the gRPC code the server sent.
	raw := pb.NewKVClient(cli.ActiveConnection())
	code := func(err error) codes.Code { return status.Code(err) }

	// 1.6 MB passes gRPC's limit but not --max-request-bytes (1.5 MiB).
	_, err := cli.Put(ctx, "big", strings.Repeat("x", 1600*1024))
	if !errors.Is(err, rpctypes.ErrRequestTooLarge) {
		t.Fatalf("large put: %v", err)
	}
	_, err = cli.Get(ctx, "k", clientv3.WithRev(before.Header.Revision+100))
	if !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("future rev: %v", err)
	}
	_, err = raw.Range(ctx, &pb.RangeRequest{Key: []byte("k"), Revision: before.Header.Revision + 100})
	if code(err) != codes.OutOfRange || status.Convert(err).Message() != "etcdserver: mvcc: required revision is a future revision" {
		t.Fatalf("future rev (raw): %v", err)
	}
	_, err = cli.Txn(ctx).Then(clientv3.OpPut("a", "1"), clientv3.OpPut("a", "2")).Commit()
	if !errors.Is(err, rpctypes.ErrDuplicateKey) {
		t.Fatalf("duplicate key: %v", err)
	}
	dup := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a")}}}
	_, err = raw.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{dup, dup}})
	if code(err) != codes.InvalidArgument || status.Convert(err).Message() != "etcdserver: duplicate key given in txn request" {
		t.Fatalf("duplicate key (raw): %v", err)
	}
	_, err = cli.Txn(ctx).Then(clientv3.OpDelete("a", clientv3.WithPrefix()), clientv3.OpPut("ab", "2")).Commit()
	if !errors.Is(err, rpctypes.ErrDuplicateKey) {
		t.Fatalf("put inside deleted range: %v", err)
	}
	var ops []clientv3.Op
	for i := 0; i < 129; i++ {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("op%d", i), "v"))
	}
	_, err = cli.Txn(ctx).Then(ops...).Commit()
	if !errors.Is(err, rpctypes.ErrTooManyOps) {
		t.Fatalf("129 ops: %v", err)
	}
	_, err = cli.Put(ctx, "leased", "v", clientv3.WithLease(clientv3.LeaseID(12345)))
	if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("unknown lease: %v", err)
	}
	_, err = raw.Put(ctx, &pb.PutRequest{Key: []byte("leased"), Lease: 12345})
	if code(err) != codes.NotFound {
		t.Fatalf("unknown lease (raw): %v", err)
	}
	_, err = cli.Put(ctx, "", "v")
	if !errors.Is(err, rpctypes.ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
	_, err = cli.Put(ctx, "missing", "", clientv3.WithIgnoreValue())
	if !errors.Is(err, rpctypes.ErrKeyNotFound) {
		t.Fatalf("ignore_value on missing key: %v", err)
	}
	if _, err := cli.Compact(ctx, before.Header.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, before.Header.Revision); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("compact twice: %v", err)
	}
	if _, err := cli.Compact(ctx, before.Header.Revision+1000); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("compact future: %v", err)
	}
	after, err := cli.Get(ctx, "", clientv3.WithFromKey())
	if err != nil {
		t.Fatal(err)
	}
	if after.Header.Revision != before.Header.Revision || after.Count != 1 {
		t.Fatalf("bad inputs changed the store: rev %d -> %d, %d keys", before.Header.Revision, after.Header.Revision, after.Count)
	}
}
