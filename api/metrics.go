package api

import (
	"context"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/concord-kv/concord/apply"
)

// Full gRPC method names whose reads the API serves from local state and
// counts in the mvcc request counters.
const (
	methodRange       = "/etcdserverpb.KV/Range"
	methodRangeStream = "/etcdserverpb.KV/RangeStream"
	methodTxn         = "/etcdserverpb.KV/Txn"
)

// Metrics are the client-facing series etcd exports from its v3rpc and
// mvcc packages, with etcd's names, types, labels and help texts:
//
//   - grpc_server_started_total, grpc_server_handled_total (+grpc_code),
//     grpc_server_msg_received_total, grpc_server_msg_sent_total, labelled
//     grpc_type, grpc_service, grpc_method, from the go-grpc-middleware
//     Prometheus provider etcd 3.6 uses; grpc_server_handling_seconds
//     (default buckets) only when built with extensive = true, as etcd's
//     --metrics=extensive;
//   - etcd_network_client_grpc_received_bytes_total / _sent_bytes_total:
//     marshalled message bytes, the quantity etcd's codec counts (gRPC
//     framing and compression are not included);
//   - etcd_server_client_requests_total{type="unary"|"stream",
//     client_api_version}: one per call carrying gRPC metadata, the
//     version taken from the "client-api-version" key ("unknown" if absent);
//   - etcd_mvcc_put_total, etcd_mvcc_delete_total, etcd_mvcc_range_total,
//     etcd_mvcc_txn_total: one per MVCC operation, counted as etcd's
//     metrics transaction does (see CountOps); the same counts under
//     etcd 3.4's names etcd_debugging_mvcc_put_total, _delete_total,
//     _range_total and _txn_total (removed in etcd 3.5, still queried by
//     older dashboards);
//   - etcd_server_range_duration_seconds{success}: the MVCC read of each
//     served KV.Range (after any linearizable barrier, as etcd times its
//     txn.Range), ExponentialBuckets(0.0001, 2, 20);
//   - etcd_disk_backend_defrag_duration_seconds (ExponentialBuckets(.1, 2,
//     13)) and etcd_disk_defrag_inflight: each Maintenance.Defragment;
//   - etcd_disk_backend_snapshot_duration_seconds (ExponentialBuckets(.01,
//     2, 17)): each Maintenance.Snapshot stream sent in full;
//   - etcd_server_learner_promote_successes and
//     etcd_server_learner_promote_failures{Reason}: MemberPromote decided
//     by this member as leader (Reason is the error's text).
//
// Writes are counted on every member as it applies them (ObserveApplied,
// called from the apply loop); reads are counted by the member serving
// them. A nil *Metrics records nothing.
type Metrics struct {
	// GRPC is the gRPC server metrics collector.
	GRPC *grpcprom.ServerMetrics
	// ReceivedBytes and SentBytes count client message bytes.
	ReceivedBytes, SentBytes prometheus.Counter
	// ClientRequests counts calls by type and client API version.
	ClientRequests *prometheus.CounterVec
	// Put, Delete, Range and Txn are the mvcc request counters.
	Put, Delete, Range, Txn prometheus.Counter
	// OldPut, OldDelete, OldRange and OldTxn count the same under etcd
	// 3.4's etcd_debugging_mvcc_* names.
	OldPut, OldDelete, OldRange, OldTxn prometheus.Counter
	// RangeDuration is etcd_server_range_duration_seconds{success}.
	RangeDuration *prometheus.HistogramVec
	// DefragDuration and DefragInflight time Maintenance.Defragment.
	DefragDuration prometheus.Histogram
	DefragInflight prometheus.Gauge
	// SnapshotDuration times Maintenance.Snapshot.
	SnapshotDuration prometheus.Histogram
	// PromoteSuccesses and PromoteFailures count learner promotions.
	PromoteSuccesses prometheus.Counter
	PromoteFailures  *prometheus.CounterVec
	// ProposalsPending is etcd_server_proposals_pending, owned and
	// registered by the raft layer: the API raises it while a proposal
	// waits to be applied. Set it before New; nil: not tracked.
	ProposalsPending prometheus.Gauge
	// AuthFailures is concord_auth_authenticate_failures_total: refused
	// Authenticate calls (etcd has no such series).
	AuthFailures prometheus.Counter
}

