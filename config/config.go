package config

import (
	"math"
	"net/url"
	"time"
)

// Initial cluster states accepted by --initial-cluster-state.
const (
	// ClusterStateNew bootstraps a new cluster from --initial-cluster.
	ClusterStateNew = "new"
	// ClusterStateExisting joins a cluster that already runs (after
	// `member add`).
	ClusterStateExisting = "existing"
	// ClusterStateAuto (Concord only) is new for a member named in
	// --initial-cluster and existing for one that is not: one flag set
	// serves the first members of a cluster and the ones added later (a
	// StatefulSet's pods; see deploy/kubernetes). As with the others, it
	// is ignored once the member is initialised.
	ClusterStateAuto = "auto"
)

// Auto-compaction modes accepted by --auto-compaction-mode.
const (
	// CompactionModePeriodic keeps the revisions of the last retention
	// period (a duration, or hours when unit-less).
	CompactionModePeriodic = "periodic"
	// CompactionModeRevision keeps the last retention revisions.
	CompactionModeRevision = "revision"
)

// Defaults that are not obvious literals. Sizes are bytes, counts are
// entries.
const (
	// DefaultName is --name's default.
	DefaultName = "default"
	// DefaultDataDirSuffix is appended to --name when --data-dir is not
	// given: "<name>.concord" (etcd uses "<name>.etcd").
	DefaultDataDirSuffix = ".concord"
	// DefaultSnapshotCount is --snapshot-count's default (etcd 3.6's).
	DefaultSnapshotCount = 10000
	// DefaultSnapshotCatchUpEntries is --snapshot-catchup-entries' default:
	// raft log entries kept behind a snapshot for slow followers.
	DefaultSnapshotCatchUpEntries = 5000
	// DefaultMaxRequestBytes is --max-request-bytes' default, 1.5 MiB.
	DefaultMaxRequestBytes = 1572864
	// DefaultQuotaBackendBytes is what --quota-backend-bytes=0 means: 2 GiB.
	DefaultQuotaBackendBytes = 2 << 30
	// MaxElectionTimeout is the largest --election-timeout etcd accepts.
	MaxElectionTimeout = 50000 * time.Millisecond
	// DefaultListenPeerURL is --listen-peer-urls' and
	// --initial-advertise-peer-urls' default.
	DefaultListenPeerURL = "http://localhost:2380"
	// DefaultListenClientURL is --listen-client-urls' and
	// --advertise-client-urls' default.
	DefaultListenClientURL = "http://localhost:2379"
	// DefaultLogRotationConfigJSON is --log-rotation-config-json's default.
	DefaultLogRotationConfigJSON = `{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}`
)

