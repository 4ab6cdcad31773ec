package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/grpclog"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", c.Name, "default"},
		{"data dir", c.DataDir, "default.concord"},
		{"snapshot count", c.SnapshotCount, uint64(10000)},
		{"heartbeat", c.HeartbeatInterval, 100 * time.Millisecond},
		{"election", c.ElectionTimeout, time.Second},
		{"election ticks", c.ElectionTicks(), 10},
		{"listen client", URLsString(c.ListenClientURLs), "http://localhost:2379"},
		{"advertise client", URLsString(c.AdvertiseClientURLs), "http://localhost:2379"},
		{"listen peer", URLsString(c.ListenPeerURLs), "http://localhost:2380"},
		{"advertise peer", URLsString(c.InitialAdvertisePeerURLs), "http://localhost:2380"},
		{"initial cluster", c.InitialCluster.String(), "default=http://localhost:2380"},
		{"cluster state", c.InitialClusterState, "new"},
		{"token", c.InitialClusterToken, "etcd-cluster"},
		{"max request bytes", c.MaxRequestBytes, uint64(1572864)},
		{"quota", c.QuotaBytes(), int64(2 << 30)},
		{"max txn ops", c.MaxTxnOps, uint(128)},
		{"compaction mode", c.AutoCompactionMode, "periodic"},
		{"compaction retention", c.AutoCompactionRetention, "0"},
		{"progress notify", c.WatchProgressNotifyInterval, 10 * time.Minute},
		{"log outputs", strings.Join(c.LogOutputs, ","), "default"},
		{"log level", c.LogLevel, "info"},
		{"log format", c.LogFormat, "json"},
		{"metrics", c.Metrics, "basic"},
		{"auth token", c.AuthToken, "simple"},
		{"auth token ttl", c.AuthTokenTTL, 300 * time.Second},
		{"lease checkpoint", c.LeaseCheckpoint, true},
		{"lease checkpoint gate", c.FeatureGates[GateLeaseCheckpoint], true},
		{"auto promote", c.AutoPromoteLearners, true},
		{"pre-vote", c.PreVote, true},
		{"strict reconfig", c.StrictReconfigCheck, true},
		{"initial corrupt check", c.FeatureGates[GateInitialCorruptCheck], false},
		{"txn shared buffer", c.FeatureGates[GateTxnModeWriteWithSharedBuffer], true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if d := c.Deferred(); len(d) != 0 {
		t.Errorf("defaults have deferred settings %v", d)
	}
	// Fresh values: changing one does not change the next.
	c.LogOutputs[0] = "x"
	c.FeatureGates[GateCompactHashCheck] = true
	c.ListenClientURLs[0].Host = "x:1"
	d := DefaultConfig()
	if d.LogOutputs[0] != "default" || d.FeatureGates[GateCompactHashCheck] || d.ListenClientURLs[0].Host != "localhost:2379" {
		t.Error("DefaultConfig shares state between calls")
	}
}

func TestParseURLs(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "", want: ""},
		{in: "http://localhost:2379", want: "http://localhost:2379"},
		{in: "https://10.0.0.1:2379, http://127.0.0.1:2379", want: "https://10.0.0.1:2379,http://127.0.0.1:2379"},
		{in: "http://a:1,http://a:1,http://b:2", want: "http://a:1,http://b:2"},
		{in: "unix://localhost:1234", want: "unix://localhost:1234"},
		{in: "unix:///tmp/etcd.sock", want: "unix:///tmp/etcd.sock"},
		{in: "http://localhost", err: `does not have the form "host:port"`},
		{in: "http://localhost:2379/v3", err: "must not contain a path"},
		{in: "ftp://localhost:21", err: "scheme must be http, https, unix, or unixs"},
		{in: "localhost:2379", err: "scheme must be"},
	}
	for _, tt := range tests {
		got, err := ParseURLs(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseURLs(%q) error = %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || URLsString(got) != tt.want {
			t.Errorf("ParseURLs(%q) = %q, %v; want %q", tt.in, URLsString(got), err, tt.want)
		}
	}
}

