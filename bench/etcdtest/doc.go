// Package etcdtest starts real etcd servers (Debian's etcd-server, etcd
// 3.4, at /usr/bin/etcd or $ETCD_BIN) as child processes on free 127.0.0.1
// ports, one member or a cluster joined with --initial-cluster, for tests
// that use etcd as the oracle. Tests skip, loudly, when the binary is
// missing.
//
// Goroutines: one per started process, waiting for it to exit and closing
// Member.Exited; it ends when the process does (at the latest in the
// test's cleanup, which kills it).
package etcdtest
