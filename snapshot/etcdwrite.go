package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/auth"
	"github.com/concord-kv/concord/config"
	"github.com/concord-kv/concord/lease"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/storage"
)

// etcdBatchBytes bounds the keys and values one bbolt transaction of
// BuildEtcd writes: bbolt keeps a transaction's dirty pages in memory
// until it commits.
const etcdBatchBytes = 16 << 20

// tempPattern names BuildEtcd's temporary files (os.CreateTemp's '*').
const tempPattern = "concord-snapshot-*.db.tmp"

// RemoveTempFiles removes the temporary files BuildEtcd left in dir when
// its process stopped before Close (the server calls it at start) and
// returns how many it removed.
func RemoveTempFiles(dir string) (int, error) {
	paths, err := filepath.Glob(filepath.Join(dir, tempPattern))
	if err != nil {
		return 0, err
	}
	for i, p := range paths {
		if err := os.Remove(p); err != nil {
			return i, fmt.Errorf("snapshot: %w", err)
		}
	}
	return len(paths), nil
}

// EtcdDB is an etcd backend database (a bbolt file with etcd's buckets)
// built by BuildEtcd from a Concord state, in a temporary file; WriteTo
// sends it as etcd's Maintenance.Snapshot does, Close removes it.
type EtcdDB struct {
	path string
	db   *bolt.DB
	info Info
}

// BuildEtcd writes the replicated state of r, which must be a Pebble
// snapshot (db.NewSnapshot()), as an etcd 3.4–3.6 backend database to a
// new temporary file in dir (os.TempDir() if empty), in bbolt
// transactions of at most etcdBatchBytes, so memory stays bounded
// whatever the state's size:
//
//   - key: every version etcd would keep after its compaction at the
//     compacted revision (mvcc.ScanEtcdHistory), under etcd's revision
//     keys, values mvccpb.KeyValue;
//   - meta: consistent_index and term (the applied index and its term),
//     scheduledCompactRev and finishedCompactRev (both the compacted
//     revision, if any); no storageVersion, which etcd 3.4.29+ refuses,
//     and no confState, which etcd's restore would not replace;
//   - lease (leasepb.Lease), members and members_removed, cluster
//     (clusterVersion config.ClusterVersion), alarm;
//   - auth (authEnabled, authRevision), authUsers and authRoles from the
//     auth store's records (auth.ReadState), users with their bcrypt
//     hashes, as etcd keeps them.
//
// If the current revision is above the last version kept and not
// compacted (a restore bumped it), the key bucket gets the empty entry at
// the current revision that etcdutl's --bump-revision writes, so that
// etcd starts at the same revision. Errors: reading r
// (storage.ErrCorrupt for undecodable records), the temporary file's.
// On error nothing is left in dir.
func BuildEtcd(r pebble.Reader, dir string) (_ *EtcdDB, err error) {
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	path := f.Name()
	f.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, NoGrowSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("snapshot: open %s: %w", path, err)
	}
	e := &EtcdDB{path: path, db: db}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if err := e.build(r); err != nil {
		return nil, err
	}
	if err := db.View(func(tx *bolt.Tx) error {
		e.info.TotalSize = tx.Size() + TrailerLen
		return nil
	}); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return e, nil
}

// Info describes the database: Revision, CompactRevision, Keys (live
// keys), TotalKey (as etcd 3.6's status: live keys) and TotalSize (the
// bytes WriteTo writes, trailer included). Hash is left 0 and Version is
// empty, as in etcd's status of a file without storageVersion.
func (e *EtcdDB) Info() Info { return e.info }

// Path is the temporary file's path.
func (e *EtcdDB) Path() string { return e.path }

// WriteTo writes the database followed by the SHA-256 of its bytes (the
// trailer etcdctl snapshot save checks) and returns the bytes written,
// Info().TotalSize on success.
func (e *EtcdDB) WriteTo(w io.Writer) (int64, error) {
	sum := sha256.New()
	var n int64
	err := e.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(io.MultiWriter(w, sum))
		return err
	})
	if err != nil {
		return n, err
	}
	m, err := w.Write(sum.Sum(nil))
	return n + int64(m), err
}

