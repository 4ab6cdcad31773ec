package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/concord-kv/concord/config"
)

// run parses args and env in process and returns the config (nil on exit),
// the exit status and both outputs.
func run(t *testing.T, args, env []string) (*config.Config, int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cfg, code := parse(args, env, &stdout, &stderr)
	return cfg, code, stdout.String(), stderr.String()
}

func mustParse(t *testing.T, args, env []string) *config.Config {
	t.Helper()
	cfg, code, _, stderr := run(t, args, env)
	if cfg == nil || code != 0 {
		t.Fatalf("parse(%q) exit %d: %s", args, code, stderr)
	}
	return cfg
}

func TestNoFlags(t *testing.T) {
	cfg, code, stdout, stderr := run(t, nil, nil)
	if cfg == nil || code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	want := config.DefaultConfig()
	checks := []struct{ name, got, want string }{
		{"name", cfg.Name, "default"},
		{"data dir", cfg.DataDir, "default.concord"},
		{"initial cluster", cfg.InitialCluster.String(), "default=http://localhost:2380"},
		{"listen client", config.URLsString(cfg.ListenClientURLs), "http://localhost:2379"},
		{"advertise client", config.URLsString(cfg.AdvertiseClientURLs), "http://localhost:2379"},
		{"listen peer", config.URLsString(cfg.ListenPeerURLs), "http://localhost:2380"},
		{"gates", config.FeatureGatesString(cfg.FeatureGates), config.FeatureGatesString(want.FeatureGates)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.SnapshotCount != 10000 || cfg.HeartbeatInterval != 100*time.Millisecond || cfg.ElectionTimeout != time.Second ||
		cfg.InitialClusterState != "new" || cfg.InitialClusterToken != "etcd-cluster" || !cfg.LeaseCheckpoint ||
		!cfg.AutoPromoteLearners || cfg.MaxRequestBytes != 1572864 || cfg.WatchProgressNotifyInterval != 10*time.Minute ||
		cfg.AuthTokenTTL != 300*time.Second || cfg.MaxConcurrentStreams != want.MaxConcurrentStreams {
		t.Errorf("defaults differ: %+v", cfg)
	}
}

// seed004Unit is the ExecStart of the systemd unit in seed 004.
var seed004Unit = []string{
	"--name=etcd-192.168.174.103",
	"--cert-file=/etc/kubernetes/ssl/etcd.pem",
	"--key-file=/etc/kubernetes/ssl/etcd-key.pem",
	"--peer-cert-file=/etc/kubernetes/ssl/etcd.pem",
	"--peer-key-file=/etc/kubernetes/ssl/etcd-key.pem",
	"--trusted-ca-file=/etc/kubernetes/ssl/ca.pem",
	"--peer-trusted-ca-file=/etc/kubernetes/ssl/ca.pem",
	"--initial-advertise-peer-urls=https://192.168.174.103:2380",
	"--listen-peer-urls=https://192.168.174.103:2380",
	"--listen-client-urls=https://192.168.174.103:2379,http://127.0.0.1:2379",
	"--advertise-client-urls=https://192.168.174.103:2379",
	"--initial-cluster-token=etcd-cluster-0",
	"--initial-cluster=etcd-192.168.174.103=https://192.168.174.103:2380,etcd-192.168.174.104=https://192.168.174.104:2380,etcd-192.168.174.105=https://192.168.174.105:2380",
	"--initial-cluster-state=new",
	"--data-dir=/var/lib/etcd",
	"--wal-dir=",
	"--snapshot-count=50000",
	"--auto-compaction-retention=1",
	"--auto-compaction-mode=periodic",
	"--max-request-bytes=10485760",
	"--quota-backend-bytes=8589934592",
}

func TestSeed004SystemdUnit(t *testing.T) {
	cfg := mustParse(t, seed004Unit, nil)
	if cfg.Name != "etcd-192.168.174.103" || cfg.DataDir != "/var/lib/etcd" || cfg.WALDir != "" ||
		cfg.SnapshotCount != 50000 || cfg.MaxRequestBytes != 10485760 || cfg.QuotaBackendBytes != 8589934592 ||
		cfg.InitialClusterToken != "etcd-cluster-0" || cfg.InitialClusterState != "new" {
		t.Errorf("scalars: %+v", cfg)
	}
	if got := config.URLsString(cfg.ListenClientURLs); got != "https://192.168.174.103:2379,http://127.0.0.1:2379" {
		t.Errorf("listen client = %s", got)
	}
	if got := config.URLsString(cfg.AdvertiseClientURLs); got != "https://192.168.174.103:2379" {
		t.Errorf("advertise client = %s", got)
	}
	if len(cfg.InitialCluster) != 3 || cfg.InitialCluster[2].Name != "etcd-192.168.174.105" {
		t.Errorf("initial cluster = %v", cfg.InitialCluster)
	}
	if cfg.AutoCompactionPeriod() != time.Hour {
		t.Errorf("auto compaction period = %v", cfg.AutoCompactionPeriod())
	}
	want := config.TLSInfo{CertFile: "/etc/kubernetes/ssl/etcd.pem", KeyFile: "/etc/kubernetes/ssl/etcd-key.pem", TrustedCAFile: "/etc/kubernetes/ssl/ca.pem"}
	if !tlsEqual(cfg.ClientTLS, want) || !tlsEqual(cfg.PeerTLS, want) {
		t.Errorf("TLS = %+v / %+v", cfg.ClientTLS, cfg.PeerTLS)
	}
}

func tlsEqual(a, b config.TLSInfo) bool {
	return a.CertFile == b.CertFile && a.KeyFile == b.KeyFile && a.TrustedCAFile == b.TrustedCAFile &&
		a.ClientCertAuth == b.ClientCertAuth && a.AutoTLS == b.AutoTLS && a.CRLFile == b.CRLFile &&
		a.ClientCertFile == b.ClientCertFile && a.ClientKeyFile == b.ClientKeyFile &&
		slices.Equal(a.AllowedCN, b.AllowedCN) && slices.Equal(a.AllowedHostname, b.AllowedHostname) &&
		a.SkipClientSANVerify == b.SkipClientSANVerify
}

func TestSeed003SystemdUnitSingleDash(t *testing.T) {
	// Seed 003's unit, written with etcd's Go-flag single dashes.
	args := []string{
		"-name=11.0.64.5",
		"-cert-file=/etc/kubernetes/ssl/kubernetes.pem",
		"-key-file=/etc/kubernetes/ssl/kubernetes-key.pem",
		"-peer-cert-file=/etc/kubernetes/ssl/kubernetes.pem",
		"-peer-key-file=/etc/kubernetes/ssl/kubernetes-key.pem",
		"-trusted-ca-file=/etc/kubernetes/ssl/k8s-root-ca.pem",
		"-peer-trusted-ca-file=/etc/kubernetes/ssl/k8s-root-ca.pem",
		"-initial-advertise-peer-urls", "https://11.0.64.5:2380",
		"-listen-peer-urls=https://11.0.64.5:2380",
		"-listen-client-urls=https://11.0.64.5:2379",
		"-advertise-client-urls=https://11.0.64.5:2379",
		"-initial-cluster-token=etcd-cluster-0",
		"-initial-cluster=11.0.64.5=https://11.0.64.5:2380,11.0.64.6=https://11.0.64.6:2380,11.0.64.7=https://11.0.64.7:2380",
		"-initial-cluster-state=new",
		"-data-dir=/var/lib/etcd",
	}
	cfg := mustParse(t, args, nil)
	if cfg.Name != "11.0.64.5" || len(cfg.InitialCluster) != 3 || config.URLsString(cfg.InitialAdvertisePeerURLs) != "https://11.0.64.5:2380" {
		t.Errorf("got %+v", cfg)
	}
}

func kubeadmArgs(gateFlags ...string) []string {
	return append([]string{
		"--advertise-client-urls=https://192.168.0.10:2379",
		"--cert-file=/etc/kubernetes/pki/etcd/server.crt",
		"--client-cert-auth=true",
		"--data-dir=/var/lib/etcd",
		"--initial-advertise-peer-urls=https://192.168.0.10:2380",
		"--initial-cluster=cp-1=https://192.168.0.10:2380",
		"--key-file=/etc/kubernetes/pki/etcd/server.key",
		"--listen-client-urls=https://127.0.0.1:2379,https://192.168.0.10:2379",
		"--listen-metrics-urls=http://127.0.0.1:2381",
		"--listen-peer-urls=https://192.168.0.10:2380",
		"--name=cp-1",
		"--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
		"--peer-client-cert-auth=true",
		"--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
		"--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
		"--snapshot-count=10000",
		"--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
	}, gateFlags...)
}

func TestKubeadmManifest(t *testing.T) {
	variants := map[string][]string{
		"etcd 3.5": {"--experimental-initial-corrupt-check=true", "--experimental-watch-progress-notify-interval=5s"},
		"etcd 3.6": {"--feature-gates=InitialCorruptCheck=true", "--watch-progress-notify-interval=5s"},
	}
	for name, extra := range variants {
		t.Run(name, func(t *testing.T) {
			cfg, code, _, stderr := run(t, kubeadmArgs(extra...), nil)
			if cfg == nil {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if cfg.Name != "cp-1" || cfg.DataDir != "/var/lib/etcd" || cfg.SnapshotCount != 10000 {
				t.Errorf("member: %+v", cfg)
			}
			if !cfg.ClientTLS.ClientCertAuth || !cfg.PeerTLS.ClientCertAuth || cfg.PeerTLS.TrustedCAFile != "/etc/kubernetes/pki/etcd/ca.crt" ||
				cfg.ClientTLS.CertFile != "/etc/kubernetes/pki/etcd/server.crt" {
				t.Errorf("TLS: %+v / %+v", cfg.ClientTLS, cfg.PeerTLS)
			}
			if got := config.URLsString(cfg.ListenMetricsURLs); got != "http://127.0.0.1:2381" {
				t.Errorf("metrics URLs = %s", got)
			}
			if !cfg.FeatureGates[config.GateInitialCorruptCheck] {
				t.Error("InitialCorruptCheck gate off")
			}
			if cfg.WatchProgressNotifyInterval != 5*time.Second {
				t.Errorf("progress notify = %v", cfg.WatchProgressNotifyInterval)
			}
			deprecated := strings.Contains(stderr, "is deprecated")
			if deprecated != (name == "etcd 3.5") {
				t.Errorf("deprecation warnings = %v: %s", deprecated, stderr)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	env := []string{
		"ETCD_NAME=n1",
		"ETCD_DATA_DIR=/var/lib/etcd",
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=http://10.0.0.1:2380",
		"ETCD_LISTEN_PEER_URLS=http://10.0.0.1:2380",
		"ETCD_LISTEN_CLIENT_URLS=http://10.0.0.1:2379,http://127.0.0.1:2379",
		"ETCD_ADVERTISE_CLIENT_URLS=http://10.0.0.1:2379",
		"ETCD_INITIAL_CLUSTER=n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380",
		"ETCD_INITIAL_CLUSTER_STATE=existing",
		"ETCD_HEARTBEAT_INTERVAL=200",
		"ETCD_ELECTION_TIMEOUT=2000",
		"ETCD_CLIENT_CERT_AUTH=true",
		"ETCD_FEATURE_GATES=CompactHashCheck=true",
		"ETCD_AUTO_PROMOTE_LEARNERS=false",
		"ETCD_SNAPSHOT_COUNT=", // empty: ignored
		"ETCDCTL_API=3",        // another program's
		"PATH=/usr/bin",        // unrelated
		"ETCD_UNKNOWN_THING=1", // warned
		"ETCD_VERSION=1",       // special: warned, not --version
		"ETCD_MAX_TXN_OPS=256", // shadowed by the command line
		"ETCD_QUOTA_BACKEND_BYTES=1073741824",
	}
	cfg, code, stdout, stderr := run(t, []string{"--max-txn-ops=512"}, env)
	if cfg == nil {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q", stdout)
	}
	if cfg.Name != "n1" || cfg.DataDir != "/var/lib/etcd" || cfg.InitialClusterState != "existing" ||
		cfg.HeartbeatInterval != 200*time.Millisecond || cfg.ElectionTimeout != 2*time.Second ||
		!cfg.ClientTLS.ClientCertAuth || !cfg.FeatureGates[config.GateCompactHashCheck] || cfg.AutoPromoteLearners ||
		cfg.SnapshotCount != 10000 || cfg.QuotaBackendBytes != 1<<30 || len(cfg.InitialCluster) != 2 {
		t.Errorf("env not applied: %+v", cfg)
	}
	if cfg.MaxTxnOps != 512 {
		t.Errorf("max txn ops = %d, want the command line's 512", cfg.MaxTxnOps)
	}
	for _, want := range []string{
		`"environment variable is shadowed by the command-line flag; the flag wins","environment-variable":"ETCD_MAX_TXN_OPS"`,
		`"unrecognized environment variable","environment-variable":"ETCD_UNKNOWN_THING=1"`,
		`"cannot set special environment variable","key":"ETCD_VERSION"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %s:\n%s", want, stderr)
		}
	}
	for _, unwanted := range []string{"ETCDCTL_API", "PATH", "unrecognized environment variable\",\"environment-variable\":\"ETCD_SNAPSHOT_COUNT"} {
		if strings.Contains(stderr, unwanted) {
			t.Errorf("stderr mentions %s:\n%s", unwanted, stderr)
		}
	}

	cfg, code, _, stderr = run(t, nil, []string{"ETCD_SNAPSHOT_COUNT=lots"})
	if cfg != nil || code != 1 || !strings.Contains(stderr, "ETCD_SNAPSHOT_COUNT") || !strings.Contains(stderr, "--snapshot-count") {
		t.Errorf("bad env value: exit %d, stderr %q", code, stderr)
	}
}

// TestWarningsCarryCaller: parse's JSON warnings have etcd's level, ts,
// caller and msg keys (etcd's tests/e2e TestServerJsonLogging checks them
// on every line).
func TestWarningsCarryCaller(t *testing.T) {
	path := writeFile(t, "name: x\nno-such-key: 1\n")
	for _, tc := range []struct{ args, env []string }{
		{nil, []string{"ETCD_UNKNOWN_THING=1"}},
		{[]string{"--config-file", path}, nil},
	} {
		_, _, _, stderr := run(t, tc.args, tc.env)
		lines := 0
		for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not a JSON line: %q", l)
			}
			lines++
			for _, k := range []string{"level", "ts", "caller", "msg"} {
				if _, ok := m[k]; !ok {
					t.Errorf("no %q in %s", k, l)
				}
			}
		}
		if lines == 0 {
			t.Errorf("%v %v: no warning logged", tc.args, tc.env)
		}
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "concord.conf.yml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const sampleFile = `# etcd.conf.yml.sample style
name: 'infra1'
data-dir: /var/lib/etcd
wal-dir:
snapshot-count: 10000
heartbeat-interval: 100
election-timeout: 1000
quota-backend-bytes: 8589934592
listen-peer-urls: https://10.0.0.1:2380
listen-client-urls: https://10.0.0.1:2379,http://127.0.0.1:2379
max-snapshots: 5
max-wals: 5
cors:
initial-advertise-peer-urls: https://10.0.0.1:2380
advertise-client-urls: https://10.0.0.1:2379
discovery:
discovery-fallback: 'exit'
discovery-proxy:
discovery-srv:
initial-cluster: "infra1=https://10.0.0.1:2380,infra2=https://10.0.0.2:2380,infra3=https://10.0.0.3:2380"
initial-cluster-token: 'etcd-cluster-1'
initial-cluster-state: 'new'
strict-reconfig-check: true
enable-pprof: false
proxy: 'off'
proxy-failure-wait: 4000
no-such-key: 1
client-transport-security:
  cert-file: /etc/etcd/server.crt
  key-file: /etc/etcd/server.key
  client-cert-auth: true
  trusted-ca-file: /etc/etcd/ca.crt
  auto-tls: false
  allowed-cn: [admin]
peer-transport-security:
  cert-file: /etc/etcd/peer.crt
  key-file: /etc/etcd/peer.key
  client-cert-auth: true
  trusted-ca-file: /etc/etcd/ca.crt
  auto-tls: false
  allowed-cn: [peer-a, peer-b]
  skip-client-san-verification: true
self-signed-cert-validity: 1
log-level: debug
logger: zap
log-outputs: [stderr]
force-new-cluster: false
auto-compaction-mode: periodic
auto-compaction-retention: "1"
cipher-suites: [
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
]
tls-min-version: 'TLS1.2'
tls-max-version: 'TLS1.3'
listen-metrics-urls: http://127.0.0.1:2381
experimental-watch-progress-notify-interval: 5000000000
compaction-sleep-interval: 20ms
feature-gates: InitialCorruptCheck=true
auth-token-ttl: 600
experimental-snapshot-catch-up-entries: 7000
`

func TestConfigFile(t *testing.T) {
	path := writeFile(t, sampleFile)
	cfg, code, _, stderr := run(t, []string{"--config-file", path}, nil)
	if cfg == nil {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if cfg.Name != "infra1" || cfg.DataDir != "/var/lib/etcd" || cfg.QuotaBackendBytes != 8<<30 ||
		cfg.InitialClusterToken != "etcd-cluster-1" || len(cfg.InitialCluster) != 3 || cfg.LogLevel != "debug" ||
		!slices.Equal(cfg.LogOutputs, []string{"stderr"}) || cfg.AutoCompactionPeriod() != time.Hour ||
		len(cfg.CipherSuites) != 2 || cfg.TLSMaxVersion != "TLS1.3" || cfg.AuthTokenTTL != 10*time.Minute ||
		cfg.WatchProgressNotifyInterval != 5*time.Second || cfg.CompactionSleepInterval != 20*time.Millisecond ||
		!cfg.FeatureGates[config.GateInitialCorruptCheck] || cfg.SnapshotCatchUpEntries != 7000 ||
		config.URLsString(cfg.ListenMetricsURLs) != "http://127.0.0.1:2381" {
		t.Errorf("file not applied: %+v", cfg)
	}
	wantClient := config.TLSInfo{CertFile: "/etc/etcd/server.crt", KeyFile: "/etc/etcd/server.key", TrustedCAFile: "/etc/etcd/ca.crt", ClientCertAuth: true, AllowedCN: []string{"admin"}}
	wantPeer := config.TLSInfo{CertFile: "/etc/etcd/peer.crt", KeyFile: "/etc/etcd/peer.key", TrustedCAFile: "/etc/etcd/ca.crt", ClientCertAuth: true,
		AllowedCN: []string{"peer-a", "peer-b"}, SkipClientSANVerify: true}
	if !tlsEqual(cfg.ClientTLS, wantClient) || !tlsEqual(cfg.PeerTLS, wantPeer) {
		t.Errorf("TLS = %+v / %+v", cfg.ClientTLS, cfg.PeerTLS)
	}
	if cfg.ProxyTimeouts.FailureWait != 4*time.Second {
		t.Errorf("proxy-failure-wait = %v", cfg.ProxyTimeouts.FailureWait)
	}
	if !strings.Contains(stderr, `"key":"no-such-key"`) {
		t.Errorf("unknown key not warned: %s", stderr)
	}

	// With a config file, other flags and ETCD_* variables are ignored.
	cfg2, _, _, stderr := run(t, []string{"--name=other", "--config-file=" + path}, []string{"ETCD_SNAPSHOT_COUNT=5"})
	if cfg2 == nil || cfg2.Name != "infra1" || cfg2.SnapshotCount != 10000 {
		t.Errorf("flags or env overrode the file: %+v", cfg2)
	}
	if !strings.Contains(stderr, "other configuration command line flags and environment variables will be ignored") ||
		!strings.Contains(stderr, "--name") {
		t.Errorf("ignored flags not reported: %s", stderr)
	}

	// ETCD_CONFIG_FILE names the file too.
	cfg3 := mustParse(t, nil, []string{"ETCD_CONFIG_FILE=" + path})
	if cfg3.Name != "infra1" {
		t.Errorf("ETCD_CONFIG_FILE ignored: %+v", cfg3)
	}
}

// TestConfigFileDiscoveryFallback: as etcd, the config file cannot set
// --discovery-fallback (etcd.conf.yml.sample says 'proxy' and etcd starts
// with it; etcd's tests/e2e TestEtcdExampleConfig), while the flag itself
// still rejects "proxy".
func TestConfigFileDiscoveryFallback(t *testing.T) {
	path := writeFile(t, "name: 'infra1'\ndiscovery-fallback: 'proxy'\n")
	cfg, code, _, stderr := run(t, []string{"--config-file", path}, nil)
	if cfg == nil || cfg.Name != "infra1" || cfg.Discovery.Fallback != "exit" {
		t.Fatalf("exit %d, cfg %+v: %s", code, cfg, stderr)
	}
	if !strings.Contains(stderr, `"key":"discovery-fallback"`) {
		t.Errorf("ignored key not warned: %s", stderr)
	}
	cfg, code, _, stderr = run(t, []string{"--discovery-fallback=proxy"}, nil)
	if cfg != nil || code != 1 || !strings.Contains(stderr, `--discovery-fallback can't be configured as "proxy"`) {
		t.Errorf("flag: exit %d, stderr %q", code, stderr)
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"not yaml", "name: [unclosed", "--config-file"},
		{"bad value", "snapshot-count: many\n", "snapshot-count"},
		{"bad tls block", "client-transport-security: yes\n", "client-transport-security must be a mapping"},
		{"bad url", "listen-client-urls: localhost:2379\n", "listen-client-urls"},
		{"invalid config", "election-timeout: 200\n", "--election-timeout[200ms] should be at least as 5 times as --heartbeat-interval[100ms]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, code, _, stderr := run(t, []string{"--config-file", writeFile(t, tt.body)}, nil)
			stderr = withoutLogLines(stderr)
			if cfg != nil || code != 1 || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want one line containing %q", code, stderr, tt.want)
			}
		})
	}
	cfg, code, _, stderr := run(t, []string{"--config-file", filepath.Join(t.TempDir(), "missing.yml")}, nil)
	if cfg != nil || code != 1 || !strings.Contains(stderr, "--config-file") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
}

// withoutLogLines drops the JSON log lines from stderr, leaving the
// error line.
func withoutLogLines(stderr string) string {
	var keep []string
	for _, l := range strings.SplitAfter(stderr, "\n") {
		if !strings.HasPrefix(l, "{") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

func TestRenamedFlags(t *testing.T) {
	tests := []struct {
		old, new, value string
		get             func(c *config.Config) any
		want            any
	}{
		{"experimental-snapshot-catchup-entries", "snapshot-catchup-entries", "6000", func(c *config.Config) any { return c.SnapshotCatchUpEntries }, uint64(6000)},
		{"experimental-memory-mlock", "memory-mlock", "true", func(c *config.Config) any { return c.MemoryMlock }, true},
		{"experimental-corrupt-check-time", "corrupt-check-time", "3m", func(c *config.Config) any { return c.CorruptCheckTime }, 3 * time.Minute},
		{"experimental-compact-hash-check-time", "compact-hash-check-time", "2m", func(c *config.Config) any { return c.CompactHashCheckTime }, 2 * time.Minute},
		{"experimental-compaction-batch-limit", "compaction-batch-limit", "500", func(c *config.Config) any { return c.CompactionBatchLimit }, 500},
		{"experimental-compaction-sleep-interval", "compaction-sleep-interval", "5ms", func(c *config.Config) any { return c.CompactionSleepInterval }, 5 * time.Millisecond},
		{"experimental-watch-progress-notify-interval", "watch-progress-notify-interval", "5s", func(c *config.Config) any { return c.WatchProgressNotifyInterval }, 5 * time.Second},
		{"experimental-downgrade-check-time", "downgrade-check-time", "9s", func(c *config.Config) any { return c.DowngradeCheckTime }, 9 * time.Second},
		{"experimental-warning-apply-duration", "warning-apply-duration", "200ms", func(c *config.Config) any { return c.WarningApplyDuration }, 200 * time.Millisecond},
		{"experimental-warning-unary-request-duration", "warning-unary-request-duration", "1s", func(c *config.Config) any { return c.WarningUnaryRequestDuration }, time.Second},
		{"experimental-bootstrap-defrag-threshold-megabytes", "bootstrap-defrag-threshold-megabytes", "64", func(c *config.Config) any { return c.BootstrapDefragThresholdMegabytes }, uint(64)},
		{"experimental-peer-skip-client-san-verification", "peer-skip-client-san-verification", "true", func(c *config.Config) any { return c.PeerTLS.SkipClientSANVerify }, true},
		{"experimental-enable-distributed-tracing", "enable-distributed-tracing", "true", func(c *config.Config) any { return c.Tracing.Enabled }, true},
		{"experimental-distributed-tracing-address", "distributed-tracing-address", "otel:4317", func(c *config.Config) any { return c.Tracing.Address }, "otel:4317"},
		{"experimental-distributed-tracing-service-name", "distributed-tracing-service-name", "kv", func(c *config.Config) any { return c.Tracing.ServiceName }, "kv"},
		{"experimental-distributed-tracing-instance-id", "distributed-tracing-instance-id", "i-1", func(c *config.Config) any { return c.Tracing.InstanceID }, "i-1"},
		{"experimental-distributed-tracing-sampling-rate", "distributed-tracing-sampling-rate", "100", func(c *config.Config) any { return c.Tracing.SamplingRatePerMillion }, 100},
	}
	if len(tests) != len(renamedFlags) {
		t.Errorf("%d renamed flags tested, %d registered", len(tests), len(renamedFlags))
	}
	for _, tt := range tests {
		t.Run(tt.new, func(t *testing.T) {
			for _, name := range []string{tt.old, tt.new} {
				cfg := mustParse(t, []string{"--" + name + "=" + tt.value}, nil)
				if got := tt.get(cfg); got != tt.want {
					t.Errorf("--%s=%s set %v, want %v", name, tt.value, got, tt.want)
				}
			}
			_, code, _, stderr := run(t, []string{"--" + tt.old + "=" + tt.value, "--" + tt.new + "=" + tt.value}, nil)
			want := "cannot set --" + tt.old + " and --" + tt.new + " at the same time, please use --" + tt.new + " only"
			if code != 1 || !strings.Contains(stderr, want) {
				t.Errorf("both spellings: exit %d, stderr %q", code, stderr)
			}
		})
	}
}

func TestGateFlags(t *testing.T) {
	for _, g := range gateFlags {
		t.Run(g.flag, func(t *testing.T) {
			def := config.DefaultFeatureGates()[g.gate]
			cfg := mustParse(t, []string{"--" + g.flag + "=" + map[bool]string{true: "false", false: "true"}[def]}, nil)
			if cfg.FeatureGates[g.gate] == def {
				t.Errorf("--%s did not flip gate %s", g.flag, g.gate)
			}
			if def == false {
				// A bare boolean flag means true.
				cfg = mustParse(t, []string{"--" + g.flag}, nil)
				if !cfg.FeatureGates[g.gate] {
					t.Errorf("bare --%s left %s off", g.flag, g.gate)
				}
			}
			_, code, _, stderr := run(t, []string{"--" + g.flag + "=true", "--feature-gates=" + g.gate + "=true"}, nil)
			if code != 1 || !strings.Contains(stderr, "cannot specify both --"+g.flag) {
				t.Errorf("flag and gate both set: exit %d, stderr %q", code, stderr)
			}
		})
	}
}

func TestLeaseCheckpoint(t *testing.T) {
	tests := []struct {
		args []string
		want bool
		err  string
	}{
		{args: nil, want: true},
		{args: []string{"--lease-checkpoint=false"}, want: false},
		{args: []string{"--feature-gates=LeaseCheckpoint=false"}, want: false},
		{args: []string{"--experimental-enable-lease-checkpoint=false"}, want: false},
		{args: []string{"--experimental-enable-lease-checkpoint"}, want: true},
		{args: []string{"--lease-checkpoint=true", "--feature-gates=LeaseCheckpoint=true"}, want: true},
		{args: []string{"--lease-checkpoint=true", "--feature-gates=LeaseCheckpoint=false"}, err: "--lease-checkpoint=true conflicts"},
	}
	for _, tt := range tests {
		cfg, code, _, stderr := run(t, tt.args, nil)
		if tt.err != "" {
			if code != 1 || !strings.Contains(stderr, tt.err) {
				t.Errorf("%q: exit %d, stderr %q", tt.args, code, stderr)
			}
			continue
		}
		if cfg == nil {
			t.Fatalf("%q: exit %d: %s", tt.args, code, stderr)
		}
		if cfg.LeaseCheckpoint != tt.want || cfg.FeatureGates[config.GateLeaseCheckpoint] != tt.want {
			t.Errorf("%q: LeaseCheckpoint = %v, gate %v; want %v", tt.args, cfg.LeaseCheckpoint, cfg.FeatureGates[config.GateLeaseCheckpoint], tt.want)
		}
	}
}

func TestDerivedDefaults(t *testing.T) {
	cfg := mustParse(t, []string{"--name=n1"}, nil)
	if cfg.DataDir != "n1.concord" || cfg.InitialCluster.String() != "n1=http://localhost:2380" {
		t.Errorf("--name alone: data dir %q, initial cluster %q", cfg.DataDir, cfg.InitialCluster)
	}
	cfg = mustParse(t, []string{"--name=n1", "--initial-advertise-peer-urls=http://10.0.0.1:2380", "--listen-peer-urls=http://10.0.0.1:2380"}, nil)
	if cfg.InitialCluster.String() != "n1=http://10.0.0.1:2380" {
		t.Errorf("initial cluster = %q", cfg.InitialCluster)
	}
	cfg = mustParse(t, []string{"--discovery-srv=example.com"}, nil)
	if len(cfg.InitialCluster) != 0 || !slices.Contains(cfg.Deferred(), "discovery-srv") {
		t.Errorf("discovery: initial cluster %q, deferred %v", cfg.InitialCluster, cfg.Deferred())
	}
	cfg = mustParse(t, []string{"--data-dir="}, nil)
	if cfg.DataDir != "default.concord" {
		t.Errorf("empty --data-dir = %q", cfg.DataDir)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"-no-such-flag=1"}, "unknown flag: --no-such-flag"},
		{[]string{"--snapshot-count=many"}, `invalid argument "many" for "--snapshot-count"`},
		{[]string{"--heartbeat-interval=fast"}, `"--heartbeat-interval"`},
		{[]string{"--listen-client-urls=localhost:2379"}, `"--listen-client-urls"`},
		{[]string{"--initial-cluster=a"}, "--initial-cluster"},
		{[]string{"--feature-gates=Nope=true"}, "unrecognized feature gate: Nope"},
		{[]string{"--initial-cluster-state=old"}, "--initial-cluster-state"},
		{[]string{"--name=n2", "--initial-cluster=n1=http://localhost:2380"}, `does not include --name "n2"`},
		{[]string{"--initial-advertise-peer-urls=http://10.0.0.1:2380", "--initial-cluster=default=http://10.0.0.2:2380"}, "--initial-advertise-peer-urls is http://10.0.0.1:2380"},
		{[]string{"--election-timeout=400"}, "--election-timeout[400ms] should be at least as 5 times as --heartbeat-interval[100ms]"},
		{[]string{"--heartbeat-interval=1000", "--election-timeout=60000"}, "--election-timeout[60000ms] is too long"},
		{[]string{"--auto-compaction-mode=weekly"}, "auto-compaction-mode"},
		{[]string{"--auto-compaction-retention=soon"}, "--auto-compaction-retention"},
		{[]string{"--log-level=loud"}, "--log-level"},
		{[]string{"--max-request-bytes=0"}, "--max-request-bytes must be >0"},
		{[]string{"--listen-client-urls=http://127.0.0.1:2379"}, "--advertise-client-urls is required when --listen-client-urls is set explicitly"},
		{[]string{"start"}, `"start" is not a valid flag`},
		{[]string{"grpc-proxy", "start"}, `the "grpc-proxy" sub-command is not implemented`},
	}
	for _, tt := range tests {
		cfg, code, stdout, stderr := run(t, tt.args, nil)
		if cfg != nil || code != 1 {
			t.Errorf("%q: exit %d, want 1", tt.args, code)
		}
		if !strings.HasPrefix(stderr, "concord: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: stderr %q, want one line containing %q", tt.args, stderr, tt.want)
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q", tt.args, stdout)
		}
	}
}

func TestNothingWrittenOnError(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	_, code, _, _ := run(t, []string{"--data-dir=" + dataDir, "--log-outputs=" + filepath.Join(dir, "log"), "--bogus"}, nil)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	code = realMain(context.Background(), []string{"--data-dir=" + dataDir, "--election-timeout=1"}, nil, &bytes.Buffer{}, &bytes.Buffer{},
		func(context.Context, *config.Config, *zap.Logger) error { t.Error("run called"); return nil })
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("files written: %v %v", entries, err)
	}
}

func TestVersionAndHelp(t *testing.T) {
	cfg, code, stdout, stderr := run(t, []string{"--version"}, nil)
	if cfg != nil || code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	// etcd's four lines first (scripts parse "etcd Version: "), then
	// Concord's own version.
	want := "etcd Version: 3.6.0\nGit SHA: " + config.GitSHA + "\nGo Version: " + runtime.Version() +
		"\nGo OS/Arch: " + runtime.GOOS + "/" + runtime.GOARCH + "\nConcord Version: " + config.Version + "\n"
	if stdout != want {
		t.Errorf("--version printed %q, want %q", stdout, want)
	}
	for _, arg := range []string{"--help", "-h"} {
		cfg, code, stdout, _ = run(t, []string{arg}, nil)
		if cfg != nil || code != 0 || !strings.Contains(stdout, "--initial-cluster-state") || !strings.Contains(stdout, "--lease-checkpoint") {
			t.Errorf("%s: exit %d, stdout %q", arg, code, stdout)
		}
	}
}

func TestRealMain(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "concord.log")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got *config.Config
	code := realMain(ctx, []string{"--name=n1", "--log-outputs=" + logFile, "--enable-log-rotation"}, nil, &bytes.Buffer{}, &bytes.Buffer{},
		func(ctx context.Context, cfg *config.Config, lg *zap.Logger) error {
			got = cfg
			lg.Info("serving")
			return nil
		})
	if code != 0 || got == nil || got.Name != "n1" || !slices.Equal(got.Deferred(), []string{"enable-log-rotation"}) {
		t.Fatalf("exit %d, cfg %+v", code, got)
	}
	b, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(b), `"msg":"serving"`) || !strings.Contains(string(b), `"msg":"starting concord"`) {
		t.Errorf("log file %q, %v", b, err)
	}
	code = realMain(ctx, []string{"--log-outputs=" + logFile}, nil, &bytes.Buffer{}, &bytes.Buffer{},
		func(context.Context, *config.Config, *zap.Logger) error { return errors.New("disk on fire") })
	if code != 1 {
		t.Errorf("failing run: exit %d", code)
	}
	b, _ = os.ReadFile(logFile)
	if !strings.Contains(string(b), "disk on fire") {
		t.Errorf("run error not logged: %q", b)
	}
}

func BenchmarkParseKubeadm(b *testing.B) {
	args := kubeadmArgs("--feature-gates=InitialCorruptCheck=true", "--watch-progress-notify-interval=5s")
	env := []string{"PATH=/usr/bin", "HOME=/root"}
	for b.Loop() {
		var stdout, stderr bytes.Buffer
		if cfg, code := parse(args, env, &stdout, &stderr); cfg == nil {
			b.Fatalf("exit %d: %s", code, stderr.String())
		}
	}
}