// Config is the whole configuration of one member. Field comments name the
// etcd flag each field carries (YAML config-file keys are the same names);
// where etcd has a 3.5 --experimental-* spelling and a 3.6 name, both set
// the one field named here.
//
// URL lists are []url.URL in the order given; durations are time.Duration
// (flags etcd counts in milliseconds or seconds are converted on parsing);
// sizes are bytes.
type Config struct {
	// --- Member ---

	// Name is --name: this member's human-readable name, the key of its
	// entry in InitialCluster.
	Name string
	// DataDir is --data-dir; default "<Name>.concord".
	DataDir string
	// WALDir is --wal-dir: where the write-ahead log goes; empty keeps it
	// inside DataDir.
	WALDir string
	// SnapshotCount is --snapshot-count: applied entries between raft
	// snapshots (and raft log truncations).
	SnapshotCount uint64
	// SnapshotCatchUpEntries is --snapshot-catchup-entries (3.5:
	// --experimental-snapshot-catchup-entries): entries kept in the raft
	// log after a snapshot so slow followers catch up without one.
	SnapshotCatchUpEntries uint64
	// HeartbeatInterval is --heartbeat-interval (integer milliseconds on
	// the command line): the raft tick.
	HeartbeatInterval time.Duration
	// ElectionTimeout is --election-timeout (integer milliseconds): at
	// least 5 × HeartbeatInterval, at most MaxElectionTimeout.
	ElectionTimeout time.Duration
	// InitialElectionTickAdvance is --initial-election-tick-advance:
	// fast-forward election ticks on boot.
	InitialElectionTickAdvance bool
	// ListenPeerURLs is --listen-peer-urls: raft peer listeners.
	ListenPeerURLs []url.URL
	// ListenClientURLs is --listen-client-urls: gRPC and HTTP client
	// listeners (unix:// allowed).
	ListenClientURLs []url.URL
	// ListenClientHTTPURLs is --listen-client-http-urls: HTTP-only client
	// listeners; empty serves HTTP on ListenClientURLs.
	ListenClientHTTPURLs []url.URL
	// MaxSnapshots is --max-snapshots (snapshot files kept; no meaning for
	// Concord, which keeps no snapshot files).
	MaxSnapshots uint
	// MaxWALs is --max-wals (WAL files kept; no meaning for Concord).
	MaxWALs uint
	// MemoryMlock is --memory-mlock (3.5: --experimental-memory-mlock).
	MemoryMlock bool
	// QuotaBackendBytes is --quota-backend-bytes: database size that
	// raises the NOSPACE alarm; 0 means DefaultQuotaBackendBytes, a
	// negative value disables the quota (as etcd, which logs "disabled
	// backend quota").
	QuotaBackendBytes int64
	// BackendFreelistType is --backend-bbolt-freelist-type ("map" or
	// "array"; bbolt only).
	BackendFreelistType string
	// BackendBatchInterval is --backend-batch-interval (bbolt only; 0 is
	// etcd's 100ms).
	BackendBatchInterval time.Duration
	// BackendBatchLimit is --backend-batch-limit (bbolt only; 0 is etcd's
	// 10000).
	BackendBatchLimit int
	// MaxTxnOps is --max-txn-ops: operations allowed in one Txn.
	MaxTxnOps uint
	// MaxRequestBytes is --max-request-bytes: largest client request.
	MaxRequestBytes uint64
	// MaxConcurrentStreams is --max-concurrent-streams: gRPC streams per
	// client connection.
	MaxConcurrentStreams uint32
	// GRPCKeepAliveMinTime is --grpc-keepalive-min-time: the shortest
	// keepalive ping interval a client may use.
	GRPCKeepAliveMinTime time.Duration
	// GRPCKeepAliveInterval is --grpc-keepalive-interval: server-to-client
	// ping frequency.
	GRPCKeepAliveInterval time.Duration
	// GRPCKeepAliveTimeout is --grpc-keepalive-timeout: how long to wait
	// for a ping answer before closing the connection.
	GRPCKeepAliveTimeout time.Duration
	// SocketReusePort is --socket-reuse-port (SO_REUSEPORT on listeners).
	SocketReusePort bool
	// SocketReuseAddress is --socket-reuse-address (SO_REUSEADDR).
	SocketReuseAddress bool
	// EnableGRPCGateway is --enable-grpc-gateway: serve the /v3/* JSON
	// gateway.
	EnableGRPCGateway bool
	// RaftReadTimeout is --raft-read-timeout: peer connection read timeout.
	RaftReadTimeout time.Duration
	// RaftWriteTimeout is --raft-write-timeout: peer connection write
	// timeout.
	RaftWriteTimeout time.Duration
	// FeatureGates is --feature-gates resolved: every gate of
	// KnownFeatureGates with its effective value (the default unless the
	// user set it, directly or through a 3.5 --experimental-* flag).
	FeatureGates map[string]bool
	// MaxLearners is --max-learners: learners allowed in the cluster.
	MaxLearners int
	// UnsafeNoFsync is --unsafe-no-fsync: skip fsync (data loss on crash).
	UnsafeNoFsync bool
	// ForceNewCluster is --force-new-cluster: restart as a one-member
	// cluster from this member's data.
	ForceNewCluster bool
	// CorruptCheckTime is --corrupt-check-time (3.5:
	// --experimental-corrupt-check-time): period of the peer hash check;
	// 0 disables it.
	CorruptCheckTime time.Duration
	// CompactHashCheckTime is --compact-hash-check-time (3.5:
	// --experimental-compact-hash-check-time).
	CompactHashCheckTime time.Duration
	// CompactionBatchLimit is --compaction-batch-limit (3.5:
	// --experimental-compaction-batch-limit): keys deleted per compaction
	// batch.
	CompactionBatchLimit int
	// CompactionSleepInterval is --compaction-sleep-interval (3.5:
	// --experimental-compaction-sleep-interval): pause between batches.
	CompactionSleepInterval time.Duration
	// WatchProgressNotifyInterval is --watch-progress-notify-interval
	// (3.5: --experimental-watch-progress-notify-interval): period of
	// progress notifications to watchers that asked for them.
	WatchProgressNotifyInterval time.Duration
	// DowngradeCheckTime is --downgrade-check-time (3.5:
	// --experimental-downgrade-check-time).
	DowngradeCheckTime time.Duration
	// WarningApplyDuration is --warning-apply-duration (3.5:
	// --experimental-warning-apply-duration): applies slower than this log
	// "apply request took too long".
	WarningApplyDuration time.Duration
	// WarningUnaryRequestDuration is --warning-unary-request-duration
	// (also --experimental-warning-unary-request-duration): unary requests
	// slower than this log "request stats".
	WarningUnaryRequestDuration time.Duration
	// BootstrapDefragThresholdMegabytes is
	// --bootstrap-defrag-threshold-megabytes (3.5:
	// --experimental-bootstrap-defrag-threshold-megabytes).
	BootstrapDefragThresholdMegabytes uint

	// --- Clustering ---

	// InitialAdvertisePeerURLs is --initial-advertise-peer-urls: this
	// member's peer URLs as published at bootstrap; must equal its entry
	// in InitialCluster.
	InitialAdvertisePeerURLs []url.URL
	// InitialCluster is --initial-cluster parsed: the bootstrap members
	// in the order given.
	InitialCluster InitialCluster
	// InitialClusterState is --initial-cluster-state: ClusterStateNew,
	// ClusterStateExisting or ClusterStateAuto; ignored once the member is
	// initialised.
	InitialClusterState string
	// InitialClusterToken is --initial-cluster-token: salt of the cluster
	// and member IDs.
	InitialClusterToken string
	// AdvertiseClientURLs is --advertise-client-urls: client URLs
	// published in the member list. Required when ListenClientURLs is set
	// explicitly (etcd's rule).
	AdvertiseClientURLs []url.URL
	// Discovery holds the --discovery* flags.
	Discovery Discovery
	// StrictReconfigCheck is --strict-reconfig-check: reject membership
	// changes that would lose quorum.
	StrictReconfigCheck bool
	// PreVote is --pre-vote: raft pre-vote.
	PreVote bool
	// AutoCompactionMode is --auto-compaction-mode: CompactionModePeriodic
	// or CompactionModeRevision.
	AutoCompactionMode string
	// AutoCompactionRetention is --auto-compaction-retention as given
	// ("0" disables); read it with AutoCompactionPeriod or
	// AutoCompactionRevisions.
	AutoCompactionRetention string
	// EnableV2 is 3.5's --enable-v2 (the v2 API; not served).
	EnableV2 bool
	// V2Deprecation is --v2-deprecation (accepted, no v2 store exists).
	V2Deprecation string
	// ExperimentalEnableV2V3 is 3.5's --experimental-enable-v2v3.
	ExperimentalEnableV2V3 string
	// Proxy is 3.5's --proxy ("off", "readonly" or "on"; the v2 proxy is
	// not served).
	Proxy string
	// ProxyTimeouts holds 3.5's --proxy-failure-wait,
	// --proxy-refresh-interval, --proxy-dial-timeout,
	// --proxy-write-timeout and --proxy-read-timeout (integer
	// milliseconds), accepted for old units and unused.
	ProxyTimeouts ProxyTimeouts

	// --- Security ---

	// ClientTLS is the client-facing TLS (--cert-file, --key-file,
	// --client-cert-auth, --trusted-ca-file, --auto-tls, ...).
	ClientTLS TLSInfo
	// PeerTLS is the peer TLS (--peer-cert-file, ...,
	// --peer-skip-client-san-verification).
	PeerTLS TLSInfo
	// SelfSignedCertValidity is --self-signed-cert-validity in years.
	SelfSignedCertValidity uint
	// CipherSuites is --cipher-suites (Go names); empty is Go's default.
	CipherSuites []string
	// CORS is --cors: allowed origins ("*" all).
	CORS []string
	// HostWhitelist is --host-whitelist ("*" all).
	HostWhitelist []string
	// TLSMinVersion is --tls-min-version ("TLS1.2" default).
	TLSMinVersion string
	// TLSMaxVersion is --tls-max-version (empty: Go's highest).
	TLSMaxVersion string

	// --- Auth ---

	// AuthToken is --auth-token: "simple" or
	// "jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...".
	AuthToken string
	// BcryptCost is --bcrypt-cost (4..31).
	BcryptCost uint
	// AuthTokenTTL is --auth-token-ttl (integer seconds on the command
	// line): lifetime of simple tokens.
	AuthTokenTTL time.Duration

	// --- Profiling and monitoring ---

	// EnablePprof is --enable-pprof: /debug/pprof on the client URLs.
	EnablePprof bool
	// Metrics is --metrics: "basic" or "extensive".
	Metrics string
	// ListenMetricsURLs is --listen-metrics-urls: extra plain listeners
	// for /metrics and /health.
	ListenMetricsURLs []url.URL
	// Tracing holds the OpenTelemetry --distributed-tracing-* flags.
	Tracing Tracing

	// --- Logging ---

	// Logger is --logger; only "zap".
	Logger string
	// LogOutputs is --log-outputs: "default" (stderr), "stderr",
	// "stdout", "systemd/journal" or file paths.
	LogOutputs []string
	// LogLevel is --log-level: debug, info, warn, error, panic or fatal.
	LogLevel string
	// LogFormat is --log-format: "json" or "console".
	LogFormat string
	// EnableLogRotation is --enable-log-rotation.
	EnableLogRotation bool
	// LogRotationConfigJSON is --log-rotation-config-json.
	LogRotationConfigJSON string

	// --- Concord only ---

	// LeaseCheckpoint is --lease-checkpoint: leaders checkpoint remaining
	// lease TTLs through raft so they survive leader changes. Default true
	// (etcd's LeaseCheckpoint gate defaults to false); the etcd spellings
	// --experimental-enable-lease-checkpoint and
	// --feature-gates=LeaseCheckpoint=... set it too, and
	// FeatureGates["LeaseCheckpoint"] always equals it after parsing.
	LeaseCheckpoint bool
	// LeaseCheckpointInterval is --lease-checkpoint-interval: how often the
	// leader persists each lease's remaining TTL through raft (default 15s;
	// etcd's checkpoints, when enabled, are every 5 minutes). A new leader
	// starts a lease from its last checkpoint, so a lease outlives its TTL
	// by at most this much after a leader change; leases with less left
	// than the interval are not checkpointed and restart at their TTL.
	LeaseCheckpointInterval time.Duration
	// AutoPromoteLearners is --auto-promote-learners: the leader promotes
	// a learner to voter once its raft log has stayed within etcd's
	// MemberPromote rule (match ≥ 90% of the leader's) for
	// LearnerPromoteAfter, unless the promotion would leave fewer
	// connected voters than the new quorum. Default true.
	AutoPromoteLearners bool
	// LearnerPromoteAfter is --learner-promote-after: how long a learner
	// must stay caught up before it is promoted (default 5s; 0 promotes at
	// the first check that finds it caught up).
	LearnerPromoteAfter time.Duration
}