// NewMetrics builds the API metrics and registers them on reg (nil: not
// registered, still usable). extensive adds grpc_server_handling_seconds.
// It returns an error wrapping the registry's if a series is already
// registered there; then nothing stays registered.
func NewMetrics(reg prometheus.Registerer, extensive bool) (*Metrics, error) {
	var opts []grpcprom.ServerMetricsOption
	if extensive {
		opts = append(opts, grpcprom.WithServerHandlingTimeHistogram())
	}
	counter := func(subsystem, name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: subsystem, Name: name, Help: help})
	}
	m := &Metrics{
		GRPC:          grpcprom.NewServerMetrics(opts...),
		SentBytes:     counter("network", "client_grpc_sent_bytes_total", "The total number of bytes sent to grpc clients."),
		ReceivedBytes: counter("network", "client_grpc_received_bytes_total", "The total number of bytes received from grpc clients."),
		ClientRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "client_requests_total",
			Help: "The total number of client requests per client version."}, []string{"type", "client_api_version"}),
		Put:    counter("mvcc", "put_total", "Total number of puts seen by this member."),
		Delete: counter("mvcc", "delete_total", "Total number of deletes seen by this member."),
		Range:  counter("mvcc", "range_total", "Total number of ranges seen by this member."),
		Txn:    counter("mvcc", "txn_total", "Total number of txns seen by this member."),
		OldPut: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "mvcc", Name: "put_total",
			Help: "Total number of puts seen by this member."}),
		OldDelete: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "mvcc", Name: "delete_total",
			Help: "Total number of deletes seen by this member."}),
		OldRange: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "mvcc", Name: "range_total",
			Help: "Total number of ranges seen by this member."}),
		OldTxn: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "mvcc", Name: "txn_total",
			Help: "Total number of txns seen by this member."}),
		RangeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "server", Name: "range_duration_seconds",
			Help: "The latency distributions of txn.Range", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 20)}, []string{"success"}),
		DefragDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "disk", Name: "backend_defrag_duration_seconds",
			Help: "The latency distribution of backend defragmentation.", Buckets: prometheus.ExponentialBuckets(.1, 2, 13)}),
		DefragInflight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "disk", Name: "defrag_inflight",
			Help: "Whether or not defrag is active on the member. 1 means active, 0 means not."}),
		SnapshotDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "disk", Name: "backend_snapshot_duration_seconds",
			Help: "The latency distribution of backend snapshots.", Buckets: prometheus.ExponentialBuckets(.01, 2, 17)}),
		PromoteSuccesses: counter("server", "learner_promote_successes",
			"The total number of successful learner promotions while this member is leader."),
		AuthFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "concord", Subsystem: "auth", Name: "authenticate_failures_total",
			Help: "The total number of Authenticate requests refused (wrong user or password, or failed to commit)."}),
		PromoteFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "learner_promote_failures",
			Help: "The total number of failed learner promotions (likely learner not ready) while this member is leader."}, []string{"Reason"}),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.GRPC, m.SentBytes, m.ReceivedBytes, m.ClientRequests, m.Put, m.Delete, m.Range, m.Txn,
		m.OldPut, m.OldDelete, m.OldRange, m.OldTxn, m.RangeDuration, m.DefragDuration, m.DefragInflight, m.SnapshotDuration,
		m.PromoteSuccesses, m.PromoteFailures, m.AuthFailures}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

// ServerOptions returns the gRPC server options that feed the metrics: a
// stats handler counting message bytes and interceptors (gRPC metrics
// outermost, then the client request and read counters). Put them before
// the server's own interceptors so the gRPC metrics see every call. A nil
// *Metrics returns none.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	if m == nil {
		return nil
	}
	return []grpc.ServerOption{
		grpc.StatsHandler(byteCounter{m}),
		grpc.ChainUnaryInterceptor(m.GRPC.UnaryServerInterceptor(), m.unaryInterceptor),
		grpc.ChainStreamInterceptor(m.GRPC.StreamServerInterceptor(), m.streamInterceptor),
	}
}