func TestParseInitialCluster(t *testing.T) {
	tests := []struct {
		in    string
		names []string
		out   string
		err   string
	}{
		{in: "", names: nil},
		{in: "default=http://localhost:2380", names: []string{"default"}, out: "default=http://localhost:2380"},
		{
			in:    "n3=https://10.0.0.3:2380,n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380",
			names: []string{"n3", "n1", "n2"},
			out:   "n3=https://10.0.0.3:2380,n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380",
		},
		{
			in:    "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,a=http://10.0.1.1:2380",
			names: []string{"a", "b"},
			out:   "a=http://10.0.0.1:2380,a=http://10.0.1.1:2380,b=http://10.0.0.2:2380",
		},
		{in: "11.0.64.5=https://11.0.64.5:2380", names: []string{"11.0.64.5"}, out: "11.0.64.5=https://11.0.64.5:2380"},
		{in: "http://10.0.0.1:2380", err: "is not name=peerURL"},
		{in: "=http://10.0.0.1:2380", err: "is not name=peerURL"},
		{in: "a=10.0.0.1:2380", err: `member "a"`},
	}
	for _, tt := range tests {
		ic, err := ParseInitialCluster(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "--initial-cluster") {
				t.Errorf("ParseInitialCluster(%q) error = %v, want %q naming the flag", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseInitialCluster(%q): %v", tt.in, err)
			continue
		}
		var names []string
		for _, m := range ic {
			names = append(names, m.Name)
		}
		if !slices.Equal(names, tt.names) || ic.String() != tt.out {
			t.Errorf("ParseInitialCluster(%q) = %v %q, want %v %q", tt.in, names, ic.String(), tt.names, tt.out)
		}
	}
	ic, _ := ParseInitialCluster("a=http://10.0.0.1:2380,b=http://10.0.0.2:2380")
	if m, ok := ic.Lookup("b"); !ok || URLsString(m.PeerURLs) != "http://10.0.0.2:2380" {
		t.Errorf("Lookup(b) = %v, %v", m, ok)
	}
	if _, ok := ic.Lookup("c"); ok {
		t.Error("Lookup(c) found a member")
	}
}

func TestParseFeatureGates(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]bool
		err  string
	}{
		{in: "", want: map[string]bool{}},
		{in: "InitialCorruptCheck=true", want: map[string]bool{"InitialCorruptCheck": true}},
		{in: " InitialCorruptCheck=true , TxnModeWriteWithSharedBuffer=false ", want: map[string]bool{"InitialCorruptCheck": true, "TxnModeWriteWithSharedBuffer": false}},
		{in: "NoSuchGate=true", err: "unrecognized feature gate: NoSuchGate"},
		{in: "InitialCorruptCheck", err: "missing bool value"},
		{in: "InitialCorruptCheck=maybe", err: "invalid value"},
	}
	for _, tt := range tests {
		got, err := ParseFeatureGates(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "--feature-gates") {
				t.Errorf("ParseFeatureGates(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || FeatureGatesString(got) != FeatureGatesString(tt.want) {
			t.Errorf("ParseFeatureGates(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if !slices.Contains(KnownFeatureGates(), GateSetMemberLocalAddr) {
		t.Error("KnownFeatureGates misses SetMemberLocalAddr")
	}
}

func TestParseUnitDurations(t *testing.T) {
	tests := []struct {
		in   string
		ms   time.Duration
		sec  time.Duration
		fail bool
	}{
		{in: "100", ms: 100 * time.Millisecond, sec: 100 * time.Second},
		{in: "0", ms: 0, sec: 0},
		{in: "250ms", ms: 250 * time.Millisecond, sec: 250 * time.Millisecond},
		{in: "1m", ms: time.Minute, sec: time.Minute},
		{in: "-5", fail: true},
		{in: "-5s", fail: true},
		{in: "abc", fail: true},
	}
	for _, tt := range tests {
		ms, err1 := ParseMilliseconds(tt.in)
		sec, err2 := ParseSeconds(tt.in)
		if tt.fail {
			if err1 == nil || err2 == nil {
				t.Errorf("%q: want errors, got %v %v", tt.in, ms, sec)
			}
			continue
		}
		if err1 != nil || err2 != nil || ms != tt.ms || sec != tt.sec {
			t.Errorf("%q: got %v %v (%v %v), want %v %v", tt.in, ms, sec, err1, err2, tt.ms, tt.sec)
		}
	}
}

func TestParseRetention(t *testing.T) {
	tests := []struct {
		mode, retention string
		period          time.Duration
		revisions       int64
		err             string
	}{
		{mode: "periodic", retention: "0"},
		{mode: "periodic", retention: "1", period: time.Hour},
		{mode: "periodic", retention: "72", period: 72 * time.Hour},
		{mode: "periodic", retention: "30m", period: 30 * time.Minute},
		{mode: "periodic", retention: "1h30m", period: 90 * time.Minute},
		{mode: "revision", retention: "1000", revisions: 1000},
		{mode: "revision", retention: "0"},
		{mode: "periodic", retention: "soon", err: "--auto-compaction-retention"},
		{mode: "periodic", retention: "-1", err: "--auto-compaction-retention"},
		{mode: "revision", retention: "1h", err: "--auto-compaction-retention"},
		{mode: "daily", retention: "1", err: "--auto-compaction-mode"},
		{mode: "", retention: "1", err: "--auto-compaction-mode"},
	}
	for _, tt := range tests {
		p, n, err := ParseRetention(tt.mode, tt.retention)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseRetention(%q, %q) error = %v, want %q", tt.mode, tt.retention, err, tt.err)
			}
			continue
		}
		if err != nil || p != tt.period || n != tt.revisions {
			t.Errorf("ParseRetention(%q, %q) = %v, %d, %v; want %v, %d", tt.mode, tt.retention, p, n, err, tt.period, tt.revisions)
		}
	}
	c := DefaultConfig()
	c.AutoCompactionRetention = "2"
	if c.AutoCompactionPeriod() != 2*time.Hour || c.AutoCompactionRevisions() != 0 {
		t.Errorf("periodic accessors: %v %d", c.AutoCompactionPeriod(), c.AutoCompactionRevisions())
	}
	c.AutoCompactionMode = CompactionModeRevision
	if c.AutoCompactionPeriod() != 0 || c.AutoCompactionRevisions() != 2 {
		t.Errorf("revision accessors: %v %d", c.AutoCompactionPeriod(), c.AutoCompactionRevisions())
	}
}