// TLSInfo is one TLS block: the client one (--cert-file, ...) or the peer
// one (--peer-cert-file, ...); in the YAML config file it is
// client-transport-security or peer-transport-security.
type TLSInfo struct {
	// CertFile and KeyFile are the server certificate and key (PEM).
	CertFile string
	KeyFile  string
	// ClientCertFile and ClientKeyFile are the certificate and key this
	// member presents when it dials as a client; empty uses CertFile and
	// KeyFile.
	ClientCertFile string
	ClientKeyFile  string
	// TrustedCAFile is the CA bundle verifying client certificates.
	TrustedCAFile string
	// ClientCertAuth requires and verifies client certificates.
	ClientCertAuth bool
	// CRLFile is a certificate revocation list.
	CRLFile string
	// AllowedCN restricts accepted client certificates to these common
	// names (peer: --peer-cert-allowed-cn).
	AllowedCN []string
	// AllowedHostname restricts accepted client certificates to these SAN
	// host names.
	AllowedHostname []string
	// AutoTLS generates a self-signed certificate when CertFile is empty.
	AutoTLS bool
	// SkipClientSANVerify skips the SAN check of client certificates
	// (peer only: --peer-skip-client-san-verification).
	SkipClientSANVerify bool
}

// Empty reports whether no TLS setting is present (plain connections).
func (t TLSInfo) Empty() bool {
	return t.CertFile == "" && t.KeyFile == "" && t.TrustedCAFile == "" &&
		t.ClientCertFile == "" && t.ClientKeyFile == "" && t.CRLFile == "" &&
		!t.ClientCertAuth && !t.AutoTLS && len(t.AllowedCN) == 0 &&
		len(t.AllowedHostname) == 0 && !t.SkipClientSANVerify
}

