package apply

import (
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/storage"
)

type harness struct {
	t     *testing.T
	db    *pebble.DB
	kv    *mvcc.Store
	a     *Applier
	index uint64
}

func newHarness(t *testing.T) *harness {
	db, err := storage.Open("", storage.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := mvcc.Open(db, mvcc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{DB: db, KV: kv, Cluster: membership.NewCluster(1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close(); db.Close() })
	return &harness{t: t, db: db, kv: kv, a: a}
}

// do applies the requests as one handoff (one batch) and returns results.
func (h *harness) do(reqs ...*pb.InternalRaftRequest) []*Result {
	h.t.Helper()
	var ents []*raftpb.Entry
	var chans []<-chan *Result
	for _, r := range reqs {
		h.index++
		if r.Header == nil {
			r.Header = &pb.RequestHeader{}
		}
		r.Header.ID = h.index // keeps a test's Username and AuthRevision
		data, err := proto.Marshal(r)
		if err != nil {
			h.t.Fatal(err)
		}
		chans = append(chans, h.a.Register(h.index))
		ents = append(ents, &raftpb.Entry{Index: new(h.index), Term: new(uint64(1)), Type: raftpb.EntryNormal.Enum(), Data: data})
	}
	if err := h.a.Apply(ents, nil, nil); err != nil {
		h.t.Fatal(err)
	}
	var out []*Result
	for _, ch := range chans {
		out = append(out, <-ch)
	}
	return out
}

func putReq(k, v string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}
}

func TestApplyRevisionsAndAppliedIndex(t *testing.T) {
	h := newHarness(t)
	res := h.do(putReq("a", "1"), putReq("b", "2"), putReq("a", "3"))
	for i, want := range []int64{2, 3, 4} {
		if got := res[i].Resp.(*pb.PutResponse).Header.Revision; got != want {
			t.Fatalf("put %d revision = %d, want %d", i, got, want)
		}
	}
	ai, err := storage.ReadAppliedIndex(h.db)
	if err != nil || ai.Index != 3 {
		t.Fatalf("applied index = %+v, %v", ai, err)
	}
	rr, err := ReadRange(context.Background(), h.kv, &pb.RangeRequest{Key: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	kv := rr.Kvs[0]
	if string(kv.Value) != "3" || kv.CreateRevision != 2 || kv.ModRevision != 4 || kv.Version != 2 {
		t.Fatalf("a = %+v", kv)
	}
}

func TestApplyTxn(t *testing.T) {
	h := newHarness(t)
	h.do(putReq("a", "1"))
	cmp := &pb.Compare{Key: []byte("a"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("1")}}
	nested := &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("missing"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Version{Version: 0}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("n"), Value: []byte("x")}}}},
	}
	txn := &pb.TxnRequest{
		Compare: []*pb.Compare{cmp},
		Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("b"), Value: []byte("2"), PrevKv: true}}},
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("b")}}},
			{Request: &pb.RequestOp_RequestTxn{RequestTxn: nested}},
		},
	}
	res := h.do(&pb.InternalRaftRequest{Txn: txn})[0]
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	tr := res.Resp.(*pb.TxnResponse)
	if !tr.Succeeded || tr.Header.Revision != 3 {
		t.Fatalf("txn: succeeded=%v rev=%d", tr.Succeeded, tr.Header.Revision)
	}
	// The range inside the txn sees the put before it, at the txn's revision.
	rr := tr.Responses[1].GetResponseRange()
	if len(rr.Kvs) != 1 || string(rr.Kvs[0].Value) != "2" || rr.Header.Revision != 3 {
		t.Fatalf("range in txn = %+v", rr)
	}
	if !tr.Responses[2].GetResponseTxn().Succeeded {
		t.Fatal("nested txn did not succeed")
	}
	g, _ := ReadRange(context.Background(), h.kv, &pb.RangeRequest{Key: []byte("n")})
	if len(g.Kvs) != 1 || g.Kvs[0].ModRevision != 3 {
		t.Fatalf("nested put: %+v", g.Kvs)
	}

	// A failing op aborts the whole txn: nothing is written.
	bad := &pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("c"), Value: []byte("1")}}},
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("d"), Lease: 7}}},
	}}
	res = h.do(&pb.InternalRaftRequest{Txn: bad})[0]
	if !errors.Is(res.Err, ErrLeaseNotFound) {
		t.Fatalf("txn with unknown lease: %v", res.Err)
	}
	if h.kv.Rev() != 3 {
		t.Fatalf("failed txn changed revision to %d", h.kv.Rev())
	}
	g, _ = ReadRange(context.Background(), h.kv, &pb.RangeRequest{Key: []byte("c")})
	if len(g.Kvs) != 0 {
		t.Fatal("failed txn wrote c")
	}
}

func TestRangeOptions(t *testing.T) {
	h := newHarness(t)
	h.do(putReq("k3", "a"), putReq("k1", "c"), putReq("k2", "b"), putReq("k1", "d"))
	ctx := context.Background()
	r, err := ReadRange(ctx, h.kv, &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != 3 || len(r.Kvs) != 2 || !r.More || string(r.Kvs[0].Key) != "k1" {
		t.Fatalf("limit: count=%d kvs=%d more=%v", r.Count, len(r.Kvs), r.More)
	}
	r, _ = ReadRange(ctx, h.kv, &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_DESCEND})
	if string(r.Kvs[0].Value) != "d" || string(r.Kvs[2].Value) != "a" {
		t.Fatalf("sort by value desc: %s %s", r.Kvs[0].Value, r.Kvs[2].Value)
	}
	r, _ = ReadRange(ctx, h.kv, &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), MinModRevision: 4})
	if r.Count != 3 || len(r.Kvs) != 2 {
		t.Fatalf("min mod revision: count=%d kvs=%d", r.Count, len(r.Kvs))
	}
	r, _ = ReadRange(ctx, h.kv, &pb.RangeRequest{Key: []byte("k1"), KeysOnly: true})
	if len(r.Kvs[0].Value) != 0 {
		t.Fatal("keys_only returned a value")
	}
	r, _ = ReadRange(ctx, h.kv, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, CountOnly: true})
	if r.Count != 3 || len(r.Kvs) != 0 {
		t.Fatalf("count_only all keys: %d %d", r.Count, len(r.Kvs))
	}
	r, _ = ReadRange(ctx, h.kv, &pb.RangeRequest{Key: []byte("k1"), Revision: 3})
	if string(r.Kvs[0].Value) != "c" || r.Header.Revision != 5 {
		t.Fatalf("historical read: %s at header rev %d", r.Kvs[0].Value, r.Header.Revision)
	}
}