func mustURLsT(t *testing.T, s string) InitialCluster {
	t.Helper()
	ic, err := ParseInitialCluster(s)
	if err != nil {
		t.Fatal(err)
	}
	return ic
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		err    string // substring; empty means valid
	}{
		{"defaults", func(c *Config) {}, ""},
		{"empty name", func(c *Config) { c.Name = "" }, "--name"},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "--data-dir"},
		{"unknown cluster state", func(c *Config) { c.InitialClusterState = "old" }, `--initial-cluster-state: unexpected clusterState "old"`},
		{"existing state", func(c *Config) { c.InitialClusterState = ClusterStateExisting }, ""},
		{"name missing from new cluster", func(c *Config) { c.Name = "n9" }, `does not include --name "n9"`},
		{"name missing from existing cluster is fine", func(c *Config) {
			c.Name = "n9"
			c.InitialClusterState = ClusterStateExisting
		}, ""},
		{"advertise peer mismatch", func(c *Config) {
			c.InitialAdvertisePeerURLs = mustURLs("http://10.0.0.1:2380")
		}, "--initial-advertise-peer-urls is http://10.0.0.1:2380"},
		{"advertise peer same set other order", func(c *Config) {
			c.InitialAdvertisePeerURLs = mustURLs("http://10.0.0.2:2380,http://10.0.0.1:2380")
			c.InitialCluster = mustURLsT(t, "default=http://10.0.0.1:2380,default=http://10.0.0.2:2380")
		}, ""},
		{"duplicate peer URL", func(c *Config) {
			c.InitialCluster = mustURLsT(t, "default=http://localhost:2380,other=http://localhost:2380")
		}, "is listed for both"},
		{"empty initial cluster", func(c *Config) { c.InitialCluster = nil }, "--initial-cluster must not be empty"},
		{"election below 5x heartbeat", func(c *Config) { c.ElectionTimeout = 499 * time.Millisecond },
			"--election-timeout[499ms] should be at least as 5 times as --heartbeat-interval[100ms]"},
		{"election exactly 5x heartbeat", func(c *Config) { c.ElectionTimeout = 500 * time.Millisecond }, ""},
		{"election too long", func(c *Config) {
			c.HeartbeatInterval = time.Second
			c.ElectionTimeout = 50001 * time.Millisecond
		}, "--election-timeout[50001ms] is too long, and should be set less than 50000ms"},
		{"election 50000ms", func(c *Config) {
			c.HeartbeatInterval = time.Second
			c.ElectionTimeout = 50000 * time.Millisecond
		}, ""},
		{"zero heartbeat", func(c *Config) { c.HeartbeatInterval = 0 }, "--heartbeat-interval must be >0"},
		{"zero election", func(c *Config) { c.ElectionTimeout = 0 }, "--election-timeout must be >0"},
		{"bad compaction mode", func(c *Config) { c.AutoCompactionMode = "hourly" }, `unknown auto-compaction-mode "hourly"`},
		{"bad compaction retention", func(c *Config) { c.AutoCompactionRetention = "often" }, "--auto-compaction-retention"},
		{"revision retention not a count", func(c *Config) {
			c.AutoCompactionMode = CompactionModeRevision
			c.AutoCompactionRetention = "5m"
		}, "--auto-compaction-retention"},
		{"bad log level", func(c *Config) { c.LogLevel = "verbose" }, `--log-level: unknown level "verbose"`},
		// etcd 3.6's texts, which name no flag (see etcdLoggingText).
		{"bad log format", func(c *Config) { c.LogFormat = "xml" }, "unknown log format: xml, supported values json, console"},
		{"capnslog", func(c *Config) { c.Logger = "capnslog" }, "--logger=capnslog is removed in v3.5"},
		{"bad logger", func(c *Config) { c.Logger = "glog" }, `unknown logger option "glog"`},
		{"no log outputs means default", func(c *Config) { c.LogOutputs = nil }, ""},
		{"empty log format means json", func(c *Config) { c.LogFormat = "" }, ""},
		{"empty log output", func(c *Config) { c.LogOutputs = []string{""} }, "--log-outputs: empty output"},
		{"default with other output", func(c *Config) { c.LogOutputs = []string{"default", "stdout"} }, `multi logoutput for "default" is not supported yet`},
		{"journal with other output", func(c *Config) { c.LogOutputs = []string{"systemd/journal", "stderr"} },
			`running with systemd/journal but other '--log-outputs' values (["stderr" "systemd/journal"]) are configured with 'default'; override 'default' value with something else`},
		{"journal alone", func(c *Config) { c.LogOutputs = []string{"systemd/journal"} }, ""},
		{"several outputs", func(c *Config) { c.LogOutputs = []string{"stderr", "/var/log/concord.log"} }, ""},
		{"max request bytes 0", func(c *Config) { c.MaxRequestBytes = 0 }, "--max-request-bytes must be >0"},
		{"max txn ops 0", func(c *Config) { c.MaxTxnOps = 0 }, "--max-txn-ops"},
		{"snapshot count 0", func(c *Config) { c.SnapshotCount = 0 }, "--snapshot-count"},
		{"negative quota disables it, as etcd", func(c *Config) { c.QuotaBackendBytes = -1 }, ""},
		{"max learners 0", func(c *Config) { c.MaxLearners = 0 }, "--max-learners"},
		{"max streams 0", func(c *Config) { c.MaxConcurrentStreams = 0 }, "--max-concurrent-streams"},
		{"compact hash check time 0", func(c *Config) { c.CompactHashCheckTime = 0 }, "--compact-hash-check-time"},
		{"bind to host name", func(c *Config) { c.ListenClientURLs = mustURLs("http://example.com:2379") }, "--listen-client-urls: expected IP in URL for binding"},
		{"bind metrics to host name", func(c *Config) { c.ListenMetricsURLs = mustURLs("http://metrics.local:2381") }, "--listen-metrics-urls"},
		{"bind to 0.0.0.0", func(c *Config) {
			c.ListenClientURLs = mustURLs("http://0.0.0.0:2379,unix:///tmp/s")
			c.ListenPeerURLs = mustURLs("http://[::]:2380")
		}, ""},
		{"no listen peer", func(c *Config) { c.ListenPeerURLs = nil }, "--listen-peer-urls must not be empty"},
		{"listen client without advertise", func(c *Config) { c.AdvertiseClientURLs = nil },
			"--advertise-client-urls is required when --listen-client-urls is set explicitly"},
		{"advertise without host", func(c *Config) {
			c.AdvertiseClientURLs = mustURLs("http://:2379")
		}, `--advertise-client-urls "http://:2379" must be "host:port"`},
		{"metrics extensive", func(c *Config) { c.Metrics = "extensive" }, ""},
		{"bad metrics", func(c *Config) { c.Metrics = "all" }, "--metrics"},
		{"bad freelist", func(c *Config) { c.BackendFreelistType = "list" }, "--backend-bbolt-freelist-type"},
		{"bad tls min", func(c *Config) { c.TLSMinVersion = "SSL3" }, "--tls-min-version"},
		{"tls min above max", func(c *Config) {
			c.TLSMinVersion = "TLS1.3"
			c.TLSMaxVersion = "TLS1.2"
		}, "--tls-min-version: min version (TLS1.3) is greater than max version (TLS1.2)"},
		{"tls 1.1", func(c *Config) { c.TLSMinVersion = "TLS1.1" }, `unexpected TLS version "TLS1.1" (must be one of: TLS1.2, TLS1.3)`},
		{"unknown cipher", func(c *Config) { c.CipherSuites = []string{"TLS_BOGUS"} }, `--cipher-suites: unexpected TLS cipher suite "TLS_BOGUS"`},
		{"known ciphers", func(c *Config) {
			c.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}
		}, ""},
		{"tls13 ciphers", func(c *Config) {
			c.TLSMinVersion = "TLS1.3"
			c.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}
		}, "--cipher-suites"},
		{"bad auth token", func(c *Config) { c.AuthToken = "oauth" }, "--auth-token"},
		{"jwt auth token", func(c *Config) { c.AuthToken = "jwt,pub-key=a,priv-key=b,sign-method=RS256" }, ""},
		{"bcrypt cost too low", func(c *Config) { c.BcryptCost = 3 }, "--bcrypt-cost"},
		{"bcrypt cost too high", func(c *Config) { c.BcryptCost = 32 }, "--bcrypt-cost"},
		{"unknown gate", func(c *Config) { c.FeatureGates["Bogus"] = true }, "--feature-gates: unrecognized feature gate: Bogus"},
		{"discovery fallback proxy", func(c *Config) { c.Discovery.Fallback = "proxy" }, "--discovery-fallback"},
		{"discovery and initial cluster", func(c *Config) { c.Discovery.URL = "https://discovery.etcd.io/x" }, "multiple discovery or bootstrap flags"},
		{"discovery alone", func(c *Config) {
			c.Discovery.URL = "https://discovery.etcd.io/x"
			c.InitialCluster = nil
		}, ""},
		{"v3 discovery token without endpoints", func(c *Config) {
			c.Discovery.Token = "t"
			c.InitialCluster = nil
		}, "both --discovery-token and --discovery-endpoints"},
		{"bad v2 deprecation", func(c *Config) { c.V2Deprecation = "later" }, "--v2-deprecation"},
		{"bad proxy", func(c *Config) { c.Proxy = "maybe" }, "--proxy"},
		{"empty token", func(c *Config) { c.InitialClusterToken = "" }, "--initial-cluster-token"},
		{"tracing rate", func(c *Config) {
			c.Tracing.Enabled = true
			c.Tracing.SamplingRatePerMillion = 2000000
		}, "--distributed-tracing-sampling-rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(c)
			before := *c
			err := c.Validate()
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Validate error = %v, want one containing %q", err, tt.err)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not match ErrInvalid", err)
				}
				if !strings.HasPrefix(err.Error(), "--") && !strings.Contains(err.Error(), " --") && !strings.HasPrefix(err.Error(), "v2 proxy") &&
					!etcdLoggingText(err.Error()) {
					t.Errorf("error %q names no flag", err)
				}
			}
			if c.Name != before.Name || c.DataDir != before.DataDir || len(c.InitialCluster) != len(before.InitialCluster) ||
				len(c.AdvertiseClientURLs) != len(before.AdvertiseClientURLs) {
				t.Error("Validate changed the config")
			}
		})
	}
}

