// Package config holds the configuration of one Concord member: every flag
// of etcd's server (v3.5 and v3.6 spellings) with etcd's defaults and
// meanings, plus the few Concord-only switches.
//
// The package is pure data and rules: DefaultConfig returns a fresh value
// with the defaults, Validate reports the first invalid setting naming the
// flag at fault, Deferred lists the settings whose feature Concord does not
// implement yet so the server can warn about each of them, and NewLogger
// builds the zap logger the logging flags describe. Binding flags,
// environment variables and the YAML config file onto a Config lives in
// cmd/concord; the string syntaxes those sources share (URL lists,
// --initial-cluster, --feature-gates, durations in milliseconds) are parsed
// by the Parse* functions here so every source accepts exactly the same
// text.
//
// The package starts no goroutines.
package config
