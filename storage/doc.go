// Package storage opens the one Pebble engine a Concord member keeps and
// fixes the layout of its keyspace.
//
// Every key starts with one prefix byte naming its owner:
//
//	0x01 PrefixLocal   node-local: raft hard state, raft log, raft snapshot
//	                   metadata, this member's identity. Never replicated.
//	0x02 PrefixMeta    replicated metadata: applied index and term, conf
//	                   state, MVCC current and compacted revisions.
//	0x03 PrefixKeyIndex MVCC versions ordered by (user key, revision desc).
//	0x04 PrefixRevLog  MVCC revision log ordered by revision.
//	0x05 PrefixMembers cluster membership records.
//	0x06 PrefixLease   leases.
//	0x07 PrefixAuth    users, roles, auth settings.
//	0x08 PrefixAlarm   members' active alarms (NOSPACE, CORRUPT).
//
// Everything in [StateStart, StateEnd) is the replicated state machine: a
// raft snapshot is exactly that range read from one Pebble snapshot, and
// installing a snapshot replaces exactly that range. The applied index is
// stored inside it (PrefixMeta), written in the same batch as the effects
// of the entries it covers, so state and applied index never disagree.
package storage
