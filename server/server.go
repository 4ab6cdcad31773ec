package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/concord-kv/concord/alarm"
	"github.com/concord-kv/concord/api"
	"github.com/concord-kv/concord/apply"
	"github.com/concord-kv/concord/auth"
	"github.com/concord-kv/concord/config"
	"github.com/concord-kv/concord/lease"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/raftnode"
	"github.com/concord-kv/concord/snapshot"
	"github.com/concord-kv/concord/storage"
	"github.com/concord-kv/concord/v3lock"
	"github.com/concord-kv/concord/watch"
)

// grpcOverheadBytes is added to --max-request-bytes for the gRPC receive
// limit, as etcd does, so that a slightly too large request reaches the
// server's own size check and gets etcd's "request is too large".
const grpcOverheadBytes = 512 * 1024

// keyIdentity holds this member's ID and the cluster ID (node-local).
var keyIdentity = []byte{storage.PrefixLocal, 'i'}

// Run starts a member from cfg and serves until ctx ends or a component
// fails. cfg must have passed Validate.
func Run(ctx context.Context, cfg *config.Config, lg *zap.Logger) error {
	for _, f := range cfg.Deferred() {
		lg.Warn("flag accepted but its feature is not implemented yet; it has no effect", zap.String("flag", f))
	}
	dataDir := cfg.DataDir
	if dataDir == "" {
		dataDir = config.DefaultDataDir(cfg.Name)
	}
	// TLS files are checked before the data directory is created: a bad
	// certificate, CRL or cipher writes nothing.
	mtls, err := newMemberTLS(cfg, lg)
	if err != nil {
		return err
	}
	// So is --auth-token (a JWT's key files and sign method).
	authStore, err := auth.NewStore(auth.Config{Token: cfg.AuthToken, TokenTTL: int64(cfg.AuthTokenTTL / time.Second), BcryptCost: int(cfg.BcryptCost)})
	if err != nil {
		return fmt.Errorf("server: --auth-token: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("server: create data dir: %w", err)
	}
	if err := mtls.autoTLS(cfg, dataDir, lg); err != nil {
		return err
	}
	// A snapshot being built when the member last stopped left its file.
	if n, err := snapshot.RemoveTempFiles(dataDir); err != nil || n > 0 {
		lg.Info("removed unfinished snapshot files", zap.Int("files", n), zap.Error(err))
	}
	db, err := storage.Open(filepath.Join(dataDir, "db"), storage.Options{WALDir: cfg.WALDir, Logger: storage.ZapLogger(lg.Named("pebble"))})
	if err != nil {
		return err
	}
	defer db.Close()

	peerTLS, err := mtls.peerDialConfig()
	if err != nil {
		return err
	}
	id, err := resolveIdentity(ctx, db, cfg, lg, peerTLS)
	if err != nil {
		return err
	}
	lg = lg.With(zap.String("local-member-id", fmt.Sprintf("%x", id.member)))
	lg.Info("starting concord member", zap.String("name", cfg.Name), zap.String("data-dir", dataDir),
		zap.String("cluster-id", fmt.Sprintf("%x", id.cluster)), zap.Bool("bootstrap", id.bootstrap), zap.Bool("join", id.fresh && !id.bootstrap),
		zap.String("version", config.Version), zap.String("etcd-api-version", config.APIVersion))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	mm, err := registerServerMetrics(reg, cfg, id, db)
	if err != nil {
		return err
	}

	kv, err := mvcc.Open(db, mvcc.Options{Logger: lg, Registerer: reg})
	if err != nil {
		return err
	}
	defer kv.Close()
	cluster := membership.NewCluster(id.cluster)
	if err := cluster.Load(db); err != nil {
		return err
	}
	var node *raftnode.Node // set below; the hub's header reads the term from it
	hub := watch.NewHub(watch.Config{
		History:          kv,
		Logger:           lg.Named("watch"),
		ProgressInterval: cfg.WatchProgressNotifyInterval,
		MaxResponseBytes: int(cfg.MaxRequestBytes),
		Metrics:          watch.NewMetrics(reg),
		Header: func(rev int64) *pb.ResponseHeader {
			h := &pb.ResponseHeader{ClusterId: id.cluster, MemberId: id.member, Revision: rev}
			if node != nil {
				h.RaftTerm = node.Status().Term
			}
			return h
		},
	})
	defer hub.Close()
	lcfg := lease.DefaultConfig()
	lcfg.MinTTL = lease.MinTTLFor(cfg.ElectionTicks(), cfg.HeartbeatInterval)
	lcfg.Checkpointing = cfg.LeaseCheckpoint
	lcfg.CheckpointInterval = cfg.LeaseCheckpointInterval
	lcfg.Logger = lg.Named("lease")
	lcfg.Metrics = lease.NewMetrics(reg)
	lessor, err := lease.New(lcfg)
	if err != nil {
		return err
	}
	if err := lessor.Load(db); err != nil {
		return err
	}
	registerAuthMetrics(reg, authStore)
	alarms := alarm.NewStore()
	applier, err := apply.New(apply.Config{DB: db, KV: kv, Cluster: cluster, Lessor: lessor, Alarms: alarms, Auth: authStore, Logger: lg,
		WarnApplyDuration: cfg.WarningApplyDuration, OnApplied: hub.Notify, OnRequest: mm.onRequest, OnCommit: mm.onCommit})
	if err != nil {
		return err
	}

	if cfg.FeatureGates[config.GateInitialCorruptCheck] && !id.fresh {
		hc := &api.HashChecker{MemberID: id.member, KV: kv, Cluster: cluster, PeerTLS: peerTLS, Timeout: 5*time.Second + 2*cfg.ElectionTimeout, Logger: lg}
		if err := hc.Initial(ctx); err != nil {
			return err
		}
	}
	raftMetrics, err := raftnode.NewMetrics(reg)
	if err != nil {
		return err
	}
	node, err = raftnode.Start(raftnode.Config{
		ID:                     id.member,
		ClusterID:              id.cluster,
		Peers:                  id.peers(cluster),
		Bootstrap:              id.bootstrap,
		ElectionTicks:          cfg.ElectionTicks(),
		HeartbeatTicks:         1,
		TickInterval:           cfg.HeartbeatInterval,
		SnapshotCount:          cfg.SnapshotCount,
		SnapshotCatchUpEntries: cfg.SnapshotCatchUpEntries,
		DB:                     db,
		DataDir:                dataDir,
		PeerTLS:                peerTLS,
		Logger:                 lg.Named("raft"),
		Metrics:                raftMetrics,
	})
	if err != nil {
		return err
	}
	defer node.Stop()
	mm.registerMemberState(reg, applier, node, raftMetrics, id.member, cluster)
	if id.fresh {
		if err := writeIdentity(db, id); err != nil {
			return err
		}
	}

	// The member's goroutines outlive the caller's ctx until the stop has
	// handed leadership on (see below); a failing component still ends them.
	stopping := ctx
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
		cancel()
	}

	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := runApply(ctx, node, applier, cluster, hub); err != nil {
			fail(err)
		}
	}()

	// Lease requests a follower forwards to the leader's client URL present
	// the member's client certificate, so --client-cert-auth admits them.
	var forwardTLS *tls.Config
	if mtls.client != nil {
		if forwardTLS, err = mtls.selfClientConfig(); err != nil {
			return err
		}
	}
	svc := api.New(api.Config{
		Metrics:             mm.api,
		MemberID:            id.member,
		ClusterID:           id.cluster,
		Raft:                raftAdapter{node},
		Applier:             applier,
		KV:                  kv,
		Cluster:             cluster,
		Watch:               hub,
		Lessor:              lessor,
		Logger:              lg,
		MaxRequestBytes:     int(cfg.MaxRequestBytes),
		MaxTxnOps:           int(cfg.MaxTxnOps),
		StrictReconfigCheck: cfg.StrictReconfigCheck,
		RequestTimeout:      5*time.Second + 2*cfg.ElectionTimeout,
		Version:             config.APIVersion,
		QuotaBackendBytes:   cfg.QuotaBytes(),
		Alarms:              alarms,
		Auth:                authStore,
		PeerTLS:             peerTLS,
		ForwardTLS:          forwardTLS,
		DBSize:              func() (int64, int64) { return dbSize(db) },
		DB:                  db,
		SnapshotDir:         dataDir,
		Defragment: func(ctx context.Context) error {
			return db.Compact(ctx, storage.StateStart, storage.StateEnd, true)
		},
	})

	gs := newGRPCServer(cfg, svc, mm.api)
	// The Lock and Election services run on a client of this member's own
	// client listener, as etcd's do.
	self, err := selfClient(cfg, mtls)
	if err != nil {
		return err
	}
	defer self.Close()
	v3lock.Register(gs, self)
	httpMux := http.NewServeMux()
	// Instrumented as etcd's: promhttp_metric_handler_requests_total{code}
	// and _requests_in_flight count the scrapes.
	httpMux.Handle("/metrics", promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	httpMux.Handle("/", mm.countHealth(svc.HTTPHandler(config.Version)))
	page := &statusPage{name: cfg.Name, member: id.member, clusterID: id.cluster, version: config.APIVersion, node: node,
		cluster: cluster, kv: kv, alarms: alarms, gather: reg, self: self, dbSize: func() (int64, int64) { return dbSize(db) }, timeout: time.Second}
	page.register(httpMux)
	if cfg.EnablePprof || cfg.LogLevel == "debug" {
		// etcd serves the Go profiler under /debug/pprof with --enable-pprof
		// or --log-level=debug.
		httpMux.HandleFunc("/debug/pprof/", pprof.Index)
		httpMux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		httpMux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		httpMux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		httpMux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if cfg.EnableGRPCGateway {
		gwh, err := gatewayHandler(ctx, self.ActiveConnection())
		if err != nil {
			return err
		}
		httpMux.Handle("/v3/", gwh)
		httpMux.Handle("/v3beta/", gwh)
	}

	// Client listeners are bound now (a taken port fails the start) and
	// served once this member has published itself, as etcd does.
	clientEPs, closers, err := bindClients(lg, cfg, mtls, gs, httpMux)
	if err != nil {
		return err
	}
	peerMux := http.NewServeMux()
	peerMux.Handle("/raft", node.Handler())
	peerMux.Handle("/raft/", node.Handler())
	peerMux.Handle("/version", svc.HTTPHandler(config.Version))
	peerMux.Handle("/members", membersHandler(cluster))
	peerMux.Handle(api.PeerHashKVPath, api.PeerHashKVHandler(id.member, id.cluster, kv, lg))
	stopPeers, err := servePeers(lg, cfg, mtls, peerMux)
	closers = append(closers, stopPeers...)
	if err != nil {
		for _, c := range closers {
			c()
		}
		return err
	}

	promoteChecks := newPromoteChecks(reg)
	wg.Add(5)
	go func() {
		defer wg.Done()
		page.watchLeader(ctx)
	}()
	go func() {
		defer wg.Done()
		if cfg.AutoPromoteLearners {
			runLearnerPromotion(ctx, lg, node, svc, cluster, cfg.LearnerPromoteAfter, promoteChecks)
		}
	}()
	go func() {
		defer wg.Done()
		svc.RunCorruptionChecks(ctx, cfg.CorruptCheckTime, cfg.FeatureGates[config.GateCompactHashCheck], cfg.CompactHashCheckTime)
	}()
	go func() {
		defer wg.Done()
		if publish(ctx, lg, svc, node, id, cfg) {
			serveClients(lg, clientEPs)
			// systemd Type=notify: ready once clients are served.
			notifySystemd(lg)
		}
	}()
	go func() {
		defer wg.Done()
		runLeases(ctx, lg, node, svc, lessor)
	}()
	defer svc.CloseForwarding()

	select {
	case <-stopping.Done():
		// A graceful stop: the leader hands leadership to a caught-up
		// voter first, as etcd does, within one request timeout.
		tctx, tcancel := context.WithTimeout(ctx, 5*time.Second+2*cfg.ElectionTimeout)
		svc.TransferLeadershipOnStop(tctx)
		tcancel()
		cancel()
	case <-ctx.Done():
	}
	lg.Info("stopping concord member")
	// The member's own clients (Lock/Election, forwarding) hold streams
	// that GracefulStop would otherwise wait for.
	self.Close()
	svc.CloseForwarding()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		gs.Stop()
	}
	for _, c := range closers {
		c()
	}
	node.Stop()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func newGRPCServer(cfg *config.Config, svc *api.Server, m *api.Metrics) *grpc.Server {
	opts := []grpc.ServerOption{
		// Client listeners do the TLS handshake; the credentials hand
		// the peer's certificate to gRPC.
		grpc.Creds(tlsConnCreds{}),
		grpc.MaxRecvMsgSize(int(cfg.MaxRequestBytes) + grpcOverheadBytes),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		grpc.ChainUnaryInterceptor(svc.UnaryInterceptor),
		grpc.ChainStreamInterceptor(svc.StreamInterceptor),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: cfg.GRPCKeepAliveMinTime, PermitWithoutStream: false}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: cfg.GRPCKeepAliveInterval, Timeout: cfg.GRPCKeepAliveTimeout}),
	}
	// The metrics' interceptors go first: they see every call.
	gs := grpc.NewServer(append(m.ServerOptions(), opts...)...)
	pb.RegisterKVServer(gs, svc)
	pb.RegisterMaintenanceServer(gs, svc)
	pb.RegisterClusterServer(gs, svc)
	pb.RegisterWatchServer(gs, svc)
	pb.RegisterLeaseServer(gs, svc)
	pb.RegisterAuthServer(gs, svc)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	m.InitializeGRPC(gs)
	return gs
}