// Close closes and removes the temporary file.
func (e *EtcdDB) Close() error {
	err := e.db.Close()
	if rerr := os.Remove(e.path); err == nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	return err
}

// boltWriter puts key/value pairs into bbolt buckets, committing a
// transaction whenever etcdBatchBytes have been buffered. bbolt needs the
// bytes until the commit, so they are copied into one arena reused by
// every transaction.
type boltWriter struct {
	db    *bolt.DB
	tx    *bolt.Tx
	arena []byte
}

func (bw *boltWriter) put(bucket, k, v []byte) error {
	if bw.tx == nil {
		tx, err := bw.db.Begin(true)
		if err != nil {
			return err
		}
		bw.tx = tx
	}
	b := bw.tx.Bucket(bucket)
	if b == nil {
		var err error
		if b, err = bw.tx.CreateBucket(bucket); err != nil {
			return err
		}
	}
	if bytes.Equal(bucket, bucketKey) {
		b.FillPercent = 1 // revisions only ever grow: pack the pages
	}
	if len(bw.arena)+len(k)+len(v) > cap(bw.arena) {
		if len(bw.arena) > 0 {
			if err := bw.commit(); err != nil {
				return err
			}
			return bw.put(bucket, k, v)
		}
		bw.arena = make([]byte, 0, max(etcdBatchBytes, len(k)+len(v)))
	}
	start := len(bw.arena)
	bw.arena = append(bw.arena, k...)
	bw.arena = append(bw.arena, v...)
	kk := bw.arena[start : start+len(k) : start+len(k)]
	vv := bw.arena[start+len(k) : len(bw.arena) : len(bw.arena)]
	return b.Put(kk, vv)
}

func (bw *boltWriter) commit() error {
	if bw.tx == nil {
		return nil
	}
	err := bw.tx.Commit()
	bw.tx = nil
	bw.arena = bw.arena[:0]
	return err
}

