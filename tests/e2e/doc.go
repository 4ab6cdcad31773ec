// Package e2e tests Concord end to end: it builds the concord binary,
// starts real member processes on 127.0.0.x addresses and drives them with
// clients Concord did not write — Debian's etcdctl 3.4 and the official Go
// client go.etcd.io/etcd/client/v3 — including kill -9 of members.
package e2e
