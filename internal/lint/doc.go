// Package lint holds the house rules of the repository as a test: the
// one-way dependency order between packages, the etcd modules the server
// may not import, no process-global Prometheus registration, and no
// time.Sleep in the tests of the pure state-machine packages.
package lint
