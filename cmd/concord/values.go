package main

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/concord-kv/concord/config"
)

// pflag.Value implementations for the syntaxes etcd's flags use. Each one
// replaces (never appends to) its destination on Set, as etcd's do, so a
// later source overrides an earlier one.

// urlsValue is a comma-separated URL list (--listen-client-urls, ...).
type urlsValue struct{ dst *[]url.URL }

func (v urlsValue) String() string { return config.URLsString(*v.dst) }
func (v urlsValue) Type() string   { return "urls" }
func (v urlsValue) Set(s string) error {
	us, err := config.ParseURLs(s)
	if err != nil {
		return err
	}
	*v.dst = us
	return nil
}

// stringsValue is a comma-separated string list (--log-outputs, ...).
type stringsValue struct{ dst *[]string }

func (v stringsValue) String() string { return strings.Join(*v.dst, ",") }
func (v stringsValue) Type() string   { return "strings" }
func (v stringsValue) Set(s string) error {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	*v.dst = out
	return nil
}

// unitDurationValue is a duration etcd counts in a unit: integer
// milliseconds for --heartbeat-interval, seconds for --auth-token-ttl. Go
// durations ("150ms") are accepted too.
type unitDurationValue struct {
	dst  *time.Duration
	unit time.Duration
}

func (v unitDurationValue) String() string {
	return strconv.FormatInt(int64(*v.dst/v.unit), 10)
}

func (v unitDurationValue) Type() string {
	if v.unit == time.Second {
		return "seconds"
	}
	return "milliseconds"
}

func (v unitDurationValue) Set(s string) error {
	var d time.Duration
	var err error
	if v.unit == time.Second {
		d, err = config.ParseSeconds(s)
	} else {
		d, err = config.ParseMilliseconds(s)
	}
	if err != nil {
		return err
	}
	*v.dst = d
	return nil
}

// initialClusterValue is --initial-cluster.
type initialClusterValue struct{ dst *config.InitialCluster }

func (v initialClusterValue) String() string { return v.dst.String() }
func (v initialClusterValue) Type() string   { return "name=url,..." }
func (v initialClusterValue) Set(s string) error {
	ic, err := config.ParseInitialCluster(s)
	if err != nil {
		return err
	}
	*v.dst = ic
	return nil
}

// featureGatesValue is --feature-gates: parsed on Set (so errors name the
// flag at once) into the explicitly given gates.
type featureGatesValue struct {
	dst *map[string]bool
	raw *string
}

func (v featureGatesValue) String() string { return *v.raw }
func (v featureGatesValue) Type() string   { return "Name=bool,..." }
func (v featureGatesValue) Set(s string) error {
	g, err := config.ParseFeatureGates(s)
	if err != nil {
		return err
	}
	*v.dst = g
	*v.raw = s
	return nil
}

// gateFlagValue is a 3.5 boolean --experimental-* flag that 3.6 turned
// into a feature gate; Set records the gate's requested value.
type gateFlagValue struct {
	gate string
	dst  map[string]bool
}

func (v gateFlagValue) String() string {
	if b, ok := v.dst[v.gate]; ok {
		return strconv.FormatBool(b)
	}
	return "false"
}
func (v gateFlagValue) Type() string     { return "bool" }
func (v gateFlagValue) IsBoolFlag() bool { return true }
func (v gateFlagValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	v.dst[v.gate] = b
	return nil
}
