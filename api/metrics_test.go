package api

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/concord-kv/concord/apply"
)

func TestCountOps(t *testing.T) {
	put := func(k string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k)}}}
	}
	get := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a")}}}
	del := &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), PrevKv: true}}}
	cmp := []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER}}
	nested := &pb.TxnRequest{Compare: cmp, Success: []*pb.RequestOp{put("n")}, Failure: []*pb.RequestOp{get, get}}
	nestedOp := &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: nested}}

	for _, tc := range []struct {
		name string
		got  Ops
		want Ops
	}{
		{"put", CountPut(&pb.PutRequest{Key: []byte("a")}), Ops{Puts: 1}},
		{"put prev_kv reads first", CountPut(&pb.PutRequest{Key: []byte("a"), PrevKv: true}), Ops{Puts: 1, Ranges: 1}},
		{"put ignore_value reads first", CountPut(&pb.PutRequest{Key: []byte("a"), IgnoreValue: true}), Ops{Puts: 1, Ranges: 1}},
		{"delete", CountDeleteRange(&pb.DeleteRangeRequest{Key: []byte("a")}), Ops{Deletes: 1}},
		{"delete prev_kv", CountDeleteRange(&pb.DeleteRangeRequest{Key: []byte("a"), PrevKv: true}), Ops{Deletes: 1, Ranges: 1}},
		{"txn single op is not a txn",
			CountTxn(&pb.TxnRequest{Success: []*pb.RequestOp{put("a")}}, &pb.TxnResponse{Succeeded: true}),
			Ops{Puts: 1}},
		{"txn compare and put",
			CountTxn(&pb.TxnRequest{Compare: cmp, Success: []*pb.RequestOp{put("a"), get}}, &pb.TxnResponse{Succeeded: true}),
			Ops{Ranges: 2, Puts: 1, Txn: true}},
		{"txn failure branch",
			CountTxn(&pb.TxnRequest{Compare: cmp, Success: []*pb.RequestOp{put("a"), put("b")}, Failure: []*pb.RequestOp{del}}, &pb.TxnResponse{Succeeded: false}),
			Ops{Ranges: 2, Deletes: 1, Txn: true}},
		{"nested txn follows its own branch",
			CountTxn(&pb.TxnRequest{Success: []*pb.RequestOp{nestedOp}}, &pb.TxnResponse{Succeeded: true, Responses: []*pb.ResponseOp{
				{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: &pb.TxnResponse{Succeeded: false}}}}}),
			Ops{Ranges: 3, Txn: true}},
		{"txn without response counts compares",
			CountTxn(&pb.TxnRequest{Compare: cmp, Success: []*pb.RequestOp{put("a")}}, nil),
			Ops{Ranges: 1}},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
}

func TestObserveApplied(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry(), false)
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveApplied(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a")}}, &apply.Result{Resp: &pb.PutResponse{}})
	m.ObserveApplied(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a")}}, &apply.Result{Err: errors.New("lease not found")})
	m.ObserveApplied(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a")}}, &apply.Result{Resp: &pb.DeleteRangeResponse{}})
	txn := &pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a")}}},
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("b")}}},
	}}
	m.ObserveApplied(&pb.InternalRaftRequest{Txn: txn}, &apply.Result{Resp: &pb.TxnResponse{Succeeded: true}})
	m.ObserveApplied(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 1}}, &apply.Result{})
	for name, want := range map[string]float64{"put": 3, "delete": 1, "range": 0, "txn": 1} {
		c := map[string]prometheus.Counter{"put": m.Put, "delete": m.Delete, "range": m.Range, "txn": m.Txn}[name]
		if got := value(c); got != want {
			t.Errorf("etcd_mvcc_%s_total = %v, want %v", name, got, want)
		}
		old := map[string]prometheus.Counter{"put": m.OldPut, "delete": m.OldDelete, "range": m.OldRange, "txn": m.OldTxn}[name]
		if got := value(old); got != want {
			t.Errorf("etcd_debugging_mvcc_%s_total = %v, want %v (as etcd_mvcc_%[1]s_total)", name, got, want)
		}
	}
	var nilMetrics *Metrics
	nilMetrics.ObserveApplied(&pb.InternalRaftRequest{Put: &pb.PutRequest{}}, &apply.Result{}) // no panic
	nilMetrics.proposalStarted()
	nilMetrics.proposalDone()
	nilMetrics.defragStarted()()
	nilMetrics.observeSnapshot(time.Second)
	nilMetrics.observeRange(time.Second, nil)
	nilMetrics.promoted(nil)
}

func TestMaintenanceMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, false)
	if err != nil {
		t.Fatal(err)
	}
	done := m.defragStarted()
	if got := value(m.DefragInflight); got != 1 {
		t.Errorf("etcd_disk_defrag_inflight during a defrag = %v, want 1", got)
	}
	done()
	if got := value(m.DefragInflight); got != 0 {
		t.Errorf("etcd_disk_defrag_inflight after a defrag = %v, want 0", got)
	}
	m.observeSnapshot(30 * time.Millisecond)
	m.observeRange(time.Millisecond, nil)
	m.observeRange(time.Millisecond, errors.New("compacted"))
	m.promoted(nil)
	m.promoted(rpctypes.ErrGRPCLearnerNotReady)
	text := gatherText(t, reg)
	for _, line := range []string{
		"etcd_disk_backend_defrag_duration_seconds_count 1",
		`etcd_disk_backend_defrag_duration_seconds_bucket{le="0.1"} 1`,
		`etcd_disk_backend_defrag_duration_seconds_bucket{le="409.6"} 1`,
		"etcd_disk_backend_snapshot_duration_seconds_count 1",
		`etcd_disk_backend_snapshot_duration_seconds_bucket{le="0.04"} 1`,
		`etcd_disk_backend_snapshot_duration_seconds_bucket{le="0.02"} 0`,
		`etcd_server_range_duration_seconds_count{success="true"} 1`,
		`etcd_server_range_duration_seconds_count{success="false"} 1`,
		`etcd_server_range_duration_seconds_bucket{success="true",le="52.4288"} 1`,
		"etcd_server_learner_promote_successes 1",
		`etcd_server_learner_promote_failures{Reason="etcdserver: can only promote a learner member which is in sync with leader"} 1`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("exposition lacks %q", line)
		}
	}
}

func TestNewMetricsHelpAndTypes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, false)
	if err != nil {
		t.Fatal(err)
	}
	m.ClientRequests.WithLabelValues("unary", "3.6").Inc()
	const want = `
# HELP etcd_mvcc_delete_total Total number of deletes seen by this member.
# TYPE etcd_mvcc_delete_total counter
etcd_mvcc_delete_total 0
# HELP etcd_mvcc_put_total Total number of puts seen by this member.
# TYPE etcd_mvcc_put_total counter
etcd_mvcc_put_total 0
# HELP etcd_mvcc_range_total Total number of ranges seen by this member.
# TYPE etcd_mvcc_range_total counter
etcd_mvcc_range_total 0
# HELP etcd_mvcc_txn_total Total number of txns seen by this member.
# TYPE etcd_mvcc_txn_total counter
etcd_mvcc_txn_total 0
# HELP etcd_network_client_grpc_received_bytes_total The total number of bytes received from grpc clients.
# TYPE etcd_network_client_grpc_received_bytes_total counter
etcd_network_client_grpc_received_bytes_total 0
# HELP etcd_network_client_grpc_sent_bytes_total The total number of bytes sent to grpc clients.
# TYPE etcd_network_client_grpc_sent_bytes_total counter
etcd_network_client_grpc_sent_bytes_total 0
# HELP etcd_server_client_requests_total The total number of client requests per client version.
# TYPE etcd_server_client_requests_total counter
etcd_server_client_requests_total{client_api_version="3.6",type="unary"} 1
`
	text := gatherText(t, reg)
	for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("exposition lacks %q", line)
		}
	}
	if _, err := NewMetrics(reg, false); err == nil {
		t.Fatal("registering twice on one registry succeeded")
	}
}

// kvStub answers Range and Txn with fixed responses and fails Put.
type kvStub struct {
	pb.UnimplementedKVServer
}

func (kvStub) Range(context.Context, *pb.RangeRequest) (*pb.RangeResponse, error) {
	return &pb.RangeResponse{Kvs: nil, Count: 7}, nil
}

func (kvStub) Txn(_ context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	return &pb.TxnResponse{Succeeded: true}, nil
}

func (kvStub) Put(context.Context, *pb.PutRequest) (*pb.PutResponse, error) {
	return nil, rpctypes.ErrGRPCEmptyKey
}

// serveStub serves kvStub with m's server options over an in-memory
// listener and returns a connected client.
func serveStub(t testing.TB, m *Metrics) pb.KVClient {
	t.Helper()
	l := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(m.ServerOptions()...)
	pb.RegisterKVServer(gs, kvStub{})
	m.InitializeGRPC(gs)
	go func() { _ = gs.Serve(l) }()
	t.Cleanup(gs.Stop)
	cc, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return pb.NewKVClient(cc)
}

