package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid matches (errors.Is) every error of the Parse* functions and
// of Validate, so callers can tell a configuration mistake from an I/O
// error. The errors' own text starts with the flag at fault, as etcd's do
// ("--election-timeout[...] should be ..."), without this sentinel's text.
var ErrInvalid = errors.New("config: invalid configuration")

// invalidError is a configuration mistake; it matches ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// ParseURLs parses a comma-separated URL list as etcd's URL flags do:
// schemes http and https need "host:port" and no path; unix and unixs take
// any address. Duplicates are dropped (first kept), order is kept. An empty
// string is an empty list. Errors wrap ErrInvalid and quote the bad URL.
func ParseURLs(s string) ([]url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []url.URL
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		u, err := parseURL(part)
		if err != nil {
			return nil, err
		}
		if seen[u.String()] {
			continue
		}
		seen[u.String()] = true
		out = append(out, u)
	}
	return out, nil
}

func parseURL(s string) (url.URL, error) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil {
		return url.URL{}, invalidf("URL %q: %v", s, err)
	}
	switch u.Scheme {
	case "http", "https":
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return url.URL{}, invalidf(`URL address does not have the form "host:port": %s`, s)
		}
		if u.Path != "" {
			return url.URL{}, invalidf("URL must not contain a path: %s", s)
		}
	case "unix", "unixs":
	default:
		return url.URL{}, invalidf("URL scheme must be http, https, unix, or unixs: %s", s)
	}
	return *u, nil
}

// URLsString joins URLs with commas, the syntax ParseURLs reads.
func URLsString(us []url.URL) string {
	s := make([]string, len(us))
	for i := range us {
		s[i] = us[i].String()
	}
	return strings.Join(s, ",")
}

// Member is one --initial-cluster entry: a member name and its peer URLs.
type Member struct {
	// Name is the member's --name.
	Name string
	// PeerURLs are its peer URLs in the order listed; the member ID is
	// derived from them (sorted) and the cluster token.
	PeerURLs []url.URL
}

// InitialCluster is --initial-cluster parsed: members in the order their
// names first appear.
type InitialCluster []Member

// ParseInitialCluster parses etcd's --initial-cluster syntax
// "name=peerURL,name=peerURL,...". A name listed more than once gathers
// all its URLs (a member with several peer URLs). An empty string is an
// empty cluster. Errors wrap ErrInvalid.
func ParseInitialCluster(s string) (InitialCluster, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var ic InitialCluster
	index := map[string]int{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		name, raw, ok := strings.Cut(entry, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, invalidf("--initial-cluster entry %q is not name=peerURL", entry)
		}
		u, err := parseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("--initial-cluster member %q: %w", name, err)
		}
		i, found := index[name]
		if !found {
			i = len(ic)
			index[name] = i
			ic = append(ic, Member{Name: name})
		}
		if !slices.ContainsFunc(ic[i].PeerURLs, func(v url.URL) bool { return v.String() == u.String() }) {
			ic[i].PeerURLs = append(ic[i].PeerURLs, u)
		}
	}
	return ic, nil
}

// InitialClusterFromName is the cluster etcd assumes when --initial-cluster
// is not given: the one member name with its advertised peer URLs.
func InitialClusterFromName(name string, peerURLs []url.URL) InitialCluster {
	if len(peerURLs) == 0 {
		return nil
	}
	if name == "" {
		name = DefaultName
	}
	return InitialCluster{{Name: name, PeerURLs: slices.Clone(peerURLs)}}
}

