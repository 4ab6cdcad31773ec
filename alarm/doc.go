// Package alarm keeps the cluster's alarms and the backend quota that
// raises one, as etcd's alarm store (server/etcdserver/api/v3alarm) and
// backend quota (server/storage/quota.go).
//
// # Alarms
//
// An alarm is a (member ID, etcdserverpb.AlarmType) pair: NOSPACE (a
// member's database passed --quota-backend-bytes) or CORRUPT (a member's
// key-value history hashes differently from its peers'). Alarms are part of
// the replicated state: they are raised and cleared only by committed
// InternalRaftRequest.Alarm entries, so every member holds the same set and
// `etcdctl alarm list` answers the same everywhere.
//
// While an alarm is active the apply loop refuses writes, as etcd's
// applierV3Capped and applierV3Corrupt: under CORRUPT every Put,
// DeleteRange, Txn and LeaseGrant fails with "etcdserver: corrupt cluster";
// under NOSPACE Put, LeaseGrant and Txns that put fail with "etcdserver:
// mvcc: database space exceeded" (reads, deletes, compaction and defrag keep
// working so that space can be reclaimed).
//
// # Storage layout
//
// Inside storage.PrefixAlarm, in the replicated state range (raft snapshots
// carry it, installing one replaces it; call Load afterwards):
//
//	PrefixAlarm | member ID (8 BE) | alarm type (4 BE) -> empty
//
// # Goroutines
//
// A Store is written by the apply loop only (Activate, Deactivate, Load);
// any goroutine may read it (Get, Active). A mutex guards the in-memory set.
// Quota and the hash comparisons (CompareInitial, ComparePeriodic,
// CompareCompaction) are pure.
package alarm