// runApply is the apply loop: the only writer of the replicated state.
func runApply(ctx context.Context, node *raftnode.Node, a *apply.Applier, cluster *membership.Cluster, hub *watch.Hub) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ap, ok := <-node.Apply():
			if !ok {
				return nil
			}
			if inst := ap.Snapshot; inst != nil {
				err := a.Restore(inst.WriteTo)
				inst.Done(err)
				if err != nil {
					return err
				}
				hub.Restored(a.Revision())
				node.UpdatePeers(peersOf(cluster))
			}
			if err := a.Apply(ap.Entries, ap.ConfState, raftnode.WriteConfState); err != nil {
				return err
			}
			if ap.ConfState != nil {
				node.UpdatePeers(peersOf(cluster))
			}
			node.ReportApplied(a.Applied().Index)
		}
	}
}

func peersOf(c *membership.Cluster) []raftnode.Peer {
	ms := c.Members()
	out := make([]raftnode.Peer, len(ms))
	for i, m := range ms {
		out[i] = raftnode.Peer{ID: m.ID, URLs: m.PeerURLs, Context: m.Marshal()}
	}
	return out
}

// publish proposes this member's name and client URLs once a leader is
// known, retrying until it is applied, as etcd's publishV3 does, so
// `member list` shows them; it reports whether it did before ctx ended.
func publish(ctx context.Context, lg *zap.Logger, svc *api.Server, node *raftnode.Node, id identity, cfg *config.Config) bool {
	req := &pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{
		Member_ID:        id.member,
		MemberAttributes: &membershippb.Attributes{Name: cfg.Name, ClientUrls: urlStrings(cfg.AdvertiseClientURLs)},
	}}
	for ctx.Err() == nil {
		changed := node.LeaderChanged()
		if node.Status().Leader == 0 {
			select {
			case <-ctx.Done():
				return false
			case <-changed:
				continue
			}
		}
		err := svc.ProposeInternal(ctx, req)
		if err == nil {
			// etcd's line and fields (local-member-id is on lg).
			attrs := req.ClusterMemberAttrSet.MemberAttributes
			lg.Info("published local member to cluster through raft",
				zap.String("local-member-attributes", fmt.Sprintf("{Name:%s ClientURLs:%v}", attrs.Name, attrs.ClientUrls)),
				zap.String("cluster-id", fmt.Sprintf("%x", id.cluster)),
				zap.Duration("publish-timeout", publishTimeout(cfg)))
			return true
		}
		lg.Debug("publish failed, retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false
}

func urlStrings(us []url.URL) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.String()
	}
	return out
}

