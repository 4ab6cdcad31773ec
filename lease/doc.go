// Package lease is Concord's lease state machine, the counterpart of etcd's
// lessor (server/lease): it grants, revokes and renews leases, tracks the
// keys attached to each, persists leases and their checkpointed remaining
// TTLs in Pebble, and, on the leader only, keeps every lease's expiry.
//
// # Semantics (as etcd)
//
//   - TTLs are whole seconds. A grant below the minimum TTL is raised to it
//     (etcd: 1.5 × election timeout, see MinTTLFor); a TTL above MaxLeaseTTL
//     fails with ErrLeaseTTLTooLarge; granting an existing ID fails with
//     ErrLeaseExists. ID 0 means "no lease": the API layer picks a random
//     positive ID before proposing, so the apply path stays deterministic.
//   - Revoke returns the attached keys sorted; the apply loop deletes them
//     in one revision together with the lease itself, in one Pebble batch.
//   - Expiry is counted by the leader only. Expired hands the leader's
//     expiry loop the leases past their expiry so that it proposes their
//     revocation through raft; nothing expires locally.
//   - Checkpointing (on by default, unlike etcd where it is an alpha gate):
//     the leader periodically proposes each long lease's remaining TTL, the
//     apply loop persists it with ApplyCheckpoint, and a new leader starts
//     each lease from its checkpointed remaining TTL rather than the full
//     TTL (etcd issue #9888). A renewal clears the checkpoint (proposes 0),
//     so a lease costs at most two raft entries per checkpoint interval.
//
// # Storage layout
//
// Inside storage.PrefixLease, in the replicated state range (raft snapshots
// carry it):
//
//	PrefixLease 'l' | id (8 BE)         -> ttl (varint) | remaining (varint)
//	PrefixLease 'k' | id (8 BE) | key   -> empty (attachment index)
//
// remaining 0 means no checkpoint. Load rebuilds the in-memory view from
// these records after a restart or a snapshot install.
//
// # Concurrency
//
// The package starts no goroutines. A Lessor is safe for concurrent use;
// one mutex guards all its state. By convention:
//
//   - the apply goroutine alone calls the methods that take a
//     pebble.Writer (Grant, Revoke, Attach, Detach, ApplyCheckpoint) and
//     Load, so the persisted and in-memory views change in log order;
//   - the raft/leadership code calls Promote and Demote;
//   - the leader's expiry loop (owned by the server) calls Expired and
//     Checkpoints and proposes what they return;
//   - API goroutines call Renew, TimeToLive, Leases and Exists.
//
// Time is an argument (now) everywhere except on the apply path, where a
// leader needs the current time to start the expiry of a new lease; that
// comes from the injected Config.Now.
package lease
