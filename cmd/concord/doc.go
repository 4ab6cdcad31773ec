// Package main is the concord server command: a thin main that turns
// etcd-compatible flags, ETCD_* environment variables or a YAML
// --config-file into a config.Config and runs server.Run with it until
// SIGINT or SIGTERM.
//
// A systemd unit or Kubernetes static-pod manifest written for etcd works
// by changing the binary name: flag names, defaults, the environment rule
// (ETCD_<FLAG_IN_UPPER_SNAKE> sets a flag not given on the command line)
// and the config-file keys are etcd's; single-dash long flags ("-name x")
// are accepted as etcd's Go flag package accepts them.
//
// Exit status: 0 after --version, --help or a clean shutdown; 1 after an
// invalid command line (one line on stderr naming the flag) or a server
// error.
//
// Goroutines: main starts none itself; signal.NotifyContext runs the
// signal watcher that cancels server.Run's context.
package main