func TestDeferred(t *testing.T) {
	c := DefaultConfig()
	c.ClientTLS = TLSInfo{CertFile: "s.crt", KeyFile: "s.key", TrustedCAFile: "ca.crt", ClientCertAuth: true, CRLFile: "c.crl"}
	c.PeerTLS = TLSInfo{CertFile: "p.crt", KeyFile: "p.key", AutoTLS: true}
	c.Discovery.SRV = "example.com"
	c.ListenClientHTTPURLs = mustURLs("http://127.0.0.1:2378")
	c.AuthToken = "jwt,pub-key=a" // implemented: not deferred
	c.EnableLogRotation = true
	c.Tracing.Enabled = true
	c.FeatureGates[GateInitialCorruptCheck] = true // implemented: not deferred
	c.MaxWALs = 0
	want := []string{
		"discovery-srv",
		"enable-distributed-tracing", "enable-log-rotation", "max-wals",
	}
	got := c.Deferred()
	if !slices.Equal(got, want) {
		t.Errorf("Deferred() = %v\nwant %v", got, want)
	}
	for _, d := range c.DeferredSettings() {
		if d.Reason == "" {
			t.Errorf("%s has no reason", d.Flag)
		}
	}
	// Every row can fire and names a distinct flag.
	seen := map[string]bool{}
	for _, r := range deferredTable {
		if seen[r.flag] {
			t.Errorf("flag %s listed twice", r.flag)
		}
		seen[r.flag] = true
		if r.active(DefaultConfig()) {
			t.Errorf("row %s is active for the defaults", r.flag)
		}
	}
}