// InitializeGRPC creates the zero-valued gRPC series for every method of
// the services registered on gs so far, as etcd does after registering
// its services (services registered later appear once used).
func (m *Metrics) InitializeGRPC(gs *grpc.Server) {
	if m != nil {
		m.GRPC.InitializeMetrics(gs)
	}
}

// clientVersion reads etcd's client-api-version metadata: ok is false when
// the call carries no metadata; an invalid (non UTF-8) version is etcd's
// ErrGRPCInvalidClientAPIVersion.
func clientVersion(ctx context.Context) (ver string, ok bool, err error) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return "", false, nil
	}
	ver = "unknown"
	if vs := md.Get(rpctypes.MetadataClientAPIVersionKey); len(vs) > 0 {
		ver = vs[0]
	}
	if !utf8.ValidString(ver) {
		return "", true, rpctypes.ErrGRPCInvalidClientAPIVersion
	}
	return ver, true, nil
}

func (m *Metrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ver, ok, err := clientVersion(ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		m.ClientRequests.WithLabelValues("unary", ver).Inc()
	}
	resp, err := handler(ctx, req)
	if err == nil {
		switch info.FullMethod {
		case methodRange:
			m.Range.Inc()
		case methodTxn:
			// Write txns are counted when applied; read-only ones here.
			if r, ok := req.(*pb.TxnRequest); ok && apply.IsReadOnlyTxn(r) {
				if tr, ok := resp.(*pb.TxnResponse); ok {
					m.add(CountTxn(r, tr))
				}
			}
		}
	}
	return resp, err
}

func (m *Metrics) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ver, ok, err := clientVersion(ss.Context())
	if err != nil {
		return err
	}
	if ok {
		m.ClientRequests.WithLabelValues("stream", ver).Inc()
	}
	err = handler(srv, ss)
	if err == nil && info.FullMethod == methodRangeStream {
		m.Range.Inc()
	}
	return err
}

// byteCounter is the gRPC stats handler behind the client byte counters.
type byteCounter struct{ m *Metrics }

