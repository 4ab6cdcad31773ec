// Package benchcmd is the command line of concord-bench: cobra commands
// binding etcd benchmark's flags to the bench package's options. Commands
// write to cmd.OutOrStdout() and cmd.ErrOrStderr(), return errors from
// RunE and never exit, so they run in process in tests; the exit code is
// main's business.
//
// Goroutines: none of its own; the workloads' are listed in package bench.
package benchcmd