func TestNewLogger(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "concord.log")
	c := DefaultConfig()
	c.LogOutputs = []string{path}
	c.LogLevel = "warn"
	lg, err := c.NewLogger()
	if err != nil {
		t.Fatal(err)
	}
	lg.Info("hidden")
	lg.Warn("apply request took too long")
	_ = lg.Sync()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1 {
		t.Fatalf("log has %d lines, want 1: %q", len(lines), b)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %q", lines[0])
	}
	if rec["level"] != "warn" || rec["msg"] != "apply request took too long" || rec["ts"] == nil || rec["caller"] == nil {
		t.Errorf("record = %v", rec)
	}

	c.LogFormat = "console"
	lg, err = c.NewLogger()
	if err != nil {
		t.Fatal(err)
	}
	lg.Error("console line")
	_ = lg.Sync()
	b, _ = os.ReadFile(path)
	if !strings.Contains(string(b), "\terror\t") || !strings.Contains(string(b), "console line") {
		t.Errorf("console log = %q", b)
	}

	c.LogLevel = "loud"
	if _, err := c.NewLogger(); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("bad level error = %v", err)
	}
	c.LogLevel = "info"
	c.LogOutputs = []string{filepath.Join(dir, "missing", "x.log")}
	if _, err := c.NewLogger(); err == nil {
		t.Error("NewLogger opened a file in a missing directory")
	}
}