// Lookup returns the member called name.
func (ic InitialCluster) Lookup(name string) (Member, bool) {
	for _, m := range ic {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// String renders ic in --initial-cluster syntax.
func (ic InitialCluster) String() string {
	var parts []string
	for _, m := range ic {
		for _, u := range m.PeerURLs {
			parts = append(parts, m.Name+"="+u.String())
		}
	}
	return strings.Join(parts, ",")
}

// Feature gate names, as etcd 3.6/3.7 spell them in --feature-gates.
const (
	GateStopGRPCServiceOnDefrag      = "StopGRPCServiceOnDefrag"
	GateInitialCorruptCheck          = "InitialCorruptCheck"
	GateCompactHashCheck             = "CompactHashCheck"
	GateTxnModeWriteWithSharedBuffer = "TxnModeWriteWithSharedBuffer"
	GateLeaseCheckpoint              = "LeaseCheckpoint"
	GateLeaseCheckpointPersist       = "LeaseCheckpointPersist"
	GateSetMemberLocalAddr           = "SetMemberLocalAddr"
	GateFastLeaseKeepAlive           = "FastLeaseKeepAlive"
	GatePriorityRequest              = "PriorityRequest"
)

// knownFeatureGates maps every accepted gate to its Concord default. These
// are etcd's defaults except the lease checkpoint gates, on by default
// because Concord keeps lease TTLs across leader changes.
var knownFeatureGates = map[string]bool{
	GateStopGRPCServiceOnDefrag:      false,
	GateInitialCorruptCheck:          false,
	GateCompactHashCheck:             false,
	GateTxnModeWriteWithSharedBuffer: true,
	GateLeaseCheckpoint:              true,
	GateLeaseCheckpointPersist:       true,
	GateSetMemberLocalAddr:           false,
	GateFastLeaseKeepAlive:           true,
	GatePriorityRequest:              false,
}

// KnownFeatureGates returns the accepted gate names, sorted.
func KnownFeatureGates() []string {
	return slices.Sorted(maps.Keys(knownFeatureGates))
}

// DefaultFeatureGates returns a fresh map of every known gate to its
// default.
func DefaultFeatureGates() map[string]bool {
	return maps.Clone(knownFeatureGates)
}

// ParseFeatureGates parses --feature-gates ("Name=bool,Name=bool") into the
// gates the text names. Unknown names and non-boolean values are errors
// (etcd's rule); the errors wrap ErrInvalid and name --feature-gates.
func ParseFeatureGates(s string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, val, ok := strings.Cut(entry, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, invalidf("--feature-gates: missing bool value for %s", name)
		}
		if _, known := knownFeatureGates[name]; !known {
			return nil, invalidf("--feature-gates: unrecognized feature gate: %s", name)
		}
		b, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			return nil, invalidf("--feature-gates: invalid value of %s=%s, err: %v", name, val, err)
		}
		out[name] = b
	}
	return out, nil
}

// FeatureGatesString renders gates as "Name=bool,..." sorted by name.
func FeatureGatesString(gates map[string]bool) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(gates)) {
		parts = append(parts, k+"="+strconv.FormatBool(gates[k]))
	}
	return strings.Join(parts, ",")
}

// ParseMilliseconds reads a duration counted in milliseconds the way etcd's
// --heartbeat-interval and --election-timeout are written ("100"), also
// accepting a Go duration ("100ms", "1s"). Negative values are errors.
func ParseMilliseconds(s string) (time.Duration, error) {
	return parseUnitDuration(s, time.Millisecond)
}

// ParseSeconds reads a duration counted in seconds (--auth-token-ttl
// "300"), also accepting a Go duration ("5m").
func ParseSeconds(s string) (time.Duration, error) {
	return parseUnitDuration(s, time.Second)
}

func parseUnitDuration(s string, unit time.Duration) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 10, 63); err == nil {
		d := time.Duration(n) * unit
		if d/unit != time.Duration(n) {
			return 0, invalidf("%q is out of range", s)
		}
		return d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, invalidf("%q is neither an integer nor a duration", s)
	}
	if d < 0 {
		return 0, invalidf("%q is negative", s)
	}
	return d, nil
}

// ParseRetention interprets --auto-compaction-retention under mode as etcd
// does: in periodic mode a unit-less integer counts hours and anything else
// is a Go duration ("30m"); in revision mode it is a revision count. "0"
// disables auto-compaction. Exactly one of period and revisions is
// meaningful. Errors wrap ErrInvalid and name the flag.
func ParseRetention(mode, retention string) (period time.Duration, revisions int64, err error) {
	retention = strings.TrimSpace(retention)
	switch mode {
	case CompactionModePeriodic:
		if h, err := strconv.ParseInt(retention, 10, 64); err == nil {
			if h < 0 || h > int64(time.Duration(1<<63-1)/time.Hour) {
				return 0, 0, invalidf("--auto-compaction-retention %q is out of range", retention)
			}
			return time.Duration(h) * time.Hour, 0, nil
		}
		d, err := time.ParseDuration(retention)
		if err != nil || d < 0 {
			return 0, 0, invalidf("--auto-compaction-retention %q is neither a number of hours nor a duration", retention)
		}
		return d, 0, nil
	case CompactionModeRevision:
		n, err := strconv.ParseInt(retention, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, invalidf("--auto-compaction-retention %q is not a revision count (mode revision)", retention)
		}
		return 0, n, nil
	case "":
		return 0, 0, invalidf("--auto-compaction-mode is undefined")
	default:
		return 0, 0, invalidf("--auto-compaction-mode: unknown auto-compaction-mode %q (want periodic or revision)", mode)
	}
}

// AutoCompactionPeriod is the retention window in periodic mode (0: off,
// or not periodic mode); call after Validate.
func (c *Config) AutoCompactionPeriod() time.Duration {
	p, _, err := ParseRetention(c.AutoCompactionMode, c.AutoCompactionRetention)
	if err != nil {
		return 0
	}
	return p
}

// AutoCompactionRevisions is the number of revisions kept in revision mode
// (0: off, or not revision mode); call after Validate.
func (c *Config) AutoCompactionRevisions() int64 {
	_, n, err := ParseRetention(c.AutoCompactionMode, c.AutoCompactionRetention)
	if err != nil {
		return 0
	}
	return n
}
