package config

// This file is the one list of accepted settings that Concord does not act
// on yet. When a feature lands, delete its rows; nothing else refers to
// them.

// Reasons shared by several rows.
const (
	reasonDiscovery = "discovery bootstrap is not implemented yet: use --initial-cluster"
	reasonBbolt     = "no effect: Concord keeps its data in Pebble, not in bbolt and WAL files"
	reasonV2        = "the v2 API and v2 proxy are not served (etcd removed them in 3.6)"
)

// deferredRow is one setting: the flag (or YAML key) that carries it, why
// Concord ignores it, and whether c asks for it (a value other than the
// one that means "feature off").
type deferredRow struct {
	flag   string
	reason string
	active func(c *Config) bool
}

var deferredTable = []deferredRow{
	// Clustering.
	{"discovery", reasonDiscovery, func(c *Config) bool { return c.Discovery.URL != "" }},
	{"discovery-proxy", reasonDiscovery, func(c *Config) bool { return c.Discovery.Proxy != "" }},
	{"discovery-srv", reasonDiscovery, func(c *Config) bool { return c.Discovery.SRV != "" }},
	{"discovery-srv-name", reasonDiscovery, func(c *Config) bool { return c.Discovery.SRVName != "" }},
	{"discovery-token", reasonDiscovery, func(c *Config) bool { return c.Discovery.Token != "" }},
	{"discovery-endpoints", reasonDiscovery, func(c *Config) bool { return len(c.Discovery.Endpoints) > 0 }},
	{"force-new-cluster", "--force-new-cluster is not implemented yet", func(c *Config) bool { return c.ForceNewCluster }},

	{"auto-compaction-retention", "auto-compaction is not implemented yet: compact with `concordctl compaction` (kube-apiserver compacts by itself)",
		func(c *Config) bool { return c.AutoCompactionPeriod() > 0 || c.AutoCompactionRevisions() > 0 }},

	// Listeners and HTTP.
	{"cors", "CORS origin checks are not implemented yet: every origin is allowed",
		func(c *Config) bool { return !(len(c.CORS) == 1 && c.CORS[0] == "*") && len(c.CORS) > 0 }},
	{"host-whitelist", "Host header checks are not implemented yet: every host is allowed",
		func(c *Config) bool {
			return !(len(c.HostWhitelist) == 1 && c.HostWhitelist[0] == "*") && len(c.HostWhitelist) > 0
		}},
	{"socket-reuse-port", "SO_REUSEPORT is not implemented yet", func(c *Config) bool { return c.SocketReusePort }},
	{"socket-reuse-address", "SO_REUSEADDR is not implemented yet", func(c *Config) bool { return c.SocketReuseAddress }},

	// Monitoring, tracing, logging.
	{"metrics", "--metrics=extensive (gRPC handling-time histograms) is not implemented yet: basic metrics are served",
		func(c *Config) bool { return c.Metrics == "extensive" }},
	{"enable-distributed-tracing", "OpenTelemetry tracing is not implemented yet", func(c *Config) bool { return c.Tracing.Enabled }},
	{"enable-log-rotation", "log rotation is not implemented yet: files grow without bound", func(c *Config) bool { return c.EnableLogRotation }},

	// Process and storage.
	{"memory-mlock", "--memory-mlock is not implemented yet", func(c *Config) bool { return c.MemoryMlock }},
	{"unsafe-no-fsync", "--unsafe-no-fsync is not implemented yet: every raft ready is synced", func(c *Config) bool { return c.UnsafeNoFsync }},
	{"max-snapshots", reasonBbolt, func(c *Config) bool { return c.MaxSnapshots != 5 }},
	{"max-wals", reasonBbolt, func(c *Config) bool { return c.MaxWALs != 5 }},
	{"backend-bbolt-freelist-type", reasonBbolt, func(c *Config) bool { return c.BackendFreelistType != "map" }},
	{"backend-batch-interval", reasonBbolt, func(c *Config) bool { return c.BackendBatchInterval != 0 }},
	{"backend-batch-limit", reasonBbolt, func(c *Config) bool { return c.BackendBatchLimit != 0 }},
	{"bootstrap-defrag-threshold-megabytes", "no effect: Pebble needs no defragmentation", func(c *Config) bool { return c.BootstrapDefragThresholdMegabytes != 0 }},

	// etcd 3.5 v2 leftovers.
	{"enable-v2", reasonV2, func(c *Config) bool { return c.EnableV2 }},
	{"experimental-enable-v2v3", reasonV2, func(c *Config) bool { return c.ExperimentalEnableV2V3 != "" }},
	{"proxy", reasonV2, func(c *Config) bool { return c.Proxy != "off" }},
}

// DeferredSetting is one accepted setting Concord does not act on yet.
type DeferredSetting struct {
	// Flag is the flag name without dashes (or the YAML key for settings
	// that only the config file has).
	Flag string
	// Reason says what Concord does instead, for the warning.
	Reason string
}

// DeferredSettings lists, in a fixed order, the settings c asks for (a
// value other than the one meaning "off") whose feature Concord does not
// implement yet or which have no meaning for Concord. The server logs one
// warning per entry; nothing is silently ignored.
func (c *Config) DeferredSettings() []DeferredSetting {
	var out []DeferredSetting
	for _, r := range deferredTable {
		if r.active(c) {
			out = append(out, DeferredSetting{Flag: r.flag, Reason: r.reason})
		}
	}
	return out
}

// Deferred is DeferredSettings' flag names.
func (c *Config) Deferred() []string {
	var out []string
	for _, d := range c.DeferredSettings() {
		out = append(out, d.Flag)
	}
	return out
}