// Discovery holds etcd's cluster discovery settings: v2 (--discovery,
// --discovery-proxy), v3 (--discovery-token, --discovery-endpoints, ...)
// and DNS SRV (--discovery-srv, --discovery-srv-name).
type Discovery struct {
	URL                   string        // --discovery
	Fallback              string        // --discovery-fallback: "exit" or "proxy"
	Proxy                 string        // --discovery-proxy
	SRV                   string        // --discovery-srv
	SRVName               string        // --discovery-srv-name
	Token                 string        // --discovery-token
	Endpoints             []string      // --discovery-endpoints
	DialTimeout           time.Duration // --discovery-dial-timeout
	RequestTimeout        time.Duration // --discovery-request-timeout
	KeepAliveTime         time.Duration // --discovery-keepalive-time
	KeepAliveTimeout      time.Duration // --discovery-keepalive-timeout
	InsecureTransport     bool          // --discovery-insecure-transport
	InsecureSkipTLSVerify bool          // --discovery-insecure-skip-tls-verify
	Cert                  string        // --discovery-cert
	Key                   string        // --discovery-key
	CACert                string        // --discovery-cacert
	User                  string        // --discovery-user
	Password              string        // --discovery-password
}

// Enabled reports whether any discovery method is configured.
func (d Discovery) Enabled() bool {
	return d.URL != "" || d.SRV != "" || d.SRVName != "" || len(d.Endpoints) > 0 || d.Token != ""
}