func TestMetricsOnGRPCServer(t *testing.T) {
	for _, extensive := range []bool{false, true} {
		reg := prometheus.NewRegistry()
		m, err := NewMetrics(reg, extensive)
		if err != nil {
			t.Fatal(err)
		}
		kv := serveStub(t, m)
		ctx := metadata.AppendToOutgoingContext(context.Background(), rpctypes.MetadataClientAPIVersionKey, "3.6")
		if _, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("a")}); err != nil {
			t.Fatal(err)
		}
		readOnly := &pb.TxnRequest{Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a")}}},
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("b")}}},
		}}
		if _, err := kv.Txn(context.Background(), readOnly); err != nil {
			t.Fatal(err)
		}
		write := &pb.TxnRequest{Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a")}}},
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("b")}}},
		}}
		if _, err := kv.Txn(context.Background(), write); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(context.Background(), &pb.PutRequest{}); err == nil {
			t.Fatal("stub Put succeeded")
		}
		// gRPC clients cannot send a non-UTF-8 value; hand one to the
		// interceptor directly.
		bad := metadata.NewIncomingContext(context.Background(), metadata.Pairs(rpctypes.MetadataClientAPIVersionKey, "\xff"))
		if _, err := m.unaryInterceptor(bad, &pb.RangeRequest{}, &grpc.UnaryServerInfo{FullMethod: methodRange}, func(context.Context, any) (any, error) {
			t.Fatal("handler called")
			return nil, nil
		}); err != rpctypes.ErrGRPCInvalidClientAPIVersion {
			t.Fatalf("invalid client version: err = %v", err)
		}

		// Range and the read-only txn's two ranges count here; the write
		// txn counts when applied.
		if got := value(m.Range); got != 3 {
			t.Errorf("extensive=%v: etcd_mvcc_range_total = %v, want 3", extensive, got)
		}
		if got := value(m.Txn); got != 1 {
			t.Errorf("extensive=%v: etcd_mvcc_txn_total = %v, want 1", extensive, got)
		}
		if got := value(m.ClientRequests.WithLabelValues("unary", "3.6")); got != 1 {
			t.Errorf("extensive=%v: client requests 3.6 = %v, want 1", extensive, got)
		}
		if got := value(m.ClientRequests.WithLabelValues("unary", "unknown")); got != 3 {
			t.Errorf("extensive=%v: client requests unknown = %v, want 3", extensive, got)
		}
		if got := value(m.ReceivedBytes); got <= 0 {
			t.Errorf("extensive=%v: received bytes = %v", extensive, got)
		}
		if got := value(m.SentBytes); got <= 0 {
			t.Errorf("extensive=%v: sent bytes = %v", extensive, got)
		}

		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		families := map[string]bool{}
		for _, mf := range mfs {
			families[mf.GetName()] = true
		}
		for _, name := range []string{"grpc_server_started_total", "grpc_server_handled_total", "grpc_server_msg_received_total", "grpc_server_msg_sent_total"} {
			if !families[name] {
				t.Errorf("extensive=%v: %s missing", extensive, name)
			}
		}
		if families["grpc_server_handling_seconds"] != extensive {
			t.Errorf("grpc_server_handling_seconds present = %v with extensive = %v", families["grpc_server_handling_seconds"], extensive)
		}
		// Compact was never called: its zero series exists because of
		// InitializeGRPC.
		text := gatherText(t, reg)
		for _, line := range []string{
			`grpc_server_handled_total{grpc_code="InvalidArgument",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1`,
			`grpc_server_handled_total{grpc_code="OK",grpc_method="Compact",grpc_service="etcdserverpb.KV",grpc_type="unary"} 0`,
			`grpc_server_started_total{grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1`,
		} {
			if !strings.Contains(text, line+"\n") {
				t.Errorf("extensive=%v: no line %s", extensive, line)
			}
		}
	}
}

func TestProposalsPending(t *testing.T) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "pending"})
	m := &Metrics{ProposalsPending: g}
	m.proposalStarted()
	m.proposalStarted()
	m.proposalDone()
	if got := value(g); got != 1 {
		t.Fatalf("pending = %v, want 1", got)
	}
}

// gatherText is reg's exposition in the text format.
func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// value is the value of the single counter or gauge c collects.
func value(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// BenchmarkUnaryRange measures a Range round trip over an in-memory
// connection with and without the metrics' stats handler and interceptors.
func BenchmarkUnaryRange(b *testing.B) {
	for _, tc := range []struct {
		name      string
		m         *Metrics
		extensive bool
	}{{name: "none"}, {name: "basic", m: &Metrics{}}, {name: "extensive", m: &Metrics{}, extensive: true}} {
		b.Run(tc.name, func(b *testing.B) {
			var m *Metrics
			if tc.m != nil {
				var err error
				if m, err = NewMetrics(prometheus.NewRegistry(), tc.extensive); err != nil {
					b.Fatal(err)
				}
			}
			kv := serveStub(b, m)
			ctx := metadata.AppendToOutgoingContext(context.Background(), rpctypes.MetadataClientAPIVersionKey, "3.6")
			req := &pb.RangeRequest{Key: []byte("a")}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := kv.Range(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
