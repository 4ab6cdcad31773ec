// Package ctl implements concordctl, Concord's command line: command for
// command, flag for flag and byte for byte the output of etcdctl v3.6
// (simple, json, fields, protobuf and table output formats, ETCDCTL_*
// environment variables, etcdctl's exit codes). It talks to a cluster only
// through the official client go.etcd.io/etcd/client/v3, so it works the same
// against etcd and Concord.
//
// Commands are cobra commands built by NewRootCommand; every command keeps
// its flags in an options struct, runs through RunE and writes to the
// command's OutOrStdout/ErrOrStderr, so the whole tree can run in process in
// tests. Errors come back as *ExitCodeError carrying etcdctl's exit code; only
// cmd/concordctl's main prints them ("Error: <message>") and exits.
//
// Goroutines: endpoint health checks one goroutine per endpoint (joined
// before the command returns); watch -i runs one printing goroutine per
// watch, lock and elect one goroutine waiting for the interrupt signal, all
// ending when the command's context ends; check perf/datascale run a fixed
// pool of writer goroutines joined before the report.
package ctl