func (b byteCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (b byteCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch p := s.(type) {
	case *stats.InPayload:
		b.m.ReceivedBytes.Add(float64(p.Length))
	case *stats.OutPayload:
		b.m.SentBytes.Add(float64(p.Length))
	}
}

func (b byteCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (b byteCounter) HandleConn(context.Context, stats.ConnStats) {}

// Ops counts the MVCC operations of one request, as etcd's metrics
// transaction counts them.
type Ops struct {
	Ranges, Puts, Deletes int
	// Txn is whether the request counts in etcd_mvcc_txn_total: it is a
	// Txn whose operations (ranges, puts and deletes) number more than one.
	Txn bool
}

// CountPut is the operations of an applied Put: the put, and a read of the
// previous value when prev_kv, ignore_value or ignore_lease ask for it.
func CountPut(r *pb.PutRequest) Ops {
	o := Ops{Puts: 1}
	if r.PrevKv || r.IgnoreValue || r.IgnoreLease {
		o.Ranges++
	}
	return o
}

// CountDeleteRange is the operations of an applied DeleteRange: the
// delete, and a read of the deleted values when prev_kv asks for them.
func CountDeleteRange(r *pb.DeleteRangeRequest) Ops {
	o := Ops{Deletes: 1}
	if r.PrevKv {
		o.Ranges++
	}
	return o
}

// CountTxn is the operations of a Txn that ran and produced resp: one
// range per compare evaluated and the operations of the branch taken
// (resp.Succeeded), nested txns included. A nil resp counts the compares
// only.
func CountTxn(r *pb.TxnRequest, resp *pb.TxnResponse) Ops {
	var o Ops
	countTxn(r, resp, &o)
	o.Txn = o.Ranges+o.Puts+o.Deletes > 1
	return o
}

func countTxn(r *pb.TxnRequest, resp *pb.TxnResponse, o *Ops) {
	o.Ranges += len(r.Compare)
	if resp == nil {
		return
	}
	ops := r.Failure
	if resp.Succeeded {
		ops = r.Success
	}
	for i, op := range ops {
		switch v := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			o.Ranges++
		case *pb.RequestOp_RequestPut:
			p := CountPut(v.RequestPut)
			o.Puts += p.Puts
			o.Ranges += p.Ranges
		case *pb.RequestOp_RequestDeleteRange:
			d := CountDeleteRange(v.RequestDeleteRange)
			o.Deletes += d.Deletes
			o.Ranges += d.Ranges
		case *pb.RequestOp_RequestTxn:
			var nested *pb.TxnResponse
			if i < len(resp.Responses) {
				nested = resp.Responses[i].GetResponseTxn()
			}
			countTxn(v.RequestTxn, nested, o)
		}
	}
}

func (m *Metrics) add(o Ops) {
	if m == nil {
		return
	}
	if o.Ranges > 0 {
		m.Range.Add(float64(o.Ranges))
		m.OldRange.Add(float64(o.Ranges))
	}
	if o.Puts > 0 {
		m.Put.Add(float64(o.Puts))
		m.OldPut.Add(float64(o.Puts))
	}
	if o.Deletes > 0 {
		m.Delete.Add(float64(o.Deletes))
		m.OldDelete.Add(float64(o.Deletes))
	}
	if o.Txn {
		m.Txn.Inc()
		m.OldTxn.Inc()
	}
}

// ObserveApplied counts the MVCC operations of one request this member
// applied (a Put, DeleteRange or Txn; other requests count nothing; a
// request that failed with res.Err changed nothing and counts nothing).
// The apply loop calls it.
func (m *Metrics) ObserveApplied(r *pb.InternalRaftRequest, res *apply.Result) {
	if m == nil || r == nil || res == nil || res.Err != nil {
		return
	}
	switch {
	case r.Put != nil:
		m.add(CountPut(r.Put))
	case r.DeleteRange != nil:
		m.add(CountDeleteRange(r.DeleteRange))
	case r.Txn != nil:
		tr, _ := res.Resp.(*pb.TxnResponse)
		m.add(CountTxn(r.Txn, tr))
	}
}

// proposalStarted and proposalDone bracket a proposal waiting to be
// applied (etcd_server_proposals_pending).
func (m *Metrics) proposalStarted() {
	if m != nil && m.ProposalsPending != nil {
		m.ProposalsPending.Inc()
	}
}

func (m *Metrics) proposalDone() {
	if m != nil && m.ProposalsPending != nil {
		m.ProposalsPending.Dec()
	}
}

// observeRange records one served KV.Range's MVCC read.
func (m *Metrics) observeRange(took time.Duration, err error) {
	if m != nil {
		m.RangeDuration.WithLabelValues(strconv.FormatBool(err == nil)).Observe(took.Seconds())
	}
}

// defragStarted marks a defragmentation under way; call the returned func
// when it ends: it clears the mark and records the duration.
func (m *Metrics) defragStarted() func() {
	if m == nil {
		return func() {}
	}
	start := time.Now()
	m.DefragInflight.Set(1)
	return func() {
		m.DefragInflight.Set(0)
		m.DefragDuration.Observe(time.Since(start).Seconds())
	}
}

// observeSnapshot records one Maintenance.Snapshot sent in full.
func (m *Metrics) observeSnapshot(took time.Duration) {
	if m != nil {
		m.SnapshotDuration.Observe(took.Seconds())
	}
}

// promoted records the outcome of a promotion this member decided as
// leader: nil is a success, otherwise the failure's reason is err's text
// (a gRPC status's description).
func (m *Metrics) promoted(err error) {
	if m == nil {
		return
	}
	if err == nil {
		m.PromoteSuccesses.Inc()
		return
	}
	m.PromoteFailures.WithLabelValues(rpctypes.ErrorDesc(err)).Inc()
}

// authFailed counts a refused Authenticate.
func (m *Metrics) authFailed() {
	if m == nil || m.AuthFailures == nil {
		return
	}
	m.AuthFailures.Inc()
}
