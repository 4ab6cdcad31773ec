package main

import (
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/concord-kv/concord/config"
)

// flagState holds what the flags carry besides *config.Config: the
// switches that steer parsing itself and the raw gate settings, resolved
// into cfg.FeatureGates once every source has been read.
type flagState struct {
	configFile string
	version    bool
	// gates are the gates --feature-gates named.
	gates    map[string]bool
	gatesRaw string
	// gateFlags are the gates set through 3.5 --experimental-* flags.
	gateFlags map[string]bool
}

// renamedFlags pairs each 3.5 --experimental-* flag with its 3.6 name;
// both are bound to the same Config field.
var renamedFlags = []struct{ old, new string }{
	{"experimental-snapshot-catchup-entries", "snapshot-catchup-entries"},
	{"experimental-memory-mlock", "memory-mlock"},
	{"experimental-corrupt-check-time", "corrupt-check-time"},
	{"experimental-compact-hash-check-time", "compact-hash-check-time"},
	{"experimental-compaction-batch-limit", "compaction-batch-limit"},
	{"experimental-compaction-sleep-interval", "compaction-sleep-interval"},
	{"experimental-watch-progress-notify-interval", "watch-progress-notify-interval"},
	{"experimental-downgrade-check-time", "downgrade-check-time"},
	{"experimental-warning-apply-duration", "warning-apply-duration"},
	{"experimental-warning-unary-request-duration", "warning-unary-request-duration"},
	{"experimental-bootstrap-defrag-threshold-megabytes", "bootstrap-defrag-threshold-megabytes"},
	{"experimental-peer-skip-client-san-verification", "peer-skip-client-san-verification"},
	{"experimental-enable-distributed-tracing", "enable-distributed-tracing"},
	{"experimental-distributed-tracing-address", "distributed-tracing-address"},
	{"experimental-distributed-tracing-service-name", "distributed-tracing-service-name"},
	{"experimental-distributed-tracing-instance-id", "distributed-tracing-instance-id"},
	{"experimental-distributed-tracing-sampling-rate", "distributed-tracing-sampling-rate"},
}

// gateFlags pairs each 3.5 boolean --experimental-* flag with the 3.6
// feature gate that replaced it.
var gateFlags = []struct{ flag, gate string }{
	{"experimental-initial-corrupt-check", config.GateInitialCorruptCheck},
	{"experimental-compact-hash-check-enabled", config.GateCompactHashCheck},
	{"experimental-enable-lease-checkpoint", config.GateLeaseCheckpoint},
	{"experimental-enable-lease-checkpoint-persist", config.GateLeaseCheckpointPersist},
	{"experimental-txn-mode-write-with-shared-buffer", config.GateTxnModeWriteWithSharedBuffer},
	{"experimental-stop-grpc-service-on-defrag", config.GateStopGRPCServiceOnDefrag},
}

