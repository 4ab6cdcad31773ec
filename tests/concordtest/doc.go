// Package concordtest starts real Concord clusters for end-to-end tests:
// the tools' tests (concordctl, concord-bench), tests/e2e and
// tests/linearizability all use it. It builds ./cmd/concord once per test
// binary (go build, CGO_ENABLED=0, into a temporary directory; or uses
// $CONCORD_BIN when set; Build does the same for other commands) and
// starts n members with etcd's own flags, member i listening on
// 127.0.0.(i+1) on free ports.
//
// Its basic API mirrors bench/etcdtest (Start(t, n) *Cluster,
// Cluster.Endpoints, Cluster.Client, Member.ClientURL), so one test body can
// run against a Concord cluster and against an etcd 3.4 cluster as the
// oracle. StartOptions (or New, then Launch) configures the URL scheme and
// client TLS, the flags of every member and of each one, the cluster token
// and what to wait for. Fault injection works on members: Member.Kill
// (kill -9, waiting for the exit), Member.Signal (SIGSTOP/SIGCONT to pause
// and resume), Member.Stop and Member.Restart (same command line, same data
// directory and ports); Cluster.Leader and Cluster.WaitServing wait for the
// cluster to recover. NewMember and AddMember start a member with a command
// line of the test's own, such as one joining after a member add. NewPKI
// writes a throwaway CA with server and client certificates for TLS
// clusters (Options.Scheme "https", PKI.ServerArgs, PKI.ClientTLS). When a
// test fails, its cleanup logs the tail of every member's log.
//
// Goroutines: one per started member process (each Restart starts a new
// one), waiting for the process to exit and closing the channel Exited
// returns; it ends when the process does (at the latest in Cluster.Stop,
// which the test's cleanup calls).
package concordtest
