// Package v3lock serves etcd's Lock (v3lockpb.Lock: Lock, Unlock) and
// Election (v3electionpb.Election: Campaign, Proclaim, Leader, Observe,
// Resign) gRPC services.
//
// As in etcd, both services are clients of the key-value API, not part of
// the state machine: each RPC runs the recipes of
// go.etcd.io/etcd/client/v3/concurrency (Mutex, Election) through a
// *clientv3.Client that the server hands in, connected to its own client
// listener. So a lock is a key "name/<lease hex>" bound to the caller's
// lease, the holder is the key with the lowest create revision, and a
// waiter blocks on a watch until every older key is deleted; an election
// works the same way with the proclaimed value stored in the key. Every
// session these services open is orphaned at once: the caller owns the
// lease and keeps it alive, never this package.
//
// The caller's auth token ("token") and "hasleader" gRPC metadata are
// forwarded on the inner client's requests, so the key-value requests made
// on a caller's behalf are authorised as that caller.
//
// Errors are etcd's, code and text: concurrency.ErrElectionNotLeader
// ("election: not leader"), concurrency.ErrElectionNoLeader ("election: no
// leader") and rpctypes errors from the inner client (for example
// "etcdserver: requested lease not found") go out as codes.Unknown with that
// text, exactly as etcd 3.4 sends them (its tests here compare both
// servers); context errors go out as codes.Canceled / codes.DeadlineExceeded.
//
// Goroutines: this package starts none of its own. Each in-flight Observe
// runs one goroutine inside concurrency.Election.Observe, which ends when
// the Observe stream's context ends; each session briefly runs the
// concurrency.Session keep-alive drainer, which ends when the session is
// orphaned before the RPC proceeds.
package v3lock