// ProxyTimeouts are etcd 3.5's v2 proxy timings; defaults 5000, 30000,
// 1000, 5000 and 0 ms.
type ProxyTimeouts struct {
	FailureWait     time.Duration // --proxy-failure-wait
	RefreshInterval time.Duration // --proxy-refresh-interval
	DialTimeout     time.Duration // --proxy-dial-timeout
	WriteTimeout    time.Duration // --proxy-write-timeout
	ReadTimeout     time.Duration // --proxy-read-timeout
}

// Tracing holds the OpenTelemetry settings (3.6 --distributed-tracing-*,
// 3.5 --experimental-distributed-tracing-*).
type Tracing struct {
	Enabled                bool   // --enable-distributed-tracing
	Address                string // --distributed-tracing-address
	ServiceName            string // --distributed-tracing-service-name
	InstanceID             string // --distributed-tracing-instance-id
	SamplingRatePerMillion int    // --distributed-tracing-sampling-rate
}

// DefaultConfig returns a fresh Config holding etcd 3.6's defaults, except
// DataDir ("default.concord") and the Concord-only switches (both true).
// With no flags at all it describes a one-member cluster
// "default=http://localhost:2380" serving clients on
// http://localhost:2379.
func DefaultConfig() *Config {
	c := &Config{
		Name:                        DefaultName,
		DataDir:                     DefaultName + DefaultDataDirSuffix,
		SnapshotCount:               DefaultSnapshotCount,
		SnapshotCatchUpEntries:      DefaultSnapshotCatchUpEntries,
		HeartbeatInterval:           100 * time.Millisecond,
		ElectionTimeout:             1000 * time.Millisecond,
		InitialElectionTickAdvance:  true,
		ListenPeerURLs:              mustURLs(DefaultListenPeerURL),
		ListenClientURLs:            mustURLs(DefaultListenClientURL),
		MaxSnapshots:                5,
		MaxWALs:                     5,
		BackendFreelistType:         "map",
		MaxTxnOps:                   128,
		MaxRequestBytes:             DefaultMaxRequestBytes,
		MaxConcurrentStreams:        math.MaxUint32,
		GRPCKeepAliveMinTime:        5 * time.Second,
		GRPCKeepAliveInterval:       2 * time.Hour,
		GRPCKeepAliveTimeout:        20 * time.Second,
		EnableGRPCGateway:           true,
		RaftReadTimeout:             5 * time.Second,
		RaftWriteTimeout:            5 * time.Second,
		FeatureGates:                DefaultFeatureGates(),
		MaxLearners:                 1,
		CompactHashCheckTime:        time.Minute,
		CompactionBatchLimit:        1000,
		CompactionSleepInterval:     10 * time.Millisecond,
		WatchProgressNotifyInterval: 10 * time.Minute,
		DowngradeCheckTime:          5 * time.Second,
		WarningApplyDuration:        100 * time.Millisecond,
		WarningUnaryRequestDuration: 300 * time.Millisecond,

		InitialAdvertisePeerURLs: mustURLs(DefaultListenPeerURL),
		InitialCluster: InitialCluster{
			{Name: DefaultName, PeerURLs: mustURLs(DefaultListenPeerURL)},
		},
		InitialClusterState: ClusterStateNew,
		InitialClusterToken: "etcd-cluster",
		AdvertiseClientURLs: mustURLs(DefaultListenClientURL),
		Discovery: Discovery{
			Fallback:          "exit",
			DialTimeout:       2 * time.Second,
			RequestTimeout:    5 * time.Second,
			KeepAliveTime:     2 * time.Second,
			KeepAliveTimeout:  6 * time.Second,
			InsecureTransport: true,
		},
		StrictReconfigCheck:     true,
		PreVote:                 true,
		AutoCompactionMode:      CompactionModePeriodic,
		AutoCompactionRetention: "0",
		V2Deprecation:           "write-only",
		Proxy:                   "off",
		ProxyTimeouts: ProxyTimeouts{
			FailureWait:     5000 * time.Millisecond,
			RefreshInterval: 30000 * time.Millisecond,
			DialTimeout:     1000 * time.Millisecond,
			WriteTimeout:    5000 * time.Millisecond,
		},

		SelfSignedCertValidity: 1,
		CORS:                   []string{"*"},
		HostWhitelist:          []string{"*"},
		TLSMinVersion:          "TLS1.2",

		AuthToken:    "simple",
		BcryptCost:   10,
		AuthTokenTTL: 300 * time.Second,

		Metrics: "basic",
		Tracing: Tracing{
			Address:     "localhost:4317",
			ServiceName: "etcd",
		},

		Logger:                "zap",
		LogOutputs:            []string{"default"},
		LogLevel:              "info",
		LogFormat:             "json",
		LogRotationConfigJSON: DefaultLogRotationConfigJSON,

		LeaseCheckpoint:         true,
		LeaseCheckpointInterval: 15 * time.Second,
		AutoPromoteLearners:     true,
		LearnerPromoteAfter:     5 * time.Second,
	}
	return c
}

