package config

import (
	"crypto/tls"
	"net"
	"net/url"
	"slices"
	"strings"

	"go.etcd.io/etcd/client/pkg/v3/tlsutil"
)

// Validate reports the first invalid setting, naming its flag; it changes
// nothing. The rules are etcd's (server/embed Config.Validate and the
// bootstrap checks) plus a few etcd leaves to runtime:
//
//   - --initial-cluster-state is "new" or "existing";
//   - a new cluster's --initial-cluster includes --name, and this member's
//     entry lists exactly --initial-advertise-peer-urls (compared as
//     strings; etcd also resolves host names);
//   - no peer URL belongs to two members;
//   - --heartbeat-interval and --election-timeout are > 0, the election
//     timeout is at least 5 × the heartbeat and at most 50000 ms;
//   - listen URLs bind an IP address or "localhost"; advertised URLs have
//     a host and a port; --advertise-client-urls is set whenever
//     --listen-client-urls is;
//   - --auto-compaction-mode and --auto-compaction-retention parse;
//   - --log-level, --log-format, --log-outputs, --logger, --metrics,
//     --backend-bbolt-freelist-type, --tls-min-version/--tls-max-version,
//     --auth-token, --bcrypt-cost and --feature-gates hold known values;
//   - --max-request-bytes, --max-txn-ops, --snapshot-count, --max-learners
//     and --compact-hash-check-time are > 0.
//
// Every error wraps ErrInvalid.
func (c *Config) Validate() error {
	checks := []func() error{
		c.validateMember,
		c.validateTiming,
		c.validateURLs,
		c.validateCluster,
		c.validateLimits,
		c.validateCompaction,
		c.validateLogging,
		c.validateSecurity,
		c.validateMisc,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateMember() error {
	if strings.TrimSpace(c.Name) == "" {
		return invalidf("--name must not be empty")
	}
	if c.DataDir == "" {
		return invalidf("--data-dir must not be empty")
	}
	return nil
}

func (c *Config) validateTiming() error {
	tick, election := c.HeartbeatInterval.Milliseconds(), c.ElectionTimeout.Milliseconds()
	if c.HeartbeatInterval <= 0 {
		return invalidf("--heartbeat-interval must be >0 (set to %dms)", tick)
	}
	if c.ElectionTimeout <= 0 {
		return invalidf("--election-timeout must be >0 (set to %dms)", election)
	}
	if 5*c.HeartbeatInterval > c.ElectionTimeout {
		return invalidf("--election-timeout[%vms] should be at least as 5 times as --heartbeat-interval[%vms]", election, tick)
	}
	if c.ElectionTimeout > MaxElectionTimeout {
		return invalidf("--election-timeout[%vms] is too long, and should be set less than %vms", election, MaxElectionTimeout.Milliseconds())
	}
	return nil
}

func (c *Config) validateURLs() error {
	binds := []struct {
		flag     string
		urls     []url.URL
		required bool
	}{
		{"--listen-peer-urls", c.ListenPeerURLs, true},
		{"--listen-client-urls", c.ListenClientURLs, true},
		{"--listen-client-http-urls", c.ListenClientHTTPURLs, false},
		{"--listen-metrics-urls", c.ListenMetricsURLs, false},
	}
	for _, b := range binds {
		if b.required && len(b.urls) == 0 {
			return invalidf("%s must not be empty", b.flag)
		}
		for _, u := range b.urls {
			if err := checkBindURL(u); err != nil {
				return invalidf("%s: %v", b.flag, err)
			}
		}
	}
	if len(c.InitialAdvertisePeerURLs) == 0 {
		return invalidf("--initial-advertise-peer-urls must not be empty")
	}
	if len(c.ListenClientURLs) > 0 && len(c.AdvertiseClientURLs) == 0 {
		return invalidf("--advertise-client-urls is required when --listen-client-urls is set explicitly")
	}
	for _, a := range []struct {
		flag string
		urls []url.URL
	}{
		{"--initial-advertise-peer-urls", c.InitialAdvertisePeerURLs},
		{"--advertise-client-urls", c.AdvertiseClientURLs},
	} {
		for _, u := range a.urls {
			if err := checkHostURL(u); err != nil {
				return invalidf(`%s %q must be "host:port" (%v)`, a.flag, URLsString(a.urls), err)
			}
		}
	}
	return nil
}

// checkBindURL: etcd binds listeners to IP addresses (or localhost), never
// to names it would have to resolve.
func checkBindURL(u url.URL) error {
	if u.Scheme == "unix" || u.Scheme == "unixs" {
		return nil
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if net.ParseIP(host) == nil {
		return invalidf("expected IP in URL for binding (%s)", u.String())
	}
	return nil
}

func checkHostURL(u url.URL) error {
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return err
	}
	if host == "" {
		return invalidf("unexpected empty host (%s)", u.String())
	}
	if port == "" {
		return invalidf("unexpected empty port (%s)", u.String())
	}
	return nil
}

func (c *Config) validateCluster() error {
	switch c.InitialClusterState {
	case ClusterStateNew, ClusterStateExisting, ClusterStateAuto:
	default:
		return invalidf("--initial-cluster-state: unexpected clusterState %q (want %q or %q)",
			c.InitialClusterState, ClusterStateNew, ClusterStateExisting)
	}
	if c.InitialClusterToken == "" {
		return invalidf("--initial-cluster-token must not be empty")
	}
	if c.Discovery.Fallback != "exit" && c.Discovery.Fallback != "proxy" {
		return invalidf("--discovery-fallback: unexpected value %q (want exit)", c.Discovery.Fallback)
	}
	if c.Discovery.Fallback == "proxy" {
		return invalidf(`v2 proxy is deprecated, and --discovery-fallback can't be configured as "proxy"`)
	}
	methods := 0
	for _, set := range []bool{c.Discovery.URL != "", len(c.InitialCluster) > 0, c.Discovery.SRV != "", len(c.Discovery.Endpoints) > 0} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		return invalidf("--initial-cluster: multiple discovery or bootstrap flags are set; choose one of --initial-cluster, --discovery, --discovery-srv or --discovery-endpoints")
	}
	if (c.Discovery.Token != "") != (len(c.Discovery.Endpoints) > 0) {
		return invalidf("both --discovery-token and --discovery-endpoints must be set")
	}
	if c.Discovery.Enabled() {
		return nil
	}
	if len(c.InitialCluster) == 0 {
		return invalidf("--initial-cluster must not be empty")
	}
	owner := map[string]string{}
	for _, m := range c.InitialCluster {
		if m.Name == "" {
			return invalidf("--initial-cluster: empty member name")
		}
		if len(m.PeerURLs) == 0 {
			return invalidf("--initial-cluster: member %q has no peer URL", m.Name)
		}
		for _, u := range m.PeerURLs {
			if prev, dup := owner[u.String()]; dup && prev != m.Name {
				return invalidf("--initial-cluster: peer URL %s is listed for both %q and %q", u.String(), prev, m.Name)
			}
			owner[u.String()] = m.Name
		}
	}
	self, found := c.InitialCluster.Lookup(c.Name)
	if !found {
		if c.InitialClusterState == ClusterStateNew {
			return invalidf("--initial-cluster %q does not include --name %q (couldn't find local name in the initial cluster configuration)",
				c.InitialCluster.String(), c.Name)
		}
		return nil
	}
	if !sameURLSet(self.PeerURLs, c.InitialAdvertisePeerURLs) {
		return invalidf("--initial-cluster has %s=%s but --initial-advertise-peer-urls is %s; they must match",
			c.Name, URLsString(self.PeerURLs), URLsString(c.InitialAdvertisePeerURLs))
	}
	return nil
}

func sameURLSet(a, b []url.URL) bool {
	as, bs := urlStrings(a), urlStrings(b)
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(slices.Compact(as), slices.Compact(bs))
}

func urlStrings(us []url.URL) []string {
	out := make([]string, len(us))
	for i := range us {
		out[i] = us[i].String()
	}
	return out
}

func (c *Config) validateLimits() error {
	switch {
	case c.MaxRequestBytes == 0:
		return invalidf("--max-request-bytes must be >0")
	case c.MaxTxnOps == 0:
		return invalidf("--max-txn-ops must be >0")
	case c.SnapshotCount == 0:
		return invalidf("--snapshot-count must be >0")
	case c.MaxConcurrentStreams == 0:
		return invalidf("--max-concurrent-streams must be >0")
	case c.MaxLearners < 1:
		return invalidf("--max-learners must be >0, got %d", c.MaxLearners)
	case c.CompactHashCheckTime <= 0:
		return invalidf("--compact-hash-check-time must be >0 (set to %v)", c.CompactHashCheckTime)
	case c.CompactionBatchLimit < 0:
		return invalidf("--compaction-batch-limit must be >=0, got %d", c.CompactionBatchLimit)
	case c.BackendBatchLimit < 0:
		return invalidf("--backend-batch-limit must be >=0, got %d", c.BackendBatchLimit)
	}
	return nil
}

func (c *Config) validateCompaction() error {
	_, _, err := ParseRetention(c.AutoCompactionMode, c.AutoCompactionRetention)
	return err
}

// logLevels are the accepted --log-level values.
var logLevels = []string{"debug", "info", "warn", "error", "dpanic", "panic", "fatal"}

func (c *Config) validateLogging() error {
	// The texts are etcd 3.6's (embed.Config.setupLogging and logutil).
	switch c.Logger {
	case "zap":
	case "capnslog":
		return invalidf("--logger=capnslog is removed in v3.5")
	default:
		return invalidf("unknown logger option %q", c.Logger)
	}
	if !slices.Contains(logLevels, c.LogLevel) {
		return invalidf("--log-level: unknown level %q (want one of %s)", c.LogLevel, strings.Join(logLevels, ", "))
	}
	if c.LogFormat != "" && c.LogFormat != "json" && c.LogFormat != "console" {
		return invalidf("unknown log format: %s, supported values json, console", c.LogFormat)
	}
	outs := c.logOutputs()
	for _, o := range outs {
		if o == "" {
			return invalidf("--log-outputs: empty output")
		}
		if o == "default" && len(outs) > 1 {
			return invalidf("multi logoutput for %q is not supported yet", o)
		}
	}
	if slices.Contains(outs, "systemd/journal") && len(outs) > 1 {
		// etcd's flag keeps the outputs sorted; so does its message.
		return invalidf("running with systemd/journal but other '--log-outputs' values (%q) are configured with 'default'; override 'default' value with something else",
			slices.Sorted(slices.Values(outs)))
	}
	return nil
}

func (c *Config) validateSecurity() error {
	// etcd's checks and texts (embed.Config.Validate and tlsutil): TLS1.2
	// or TLS1.3, min not above max, no cipher suites for TLS1.3 only, and
	// cipher suites by Go's (and etcd's) names.
	minV, err := tlsutil.GetTLSVersion(c.TLSMinVersion)
	if err != nil {
		return invalidf("--tls-min-version: %v", err)
	}
	maxV, err := tlsutil.GetTLSVersion(c.TLSMaxVersion)
	if err != nil {
		return invalidf("--tls-max-version: %v", err)
	}
	if maxV != 0 && minV > maxV {
		return invalidf("--tls-min-version: min version (%s) is greater than max version (%s)", c.TLSMinVersion, c.TLSMaxVersion)
	}
	if minV == tls.VersionTLS13 && len(c.CipherSuites) > 0 {
		return invalidf("--cipher-suites: cipher suites cannot be configured when only TLS1.3 is enabled")
	}
	if _, err := tlsutil.GetCipherSuites(c.CipherSuites); err != nil {
		return invalidf("--cipher-suites: %v", err)
	}
	kind, _, _ := strings.Cut(c.AuthToken, ",")
	if kind != "simple" && kind != "jwt" {
		return invalidf("--auth-token: unknown token type %q (want simple or jwt,...)", kind)
	}
	if c.BcryptCost < 4 || c.BcryptCost > 31 {
		return invalidf("--bcrypt-cost %d is out of range [4, 31]", c.BcryptCost)
	}
	return nil
}

func (c *Config) validateMisc() error {
	if c.LearnerPromoteAfter < 0 {
		return invalidf("--learner-promote-after must be ≥ 0 (set to %v)", c.LearnerPromoteAfter)
	}
	if c.Metrics != "basic" && c.Metrics != "extensive" {
		return invalidf("--metrics: unknown value %q (want basic or extensive)", c.Metrics)
	}
	if c.BackendFreelistType != "map" && c.BackendFreelistType != "array" {
		return invalidf("--backend-bbolt-freelist-type: unknown value %q (want map or array)", c.BackendFreelistType)
	}
	for name := range c.FeatureGates {
		if _, ok := knownFeatureGates[name]; !ok {
			return invalidf("--feature-gates: unrecognized feature gate: %s", name)
		}
	}
	switch c.V2Deprecation {
	case "not-yet", "write-only", "write-only-skip-check", "write-only-drop-data", "gone":
	default:
		return invalidf("--v2-deprecation: unknown stage %q", c.V2Deprecation)
	}
	switch c.Proxy {
	case "off", "readonly", "on":
	default:
		return invalidf("--proxy: unknown value %q (want off, readonly or on)", c.Proxy)
	}
	if c.Tracing.Enabled && (c.Tracing.SamplingRatePerMillion < 0 || c.Tracing.SamplingRatePerMillion > 1000000) {
		return invalidf("--distributed-tracing-sampling-rate %d is out of range [0, 1000000]", c.Tracing.SamplingRatePerMillion)
	}
	return nil
}