// newFlagSet binds etcd's server flags (names, defaults and meanings of
// etcd 3.5 and 3.6) and Concord's own to cfg and st. The set prints
// nothing itself: parse reports its errors.
func newFlagSet(cfg *config.Config, st *flagState) *pflag.FlagSet {
	fs := pflag.NewFlagSet("concord", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false

	// Parsing itself.
	fs.StringVar(&st.configFile, "config-file", "", "Path to the server configuration file (YAML, etcd's keys). If given, other command line flags and environment variables are ignored.")
	fs.BoolVar(&st.version, "version", false, "Print the version and exit.")

	// Member.
	fs.StringVar(&cfg.Name, "name", cfg.Name, "Human-readable name for this member.")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "Path to the data directory (default \"<name>.concord\").")
	fs.StringVar(&cfg.WALDir, "wal-dir", cfg.WALDir, "Path to the dedicated WAL directory.")
	fs.Uint64Var(&cfg.SnapshotCount, "snapshot-count", cfg.SnapshotCount, "Number of committed transactions to trigger a snapshot.")
	fs.Var(unitDurationValue{&cfg.HeartbeatInterval, time.Millisecond}, "heartbeat-interval", "Time (in milliseconds) of a heartbeat interval.")
	fs.Var(unitDurationValue{&cfg.ElectionTimeout, time.Millisecond}, "election-timeout", "Time (in milliseconds) for an election to timeout.")
	fs.BoolVar(&cfg.InitialElectionTickAdvance, "initial-election-tick-advance", cfg.InitialElectionTickAdvance, "Whether to fast-forward initial election ticks on boot for faster election.")
	fs.Var(urlsValue{&cfg.ListenPeerURLs}, "listen-peer-urls", "List of URLs to listen on for peer traffic.")
	fs.Var(urlsValue{&cfg.ListenClientURLs}, "listen-client-urls", "List of URLs to listen on for client gRPC traffic and HTTP (unless --listen-client-http-urls is given).")
	fs.Var(urlsValue{&cfg.ListenClientHTTPURLs}, "listen-client-http-urls", "List of URLs to listen on for HTTP-only client traffic.")
	fs.UintVar(&cfg.MaxSnapshots, "max-snapshots", cfg.MaxSnapshots, "Maximum number of snapshot files to retain (no effect in Concord).")
	fs.UintVar(&cfg.MaxWALs, "max-wals", cfg.MaxWALs, "Maximum number of wal files to retain (no effect in Concord).")
	fs.BoolVar(&cfg.MemoryMlock, "memory-mlock", cfg.MemoryMlock, "Lock the process memory in RAM.")
	fs.BoolVar(&cfg.MemoryMlock, "experimental-memory-mlock", cfg.MemoryMlock, "Deprecated: use --memory-mlock.")
	fs.Int64Var(&cfg.QuotaBackendBytes, "quota-backend-bytes", cfg.QuotaBackendBytes, "Raise alarms when backend size exceeds the given quota (0 defaults to low space quota, 2 GiB).")
	fs.StringVar(&cfg.BackendFreelistType, "backend-bbolt-freelist-type", cfg.BackendFreelistType, "BackendFreelistType specifies the type of freelist that boltdb backend uses (array and map are supported types; no effect in Concord).")
	fs.DurationVar(&cfg.BackendBatchInterval, "backend-batch-interval", cfg.BackendBatchInterval, "BackendBatchInterval is the maximum time before commit the backend transaction (no effect in Concord).")
	fs.IntVar(&cfg.BackendBatchLimit, "backend-batch-limit", cfg.BackendBatchLimit, "BackendBatchLimit is the maximum operations before commit the backend transaction (no effect in Concord).")
	fs.UintVar(&cfg.MaxTxnOps, "max-txn-ops", cfg.MaxTxnOps, "Maximum number of operations permitted in a transaction.")
	fs.Uint64Var(&cfg.MaxRequestBytes, "max-request-bytes", cfg.MaxRequestBytes, "Maximum client request size in bytes the server will accept.")
	fs.Uint32Var(&cfg.MaxConcurrentStreams, "max-concurrent-streams", cfg.MaxConcurrentStreams, "Maximum concurrent streams that each client can open at a time.")
	fs.DurationVar(&cfg.GRPCKeepAliveMinTime, "grpc-keepalive-min-time", cfg.GRPCKeepAliveMinTime, "Minimum interval duration that a client should wait before pinging server.")
	fs.DurationVar(&cfg.GRPCKeepAliveInterval, "grpc-keepalive-interval", cfg.GRPCKeepAliveInterval, "Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).")
	fs.DurationVar(&cfg.GRPCKeepAliveTimeout, "grpc-keepalive-timeout", cfg.GRPCKeepAliveTimeout, "Additional duration of wait before closing a non-responsive connection (0 to disable).")
	fs.BoolVar(&cfg.SocketReusePort, "socket-reuse-port", cfg.SocketReusePort, "Enable to set socket option SO_REUSEPORT on listeners allowing rebinding of a port already in use.")
	fs.BoolVar(&cfg.SocketReuseAddress, "socket-reuse-address", cfg.SocketReuseAddress, "Enable to set socket option SO_REUSEADDR on listeners allowing binding to an address in TIME_WAIT state.")
	fs.BoolVar(&cfg.EnableGRPCGateway, "enable-grpc-gateway", cfg.EnableGRPCGateway, "Enable GRPC gateway.")
	fs.DurationVar(&cfg.RaftReadTimeout, "raft-read-timeout", cfg.RaftReadTimeout, "Read timeout set on each rafthttp connection.")
	fs.DurationVar(&cfg.RaftWriteTimeout, "raft-write-timeout", cfg.RaftWriteTimeout, "Write timeout set on each rafthttp connection.")
	fs.Var(featureGatesValue{&st.gates, &st.gatesRaw}, "feature-gates", "A set of key=value pairs that describe server level feature gates for alpha/experimental features ("+config.FeatureGatesString(config.DefaultFeatureGates())+").")
	fs.IntVar(&cfg.MaxLearners, "max-learners", cfg.MaxLearners, "Set the max number of learner members allowed in the cluster membership.")
	fs.BoolVar(&cfg.UnsafeNoFsync, "unsafe-no-fsync", cfg.UnsafeNoFsync, "Disables fsync, unsafe, will cause data loss.")
	fs.BoolVar(&cfg.ForceNewCluster, "force-new-cluster", cfg.ForceNewCluster, "Force to create a new one member cluster.")

	// Clustering.
	fs.Var(urlsValue{&cfg.InitialAdvertisePeerURLs}, "initial-advertise-peer-urls", "List of this member's peer URLs to advertise to the rest of the cluster.")
	fs.Var(initialClusterValue{&cfg.InitialCluster}, "initial-cluster", "Initial cluster configuration for bootstrapping (default \"<name>=<initial-advertise-peer-urls>\").")
	fs.StringVar(&cfg.InitialClusterState, "initial-cluster-state", cfg.InitialClusterState, "Initial cluster state ('new' or 'existing'; Concord: 'auto' is new when --name is in --initial-cluster, else existing).")
	fs.StringVar(&cfg.InitialClusterToken, "initial-cluster-token", cfg.InitialClusterToken, "Initial cluster token for the cluster during bootstrap.")
	fs.Var(urlsValue{&cfg.AdvertiseClientURLs}, "advertise-client-urls", "List of this member's client URLs to advertise to the public.")
	fs.StringVar(&cfg.Discovery.URL, "discovery", "", "Discovery URL used to bootstrap the cluster (v2 discovery).")
	fs.StringVar(&cfg.Discovery.Fallback, "discovery-fallback", cfg.Discovery.Fallback, "Expected behavior ('exit') when discovery services fails.")
	fs.StringVar(&cfg.Discovery.Proxy, "discovery-proxy", "", "HTTP proxy to use for traffic to discovery service.")
	fs.StringVar(&cfg.Discovery.SRV, "discovery-srv", "", "DNS domain used to bootstrap initial cluster.")
	fs.StringVar(&cfg.Discovery.SRVName, "discovery-srv-name", "", "Suffix to the dns srv name queried when bootstrapping.")
	fs.StringVar(&cfg.Discovery.Token, "discovery-token", "", "V3 discovery: discovery token for the cluster to bootstrap.")
	fs.Var(stringsValue{&cfg.Discovery.Endpoints}, "discovery-endpoints", "V3 discovery: List of gRPC endpoints of the discovery service.")
	fs.DurationVar(&cfg.Discovery.DialTimeout, "discovery-dial-timeout", cfg.Discovery.DialTimeout, "V3 discovery: dial timeout for client connections.")
	fs.DurationVar(&cfg.Discovery.RequestTimeout, "discovery-request-timeout", cfg.Discovery.RequestTimeout, "V3 discovery: timeout for discovery requests (excluding dial timeout).")
	fs.DurationVar(&cfg.Discovery.KeepAliveTime, "discovery-keepalive-time", cfg.Discovery.KeepAliveTime, "V3 discovery: keepalive time for client connections.")
	fs.DurationVar(&cfg.Discovery.KeepAliveTimeout, "discovery-keepalive-timeout", cfg.Discovery.KeepAliveTimeout, "V3 discovery: keepalive timeout for client connections.")
	fs.BoolVar(&cfg.Discovery.InsecureTransport, "discovery-insecure-transport", cfg.Discovery.InsecureTransport, "V3 discovery: disable transport security for client connections.")
	fs.BoolVar(&cfg.Discovery.InsecureSkipTLSVerify, "discovery-insecure-skip-tls-verify", cfg.Discovery.InsecureSkipTLSVerify, "V3 discovery: skip server certificate verification.")
	fs.StringVar(&cfg.Discovery.Cert, "discovery-cert", "", "V3 discovery: identify secure client using this TLS certificate file.")
	fs.StringVar(&cfg.Discovery.Key, "discovery-key", "", "V3 discovery: identify secure client using this TLS key file.")
	fs.StringVar(&cfg.Discovery.CACert, "discovery-cacert", "", "V3 discovery: verify certificates of TLS-enabled secure servers using this CA bundle.")
	fs.StringVar(&cfg.Discovery.User, "discovery-user", "", "V3 discovery: username[:password] for authentication.")
	fs.StringVar(&cfg.Discovery.Password, "discovery-password", "", "V3 discovery: password for authentication (if this option is used, --user option shouldn't include password).")
	fs.BoolVar(&cfg.StrictReconfigCheck, "strict-reconfig-check", cfg.StrictReconfigCheck, "Reject reconfiguration requests that would cause quorum loss.")
	fs.BoolVar(&cfg.PreVote, "pre-vote", cfg.PreVote, "Enable the raft Pre-Vote algorithm to prevent disruption when a node that has been partitioned away rejoins the cluster.")
	fs.StringVar(&cfg.AutoCompactionRetention, "auto-compaction-retention", cfg.AutoCompactionRetention, "Auto compaction retention for mvcc key value store. 0 means disable auto compaction.")
	fs.StringVar(&cfg.AutoCompactionMode, "auto-compaction-mode", cfg.AutoCompactionMode, "Interpret 'auto-compaction-retention' one of: periodic|revision.")
	fs.BoolVar(&cfg.EnableV2, "enable-v2", cfg.EnableV2, "etcd 3.5: accept etcd V2 client requests (not served by Concord).")
	fs.StringVar(&cfg.V2Deprecation, "v2-deprecation", cfg.V2Deprecation, "v2store deprecation stage (accepted; Concord has no v2 store).")
	fs.StringVar(&cfg.ExperimentalEnableV2V3, "experimental-enable-v2v3", "", "etcd 3.5: v3 prefix for serving emulated v2 state (not served by Concord).")
	fs.StringVar(&cfg.Proxy, "proxy", cfg.Proxy, "etcd 3.5: v2 proxy mode ('off', 'readonly' or 'on'; only 'off' is served).")
	fs.Var(unitDurationValue{&cfg.ProxyTimeouts.FailureWait, time.Millisecond}, "proxy-failure-wait", "etcd 3.5: time (in milliseconds) an endpoint will be held in a failed state (v2 proxy; unused).")
	fs.Var(unitDurationValue{&cfg.ProxyTimeouts.RefreshInterval, time.Millisecond}, "proxy-refresh-interval", "etcd 3.5: time (in milliseconds) of the endpoints refresh interval (v2 proxy; unused).")
	fs.Var(unitDurationValue{&cfg.ProxyTimeouts.DialTimeout, time.Millisecond}, "proxy-dial-timeout", "etcd 3.5: time (in milliseconds) for a dial to timeout (v2 proxy; unused).")
	fs.Var(unitDurationValue{&cfg.ProxyTimeouts.WriteTimeout, time.Millisecond}, "proxy-write-timeout", "etcd 3.5: time (in milliseconds) for a write to timeout (v2 proxy; unused).")
	fs.Var(unitDurationValue{&cfg.ProxyTimeouts.ReadTimeout, time.Millisecond}, "proxy-read-timeout", "etcd 3.5: time (in milliseconds) for a read to timeout (v2 proxy; unused).")

	// Security.
	fs.StringVar(&cfg.ClientTLS.CertFile, "cert-file", "", "Path to the client server TLS cert file.")
	fs.StringVar(&cfg.ClientTLS.KeyFile, "key-file", "", "Path to the client server TLS key file.")
	fs.StringVar(&cfg.ClientTLS.ClientCertFile, "client-cert-file", "", "Path to an explicit peer client TLS cert file otherwise cert file will be used when client auth is required.")
	fs.StringVar(&cfg.ClientTLS.ClientKeyFile, "client-key-file", "", "Path to an explicit peer client TLS key file otherwise key file will be used when client auth is required.")
	fs.BoolVar(&cfg.ClientTLS.ClientCertAuth, "client-cert-auth", false, "Enable client cert authentication.")
	fs.StringVar(&cfg.ClientTLS.CRLFile, "client-crl-file", "", "Path to the client certificate revocation list file.")
	fs.Var(stringsValue{&cfg.ClientTLS.AllowedHostname}, "client-cert-allowed-hostname", "Comma-separated list of SAN hostnames for client cert authentication.")
	fs.StringVar(&cfg.ClientTLS.TrustedCAFile, "trusted-ca-file", "", "Path to the client server TLS trusted CA cert file.")
	fs.BoolVar(&cfg.ClientTLS.AutoTLS, "auto-tls", false, "Client TLS using generated certificates.")
	fs.StringVar(&cfg.PeerTLS.CertFile, "peer-cert-file", "", "Path to the peer server TLS cert file.")
	fs.StringVar(&cfg.PeerTLS.KeyFile, "peer-key-file", "", "Path to the peer server TLS key file.")
	fs.StringVar(&cfg.PeerTLS.ClientCertFile, "peer-client-cert-file", "", "Path to an explicit peer client TLS cert file otherwise peer cert file will be used when client auth is required.")
	fs.StringVar(&cfg.PeerTLS.ClientKeyFile, "peer-client-key-file", "", "Path to an explicit peer client TLS key file otherwise peer key file will be used when client auth is required.")
	fs.BoolVar(&cfg.PeerTLS.ClientCertAuth, "peer-client-cert-auth", false, "Enable peer client cert authentication.")
	fs.StringVar(&cfg.PeerTLS.TrustedCAFile, "peer-trusted-ca-file", "", "Path to the peer server TLS trusted CA file.")
	fs.BoolVar(&cfg.PeerTLS.AutoTLS, "peer-auto-tls", false, "Peer TLS using generated certificates.")
	fs.UintVar(&cfg.SelfSignedCertValidity, "self-signed-cert-validity", cfg.SelfSignedCertValidity, "The validity period of the client and peer certificates that are automatically generated when --auto-tls or --peer-auto-tls is specified, the unit is year.")
	fs.StringVar(&cfg.PeerTLS.CRLFile, "peer-crl-file", "", "Path to the peer certificate revocation list file.")
	fs.Var(stringsValue{&cfg.PeerTLS.AllowedCN}, "peer-cert-allowed-cn", "Comma-separated list of allowed CNs for inter-peer TLS authentication.")
	fs.Var(stringsValue{&cfg.PeerTLS.AllowedHostname}, "peer-cert-allowed-hostname", "Comma-separated list of allowed SAN hostnames for inter-peer TLS authentication.")
	fs.BoolVar(&cfg.PeerTLS.SkipClientSANVerify, "peer-skip-client-san-verification", false, "Skip verification of SAN field in client certificate for peer connections.")
	fs.BoolVar(&cfg.PeerTLS.SkipClientSANVerify, "experimental-peer-skip-client-san-verification", false, "Deprecated: use --peer-skip-client-san-verification.")
	fs.Var(stringsValue{&cfg.CipherSuites}, "cipher-suites", "Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated by Go).")
	fs.Var(stringsValue{&cfg.CORS}, "cors", "Comma-separated white list of origins for CORS, or cross-origin resource sharing, (empty or * means allow all).")
	fs.Var(stringsValue{&cfg.HostWhitelist}, "host-whitelist", "Comma-separated acceptable hostnames from HTTP client requests, if server is not secure (empty means allow all).")
	fs.StringVar(&cfg.TLSMinVersion, "tls-min-version", cfg.TLSMinVersion, "Minimum TLS version supported by the server. Possible values: TLS1.2, TLS1.3.")
	fs.StringVar(&cfg.TLSMaxVersion, "tls-max-version", cfg.TLSMaxVersion, "Maximum TLS version supported by the server. Possible values: TLS1.2, TLS1.3 (empty will be auto-populated by Go).")

	// Auth.
	fs.StringVar(&cfg.AuthToken, "auth-token", cfg.AuthToken, "Specify auth token specific options (\"simple\" or \"jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...\").")
	fs.UintVar(&cfg.BcryptCost, "bcrypt-cost", cfg.BcryptCost, "Specify bcrypt algorithm cost factor for auth password hashing.")
	fs.Var(unitDurationValue{&cfg.AuthTokenTTL, time.Second}, "auth-token-ttl", "The lifetime in seconds of the auth token.")

	// Profiling and monitoring.
	fs.BoolVar(&cfg.EnablePprof, "enable-pprof", cfg.EnablePprof, "Enable runtime profiling data via HTTP server. Address is at client URL + \"/debug/pprof/\".")
	fs.StringVar(&cfg.Metrics, "metrics", cfg.Metrics, "Set level of detail for exported metrics, specify 'extensive' to include server side grpc histogram metrics.")
	fs.Var(urlsValue{&cfg.ListenMetricsURLs}, "listen-metrics-urls", "List of URLs to listen on for the /metrics and /health endpoints.")

	// Logging.
	fs.StringVar(&cfg.Logger, "logger", cfg.Logger, "Currently only supports 'zap' for structured logging.")
	fs.Var(stringsValue{&cfg.LogOutputs}, "log-outputs", "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd, or list of comma separated output targets.")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "Configures log level. Only supports debug, info, warn, error, panic, or fatal.")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "Configures log format. Only supports json, console.")
	fs.BoolVar(&cfg.EnableLogRotation, "enable-log-rotation", cfg.EnableLogRotation, "Enable log rotation of a single log-outputs file target.")
	fs.StringVar(&cfg.LogRotationConfigJSON, "log-rotation-config-json", cfg.LogRotationConfigJSON, "Configures log rotation if enabled with a JSON logger config.")
	fs.DurationVar(&cfg.WarningUnaryRequestDuration, "warning-unary-request-duration", cfg.WarningUnaryRequestDuration, "Time duration after which a warning is logged if a unary request takes more time.")
	fs.DurationVar(&cfg.WarningUnaryRequestDuration, "experimental-warning-unary-request-duration", cfg.WarningUnaryRequestDuration, "Deprecated: use --warning-unary-request-duration.")

	// Distributed tracing.
	fs.BoolVar(&cfg.Tracing.Enabled, "enable-distributed-tracing", cfg.Tracing.Enabled, "Enable distributed tracing using OpenTelemetry Tracing.")
	fs.BoolVar(&cfg.Tracing.Enabled, "experimental-enable-distributed-tracing", cfg.Tracing.Enabled, "Deprecated: use --enable-distributed-tracing.")
	fs.StringVar(&cfg.Tracing.Address, "distributed-tracing-address", cfg.Tracing.Address, "Address for distributed tracing used for OpenTelemetry Tracing.")
	fs.StringVar(&cfg.Tracing.Address, "experimental-distributed-tracing-address", cfg.Tracing.Address, "Deprecated: use --distributed-tracing-address.")
	fs.StringVar(&cfg.Tracing.ServiceName, "distributed-tracing-service-name", cfg.Tracing.ServiceName, "Configures service name for distributed tracing to be used to define service name for OpenTelemetry Tracing.")
	fs.StringVar(&cfg.Tracing.ServiceName, "experimental-distributed-tracing-service-name", cfg.Tracing.ServiceName, "Deprecated: use --distributed-tracing-service-name.")
	fs.StringVar(&cfg.Tracing.InstanceID, "distributed-tracing-instance-id", "", "Configures service instance ID for distributed tracing to be used to define service instance ID key for OpenTelemetry Tracing.")
	fs.StringVar(&cfg.Tracing.InstanceID, "experimental-distributed-tracing-instance-id", "", "Deprecated: use --distributed-tracing-instance-id.")
	fs.IntVar(&cfg.Tracing.SamplingRatePerMillion, "distributed-tracing-sampling-rate", 0, "Number of samples to collect per million spans for OpenTelemetry Tracing.")
	fs.IntVar(&cfg.Tracing.SamplingRatePerMillion, "experimental-distributed-tracing-sampling-rate", 0, "Deprecated: use --distributed-tracing-sampling-rate.")

	// Experimental (3.5 spelling) and their 3.6 names.
	for _, g := range gateFlags {
		f := fs.VarPF(gateFlagValue{gate: g.gate, dst: st.gateFlags}, g.flag, "", "Deprecated: use --feature-gates="+g.gate+"=true.")
		f.NoOptDefVal = "true"
	}
	fs.Uint64Var(&cfg.SnapshotCatchUpEntries, "snapshot-catchup-entries", cfg.SnapshotCatchUpEntries, "Number of entries for a slow follower to catch up after compacting the raft storage entries.")
	fs.Uint64Var(&cfg.SnapshotCatchUpEntries, "experimental-snapshot-catchup-entries", cfg.SnapshotCatchUpEntries, "Deprecated: use --snapshot-catchup-entries.")
	fs.DurationVar(&cfg.CorruptCheckTime, "corrupt-check-time", cfg.CorruptCheckTime, "Duration of time between cluster corruption check passes.")
	fs.DurationVar(&cfg.CorruptCheckTime, "experimental-corrupt-check-time", cfg.CorruptCheckTime, "Deprecated: use --corrupt-check-time.")
	fs.DurationVar(&cfg.CompactHashCheckTime, "compact-hash-check-time", cfg.CompactHashCheckTime, "Duration of time between leader checks followers compaction hashes.")
	fs.DurationVar(&cfg.CompactHashCheckTime, "experimental-compact-hash-check-time", cfg.CompactHashCheckTime, "Deprecated: use --compact-hash-check-time.")
	fs.IntVar(&cfg.CompactionBatchLimit, "compaction-batch-limit", cfg.CompactionBatchLimit, "Sets the maximum revisions deleted in each compaction batch.")
	fs.IntVar(&cfg.CompactionBatchLimit, "experimental-compaction-batch-limit", cfg.CompactionBatchLimit, "Deprecated: use --compaction-batch-limit.")
	fs.DurationVar(&cfg.CompactionSleepInterval, "compaction-sleep-interval", cfg.CompactionSleepInterval, "Sets the sleep interval between each compaction batch.")
	fs.DurationVar(&cfg.CompactionSleepInterval, "experimental-compaction-sleep-interval", cfg.CompactionSleepInterval, "Deprecated: use --compaction-sleep-interval.")
	fs.DurationVar(&cfg.WatchProgressNotifyInterval, "watch-progress-notify-interval", cfg.WatchProgressNotifyInterval, "Duration of periodic watch progress notifications.")
	fs.DurationVar(&cfg.WatchProgressNotifyInterval, "experimental-watch-progress-notify-interval", cfg.WatchProgressNotifyInterval, "Deprecated: use --watch-progress-notify-interval.")
	fs.DurationVar(&cfg.DowngradeCheckTime, "downgrade-check-time", cfg.DowngradeCheckTime, "Duration of time between two downgrade status checks.")
	fs.DurationVar(&cfg.DowngradeCheckTime, "experimental-downgrade-check-time", cfg.DowngradeCheckTime, "Deprecated: use --downgrade-check-time.")
	fs.DurationVar(&cfg.WarningApplyDuration, "warning-apply-duration", cfg.WarningApplyDuration, "Time duration after which a warning is generated if request takes more time.")
	fs.DurationVar(&cfg.WarningApplyDuration, "experimental-warning-apply-duration", cfg.WarningApplyDuration, "Deprecated: use --warning-apply-duration.")
	fs.UintVar(&cfg.BootstrapDefragThresholdMegabytes, "bootstrap-defrag-threshold-megabytes", 0, "Enable the defrag during etcd server bootstrap on condition that it will free at least the provided threshold of disk space (no effect in Concord).")
	fs.UintVar(&cfg.BootstrapDefragThresholdMegabytes, "experimental-bootstrap-defrag-threshold-megabytes", 0, "Deprecated: use --bootstrap-defrag-threshold-megabytes.")

	// Concord only.
	fs.BoolVar(&cfg.LeaseCheckpoint, "lease-checkpoint", cfg.LeaseCheckpoint, "Concord: checkpoint remaining lease TTLs through raft so they survive leader changes.")
	fs.DurationVar(&cfg.LeaseCheckpointInterval, "lease-checkpoint-interval", cfg.LeaseCheckpointInterval, "Concord: how often the leader checkpoints remaining lease TTLs through raft (a lease outlives its TTL by at most this much after a leader change).")
	fs.BoolVar(&cfg.AutoPromoteLearners, "auto-promote-learners", cfg.AutoPromoteLearners, "Concord: promote a learner to voting member once its log has caught up with the leader's.")
	fs.DurationVar(&cfg.LearnerPromoteAfter, "learner-promote-after", cfg.LearnerPromoteAfter, "Concord: how long a learner must stay caught up (log within 90% of the leader's) before --auto-promote-learners promotes it.")
	return fs
}