// dbSize is the database size that Status, the db size metrics and the
// NOSPACE quota report, in bytes: the replicated state's share of the
// engine (its tables, plus the WAL's live bytes not yet flushed into
// them). The raft log is not counted, as etcd's db size does not count its
// WAL, so that compact + defrag reclaims what the quota measures. Pebble
// keeps no free pages, so all of it is in use.
func dbSize(db *pebble.DB) (int64, int64) {
	state, err := db.EstimateDiskUsage(storage.StateStart, storage.StateEnd)
	if err != nil {
		state = 0
	}
	size := int64(state) + int64(db.Metrics().WAL.Size)
	return size, size
}

// raftAdapter presents the raft node as api.Raft.
type raftAdapter struct{ n *raftnode.Node }

func (r raftAdapter) ActiveSince(id uint64) time.Time { return r.n.ActiveSince(id) }

func (r raftAdapter) Propose(ctx context.Context, data []byte) error {
	return mapRaftErr(r.n.Propose(ctx, data))
}

func (r raftAdapter) ProposeConfChange(ctx context.Context, cc raftpb.ConfChangeI) error {
	return mapRaftErr(r.n.ProposeConfChange(ctx, cc))
}

func (r raftAdapter) ReadIndex(ctx context.Context) (uint64, error) {
	i, err := r.n.ReadIndex(ctx)
	return i, mapRaftErr(err)
}

