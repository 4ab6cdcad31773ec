// Package mvcc is Concord's multi-version key-value store: every change is
// kept under the store revision that made it, ranges read any revision
// above the compaction point, and compaction drops history in the
// background. The semantics are etcd's (server/storage/mvcc): revisions,
// create_revision, mod_revision, version, lease, range_end rules,
// ErrCompacted and ErrFutureRev behave exactly as there.
//
// # Revisions
//
// An empty store is at revision 1. Every write transaction that changes
// something advances the store revision by exactly one; all its changes
// share that main revision and get sub-revisions 0, 1, 2... in order. A
// transaction without changes leaves the revision alone.
//
// # Storage layout
//
// Everything lives in the one Pebble engine, inside the replicated state
// range of package storage (so raft snapshots carry it):
//
//	PrefixKeyIndex | esc(key) 0x00 0x01 | ^main (8 BE) | ^sub (8 BE)  -> version
//	PrefixRevLog   | main (8 BE) | sub (8 BE)                         -> change record
//	PrefixMeta 'r' current revision      (8 BE)
//	PrefixMeta 'c' compacted revision    (8 BE; absent = never compacted)
//	PrefixMeta 'f' physical compaction progress (main, sub; 16 BE)
//	PrefixMeta 'k' number of live keys   (8 BE)
//
// esc is an order-preserving escape (0x00 becomes 0x00 0xff, the key ends
// with 0x00 0x01), so the versions of one key are contiguous, keys sort as
// bytes, and the revision is inverted so that "newest version of k at or
// below revision R" is a single SeekGE. A version value is a kind byte
// (put or tombstone) followed, for puts, by create_revision, version and
// lease (varints) and the value bytes.
//
// The revision log records, for each change, the user key, whether it was
// a delete, and the revision of the key's previous live version (the one
// the change made invisible). Compaction walks the log from where it last
// stopped up to (not including) the compaction revision and, for each
// change, removes the superseded previous version and, for deletes, the
// tombstone itself: the work is proportional to the changes since the last
// compaction, not to the number of keys. The changes of the compaction
// revision itself wait for the next compaction, so that a watch from the
// compacted revision still sees a delete made there (as etcd, issue 18089).
// Watch catch-up reads events from the same log.
//
// No index of keys is kept in memory: memory does not grow with key count.
// A bounded cache (Options.LatestCacheBytes, 32 MiB by default, LRU) keeps
// the newest version of recently written keys so that overwriting a hot
// key does not seek every LSM level for its previous version; it is
// write-through from TxnWrite and cleared by Reload (see latest.go).
//
// # Concurrency and goroutines
//
//   - The apply goroutine is the only writer. It alone calls Write, the
//     TxnWrite methods, Compact, Publish, Reload and PauseCompaction (the
//     writer-side state fields of Store are owned by it and unguarded).
//     None of these waits for the compactor, except PauseCompaction (for
//     at most one compactor batch).
//   - Any goroutine may call Rev, CompactRev, KeyCount, Range, RangeStream,
//     HashKV and Events: they read published atomics and a Pebble iterator
//     or snapshot, never the writer's batch.
//   - One compactor goroutine, started by Open and stopped by Close,
//     physically deletes the versions a published compaction made
//     invisible, in bounded batches committed independently of the apply
//     loop's batches. It never deletes a version that some readable
//     revision can see, so it never blocks or disturbs readers or writers.
//     Its progress survives restarts (meta 'f'); deletions are idempotent,
//     so a batch lost in a crash is simply redone.
//
// # Raft snapshots and restores
//
// The store's whole state lives in the replicated range, so a raft snapshot
// is a copy of it. Whoever installs one calls PauseCompaction before
// replacing the range and Reload after. BumpRevision implements etcdutl's
// snapshot restore --bump-revision/--mark-compacted offline.
//
// # Metrics
//
// With Options.Registerer, the store exports etcd's store-level series
// (etcd_debugging_mvcc_current_revision, _compact_revision, _keys_total,
// _total_put_size_in_bytes, the _db_compaction_* series,
// etcd_mvcc_hash_rev_duration_seconds, etcd_mvcc_db_open_read_transactions;
// metrics.go says what each measures and which stay at zero because
// Concord has no such event). Request counters belong to the API layer.
package mvcc