// etcdLoggingText reports whether msg is one of etcd 3.6's logging setup
// errors, which Concord repeats word for word although they name no flag.
func etcdLoggingText(msg string) bool {
	for _, p := range []string{"unknown log format: ", "unknown logger option ", "multi logoutput for ", "running with systemd/journal "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func TestSetGlobalLoggers(t *testing.T) {
	for _, level := range []string{"debug", "info", "warn", "error"} {
		path := filepath.Join(t.TempDir(), "log")
		c := DefaultConfig()
		c.LogOutputs = []string{path}
		c.LogLevel = level
		lg, err := c.NewLogger()
		if err != nil {
			t.Fatal(err)
		}
		restore := SetGlobalLoggers(lg, level)
		grpclog.Info("grpc info")
		grpclog.Error("grpc error")
		log.Print("http: TLS handshake error")
		restore()
		_ = lg.Sync()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var msgs []string
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("level %s: not a JSON entry: %q", level, line)
			}
			msgs = append(msgs, fmt.Sprint(rec["logger"], ":", rec["msg"]))
		}
		want := []string{"grpc:grpc error"}
		switch level {
		case "debug":
			want = []string{"grpc:grpc info", "grpc:grpc error", "std:http: TLS handshake error"}
		case "info", "warn":
			want = []string{"grpc:grpc error", "std:http: TLS handshake error"}
		}
		if !slices.Equal(msgs, want) {
			t.Errorf("level %s: entries %q, want %q", level, msgs, want)
		}
	}
}
