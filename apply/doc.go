// Package apply is the state machine side of the apply loop: it turns
// committed raft entries (etcdserverpb.InternalRaftRequest and conf
// changes) into changes of the MVCC store and the membership, and carries
// the KV request semantics of etcd's Range, Put, DeleteRange, Txn and
// Compact. Auth entries go to the auth store (auth.Store.Apply) in the same
// batch; while auth is enabled, committed Put, DeleteRange, Txn and
// LeaseRevoke are checked against the user and auth revision in their
// header first, as etcd's authApplierV3 (auth.go).
//
// Goroutines: an Applier is driven by exactly one goroutine, the apply loop
// (server.runApply), which is the only writer of the replicated state. Every
// handoff of committed entries becomes one Pebble batch holding the effects
// of all its entries and the applied index. Other goroutines only register
// waiters (Register), wait for an applied index (WaitApplied) and execute
// read-only requests (Range, ReadOnlyTxn) against published state.
package apply
