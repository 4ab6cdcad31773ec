// Package api serves etcd's v3 gRPC services (KV, Maintenance, Cluster and
// the standard health service) and the plain HTTP endpoints (/health,
// /version) on top of the raft node, the applier and the MVCC store.
//
// Writes are proposed through raft and answered when this member has
// applied them; linearizable reads wait for a ReadIndex barrier and then
// read published state; serializable reads read published state at once.
// Errors are translated to etcd's gRPC status (rpctypes) here and nowhere
// else.
//
// Goroutines: none of its own; handlers run on gRPC/HTTP server goroutines
// and never write state.
package api