// DefaultDataDir is the data directory used when --data-dir is not given:
// "<name>.concord".
func DefaultDataDir(name string) string {
	if name == "" {
		name = DefaultName
	}
	return name + DefaultDataDirSuffix
}

// QuotaBytes is the effective backend quota in bytes: QuotaBackendBytes,
// or DefaultQuotaBackendBytes when that is 0 (etcd's rule); negative (the
// quota disabled) is returned as is, as etcd reports it in
// etcd_server_quota_backend_bytes.
func (c *Config) QuotaBytes() int64 {
	if c.QuotaBackendBytes == 0 {
		return DefaultQuotaBackendBytes
	}
	return c.QuotaBackendBytes
}

// ElectionTicks is ElectionTimeout in heartbeat ticks, as raft.Config's
// ElectionTick wants it.
func (c *Config) ElectionTicks() int {
	if c.HeartbeatInterval <= 0 {
		return 0
	}
	return int(c.ElectionTimeout / c.HeartbeatInterval)
}

func mustURLs(s string) []url.URL {
	us, err := ParseURLs(s)
	if err != nil {
		panic(err)
	}
	return us
}

// JoinsExisting reports whether a member with a new data dir joins a
// running cluster (--initial-cluster-state existing, or auto with --name
// not in --initial-cluster) rather than bootstrapping one.
func (c *Config) JoinsExisting() bool {
	switch c.InitialClusterState {
	case ClusterStateExisting:
		return true
	case ClusterStateAuto:
		_, found := c.InitialCluster.Lookup(c.Name)
		return !found
	}
	return false
}
