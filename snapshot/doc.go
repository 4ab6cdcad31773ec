// Package snapshot implements the snapshot files behind `etcdctl snapshot
// save` against Concord, `concordctl snapshot status` and `concordctl
// snapshot restore`.
//
// # etcd's format (what Concord sends)
//
// Maintenance.Snapshot streams an etcd backend database: a bbolt file
// with etcd's buckets followed by the SHA-256 of its bytes, so that
// etcdctl and etcdutl (3.4–3.6) save, check and restore it and etcd
// starts on it. BuildEtcd writes it from one Pebble snapshot into a
// temporary file in batched bbolt transactions (etcdwrite.go; the bucket
// schema is etcdschema.go, learnt from etcd's source). ReadInfo and
// Restore read such files from etcd or Concord (etcdread.go,
// etcdrestore.go) with a page reader of their own (bolt.go) that checks
// every page and reads with ReadAt, so memory stays bounded and a damaged
// file is an error, never a fault; the trailer is checked first, as
// etcdutl does, and nothing is written before the file passed.
//
// # Concord's own format (read only)
//
// Before it sent etcd's format, Concord wrote a file of its own, described
// below; ReadInfo and Restore still read it, recognised by its magic.
//
// A snapshot holds the replicated state machine, the key range
// [storage.StateStart, storage.StateEnd) read from one Pebble snapshot:
// MVCC versions and revision log, MVCC meta (current and compacted
// revisions, live key count), leases, auth, membership, the applied index
// and the raft ConfState. Node-local keys (raft log, hard state, member
// identity) are never in it.
//
// # File format (version 1)
//
// All integers are big-endian unless said otherwise.
//
//	magic            16 bytes  "CONCORD-SNAPSHOT"
//	format version    2 bytes  1
//	concord version   1 byte length n, then n bytes (e.g. "0.1.0")
//	revision          8 bytes  MVCC current revision (int64)
//	compacted rev.    8 bytes  MVCC compacted revision (int64, -1: never)
//	live keys         8 bytes  MVCC live key count at the revision
//	pair count        8 bytes  number of key/value pairs that follow
//	pairs                      uvarint len(key), key, uvarint len(value), value,
//	                           in ascending key order
//	padding                    zero bytes up to a multiple of 512 (BlockSize)
//	trailer          32 bytes  SHA-256 of every byte before it
//
// The trailer plays the part of the sha256 etcd appends to the snapshot it
// streams, and the padding makes the file's size what etcd's clients check
// before they accept a streamed snapshot (a multiple of 512 plus 32): a
// damaged or truncated file fails the check (ErrHashMismatch),
// which restore's SkipHashCheck turns off. Separately, Info.Hash is a CRC-32
// (Castagnoli) of the pairs alone, so two snapshots of the same state have
// the same Hash whatever their header says, as etcd's `snapshot status`
// hash is a CRC-32 of the database's buckets.
//
// # Restore
//
// Restore builds a new member data directory from a file: the state with
// the membership records, the applied index and the ConfState left out,
// the revision bumped (and optionally marked compacted), and a marker key
// (MarkerKey, node-local) telling the server that the directory must
// bootstrap a new raft cluster from its --initial-cluster on first start;
// the applied index is 0 so that raft applies the bootstrap conf changes
// that add the members.
//
// The package starts no goroutines; every function works on the caller's
// goroutine.
package snapshot