// build fills the database from r.
func (e *EtcdDB) build(r pebble.Reader) error {
	bw := &boltWriter{db: e.db}
	for _, name := range etcdBuckets {
		if err := e.db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(name); return err }); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	cur, comp, err := mvcc.Revisions(r)
	if err != nil {
		return err
	}
	e.info.Revision, e.info.CompactRevision = cur, comp
	var kb, vb []byte
	var last int64
	err = mvcc.ScanEtcdHistory(r, func(main, sub int64, tomb bool, kv *mvccpb.KeyValue) error {
		kb = appendRevBytes(kb[:0], main, sub, tomb)
		vb = appendKeyValue(vb[:0], kv)
		last = main
		return bw.put(bucketKey, kb, vb)
	})
	if err != nil {
		return err
	}
	if cur > last && cur > comp {
		if err := bw.put(bucketKey, appendRevBytes(kb[:0], cur, 0, false), nil); err != nil {
			return err
		}
	}
	live, err := liveKeys(r)
	if err != nil {
		return err
	}
	e.info.Keys, e.info.TotalKey = live, int(live)
	if err := e.putMeta(bw, r, comp); err != nil {
		return err
	}
	err = lease.ScanLeases(r, func(id, ttl, rem int64) error {
		return bw.put(bucketLease, binary.BigEndian.AppendUint64(kb[:0], uint64(id)), appendLease(vb[:0], id, ttl, rem))
	})
	if err != nil {
		return err
	}
	if err := putMembers(bw, r); err != nil {
		return err
	}
	if err := putAlarms(bw, r); err != nil {
		return err
	}
	for _, p := range [][3][]byte{
		{bucketCluster, clusterVersionKey, []byte(config.ClusterVersion)},
	} {
		if err := bw.put(p[0], p[1], p[2]); err != nil {
			return err
		}
	}
	if err := putAuth(bw, r); err != nil {
		return err
	}
	if err := bw.commit(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// putAuth writes the auth, authUsers and authRoles buckets from the auth
// records in r, as etcd keeps them: authEnabled one byte (1 on, 0 off),
// authRevision 8 bytes big-endian, users and roles as authpb values under
// their names.
func putAuth(bw *boltWriter, r pebble.Reader) error {
	st, err := auth.ReadState(r)
	if err != nil {
		return err
	}
	on := byte(0)
	if st.Enabled {
		on = 1
	}
	if err := bw.put(bucketAuth, authEnabledKey, []byte{on}); err != nil {
		return err
	}
	if err := bw.put(bucketAuth, authRevisionKey, binary.BigEndian.AppendUint64(nil, st.Revision)); err != nil {
		return err
	}
	if err := putNamed(bw, bucketAuthUsers, st.Users); err != nil {
		return err
	}
	return putNamed(bw, bucketAuthRoles, st.Roles)
}

// putNamed writes each of ms under its name in bucket (etcd's authUsers
// and authRoles).
func putNamed[M interface {
	proto.Message
	GetName() []byte
}](bw *boltWriter, bucket []byte, ms []M) error {
	for _, m := range ms {
		v, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		if err := bw.put(bucket, m.GetName(), v); err != nil {
			return err
		}
	}
	return nil
}

// putMeta writes the meta bucket.
func (e *EtcdDB) putMeta(bw *boltWriter, r pebble.Reader, comp int64) error {
	ai, err := storage.ReadAppliedIndex(r)
	if err != nil {
		return err
	}
	if ai.Index > 0 {
		if err := bw.put(bucketMeta, metaConsistentIndex, binary.BigEndian.AppendUint64(nil, ai.Index)); err != nil {
			return err
		}
	}
	if err := bw.put(bucketMeta, metaTerm, binary.BigEndian.AppendUint64(nil, max(ai.Term, 1))); err != nil {
		return err
	}
	if comp > 0 {
		rb := appendRevBytes(nil, comp, 0, false)
		if err := bw.put(bucketMeta, metaScheduledCompact, rb); err != nil {
			return err
		}
		if err := bw.put(bucketMeta, metaFinishedCompact, rb); err != nil {
			return err
		}
	}
	return nil
}

// liveKeys reads the live key count stored in r.
func liveKeys(r pebble.Reader) (int64, error) {
	n, err := storage.GetUint64(r, keyLiveKeys)
	return int64(n), err
}

// putMembers writes the members and members_removed buckets from r's
// membership records.
func putMembers(bw *boltWriter, r pebble.Reader) error {
	return scanPrefix(r, storage.PrefixMembers, func(k, v []byte) error {
		if len(k) < 9 {
			return fmt.Errorf("%w: member key %x", storage.ErrCorrupt, k)
		}
		id := binary.BigEndian.Uint64(k[1:9])
		key := fmt.Appendf(nil, "%x", id)
		if len(k) == 10 && k[9] == 'x' {
			return bw.put(bucketMembersRemoved, key, []byte("removed"))
		}
		m, err := membership.Unmarshal(v)
		if err != nil {
			return err
		}
		b, err := json.Marshal(etcdMember{ID: id, PeerURLs: m.PeerURLs, IsLearner: m.IsLearner, Name: m.Name, ClientURLs: m.ClientURLs})
		if err != nil {
			return err
		}
		return bw.put(bucketMembers, key, b)
	})
}

// putAlarms writes the alarm bucket from r's alarm records (member ID,
// alarm type).
func putAlarms(bw *boltWriter, r pebble.Reader) error {
	return scanPrefix(r, storage.PrefixAlarm, func(k, _ []byte) error {
		if len(k) != 13 {
			return fmt.Errorf("%w: alarm key %x", storage.ErrCorrupt, k)
		}
		return bw.put(bucketAlarm, appendAlarmMember(nil, binary.BigEndian.Uint64(k[1:9]), int32(binary.BigEndian.Uint32(k[9:]))), []byte{})
	})
}

// scanPrefix calls fn for every pair of r whose key starts with prefix.
func scanPrefix(r pebble.Reader, prefix byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return fmt.Errorf("snapshot: read state: %w", err)
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("snapshot: read state: %w", err)
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	return it.Error()
}