func (r raftAdapter) TransferLeadership(ctx context.Context, target uint64) error {
	return mapRaftErr(r.n.TransferLeadership(ctx, target))
}

func (r raftAdapter) LeaderChanged() <-chan struct{} { return r.n.LeaderChanged() }

func (r raftAdapter) Match(ctx context.Context, id uint64) (uint64, uint64, error) {
	m, l, err := r.n.Match(ctx, id)
	if errors.Is(err, raftnode.ErrNotLeader) {
		return 0, 0, fmt.Errorf("%w: %v", api.ErrNotLeader, err)
	}
	return m, l, mapRaftErr(err)
}

func (r raftAdapter) Status() api.RaftStatus {
	s := r.n.Status()
	return api.RaftStatus{Leader: s.Leader, Term: s.Term, CommitIndex: s.CommitIndex, IsLeader: s.IsLeader, IsLearner: s.IsLearner}
}

func mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raftnode.ErrNoLeader):
		return fmt.Errorf("%w: %v", api.ErrNoLeader, err)
	case errors.Is(err, raftnode.ErrStopped):
		return fmt.Errorf("%w: %v", api.ErrStopped, err)
	}
	return err
}

// selfClient is a client of this member's first client URL, for the
// services built on the client (Lock, Election, the gateway). Over TLS
// it uses mtls.selfClientConfig.
func selfClient(cfg *config.Config, mtls *memberTLS) (*clientv3.Client, error) {
	if len(cfg.ListenClientURLs) == 0 {
		return nil, errors.New("server: no --listen-client-urls")
	}
	u := cfg.ListenClientURLs[0]
	host := u.Host
	if h, p, err := net.SplitHostPort(u.Host); err == nil && (h == "" || h == "0.0.0.0" || h == "::") {
		host = net.JoinHostPort("127.0.0.1", p)
	}
	cc := clientv3.Config{Endpoints: []string{host}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if isSecure(u) {
		t, err := mtls.selfClientConfig()
		if err != nil {
			return nil, err
		}
		cc.TLS = t
	}
	if u.Scheme == "unix" || u.Scheme == "unixs" {
		cc.Endpoints = []string{u.Scheme + "://" + u.Host + u.Path}
	}
	return clientv3.New(cc)
}
