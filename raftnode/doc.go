// Package raftnode drives a go.etcd.io/raft/v3 RawNode for one Concord
// member: it keeps the raft log and hard state in Pebble, moves raft
// messages between members over HTTP on the peer URLs, batches ReadIndex
// requests, streams snapshots of the replicated state held in Pebble, and
// hands committed entries to the apply loop in log order.
//
// # Ready handling
//
// For every raft.Ready the raft goroutine
//
//  1. records soft state (leader, role) and answers ReadIndex waiters whose
//     read state arrived;
//  2. as leader, queues outbound messages at once, before its own fsync
//     (the Raft thesis §10.2.1 optimisation etcd also uses: a leader's
//     MsgApp may travel while the leader persists the same entries; its
//     own MsgAppResp is only stepped after the write, on Advance);
//  3. if the Ready carries a snapshot, hands a SnapshotInstall to the apply
//     loop and waits until the apply loop reports it installed (the
//     install batch also rewrites the raft log metadata and hard state, so
//     state and log agree after a crash at any point);
//  4. writes the new entries and hard state in ONE Pebble batch, committed
//     with pebble.Sync whenever raft says the write must be durable
//     (Ready.MustSync: new entries, term or vote); a commit-index-only
//     change is written without sync (Pebble's WAL keeps batch order, so it
//     can never be lost while a later synced write survives);
//  5. as follower or candidate, queues outbound messages now that the
//     state they depend on is durable;
//  6. calls ApplyConfChange for the conf-change entries among the committed
//     entries and sends them, with the resulting ConfState, on Apply();
//  7. calls Advance.
//
// The raft log is truncated when the apply loop has reported (ReportApplied)
// SnapshotCount entries beyond the previous truncation point, keeping
// SnapshotCatchUpEntries entries behind the applied index for slow followers.
// A snapshot is never written to disk by the sender: Storage.Snapshot opens a
// Pebble snapshot of the state range [storage.StateStart, storage.StateEnd)
// and the transport streams it, then releases it.
//
// # Keyspace (all under storage.PrefixLocal, never replicated)
//
//	0x01 'h'            raft HardState (protobuf)
//	0x01 'l' <index BE> raft log entry (protobuf raftpb.Entry)
//	0x01 's'            index and term of the last entry removed from the log
//	                    (protobuf raftpb.SnapshotMetadata, ConfState unset)
//
// The ConfState is replicated state: it lives at storage.PrefixMeta 'C' and
// is written by the apply loop with WriteConfState.
//
// # Peer protocol (HTTP, mounted by the server under "/raft/")
//
//		POST /raft/stream    long-lived; the body is a sequence of frames, each
//		                     a 4-byte big-endian length and a marshalled
//		                     raftpb.Message. Opened by the sender; the receiver
//		                     answers 200 at once (before which nothing is sent)
//	                      and then reads until EOF.
//		POST /raft/snapshot  one MsgSnap: a frame with the message (Data empty)
//		                     followed by the state as uvarint-length-prefixed
//		                     key/value pairs, a zero-length key, the pair count
//		                     and a CRC-32C of the pairs. 204 once received.
//
// Every request carries X-Etcd-Cluster-ID and X-Server-From (lowercase hex);
// a mismatched cluster ID is answered 412 "cluster ID mismatch" as etcd does.
//
// # Goroutines
//
//   - raft goroutine (Node.run): owns the RawNode and the in-memory view of
//     the log; the only caller of raft.Storage methods.
//   - one sender per peer (peer.run): drains the peer's bounded queue onto
//     a streaming POST, reconnecting with backoff; plus, per live stream,
//     one goroutine waiting for the HTTP response of that POST.
//   - one goroutine per outgoing snapshot (Node.sendSnapshot) and one per
//     snapshot stream it feeds; the Pebble snapshot is released when it ends.
//   - inbound HTTP handlers run on the server's goroutines; they decode
//     messages and hand them to the raft goroutine over a channel.
//
// Exported methods may be called from any goroutine unless their
// documentation says otherwise (SnapshotInstall's methods belong to the
// apply loop).
package raftnode
