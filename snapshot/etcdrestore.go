package snapshot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/authpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/auth"
	"github.com/concord-kv/concord/lease"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/storage"
)

// sniff says which format the file at path is (FormatConcord or
// FormatEtcd) and its size. Errors: ErrNotSnapshot (also for a directory
// or an empty file), the file's I/O error.
func sniff(path string) (format string, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("snapshot: %w", err)
	}
	if st.IsDir() {
		return "", 0, fmt.Errorf("snapshot: %s: %w (a directory)", path, ErrNotSnapshot)
	}
	head := make([]byte, 32)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, magic):
		return FormatConcord, st.Size(), nil
	case isBolt(head):
		return FormatEtcd, st.Size(), nil
	case n == 0:
		return "", 0, fmt.Errorf("snapshot: %s: %w (an empty file)", path, ErrNotSnapshot)
	}
	return "", 0, fmt.Errorf("snapshot: %s: %w", path, ErrNotSnapshot)
}

// restoreEtcd is Restore for an etcd snapshot: the file is checked
// (openEtcd) before anything is created, then the data dir is built.
func restoreEtcd(path string, size int64, opts RestoreOptions, now func() time.Time) (Info, error) {
	ef, err := openEtcd(path, size, !opts.SkipHashCheck)
	if err != nil {
		return Info{}, err
	}
	defer ef.close()
	cleanup, err := makeDataDir(opts.DataDir, opts.WALDir)
	if err != nil {
		return Info{}, err
	}
	info, err := importEtcd(ef, opts, now)
	if err != nil {
		cleanup()
		return Info{}, err
	}
	return info, nil
}

// importEtcd writes the etcd database of ef into a new engine in
// opts.DataDir: the key bucket's history (mvcc.Importer), the compaction
// point, leases with their attached keys, alarms, and the auth state
// (enabled flag, auth revision, users with their bcrypt hashes, roles);
// members are left out (the new cluster's come from --initial-cluster).
func importEtcd(ef *etcdFile, opts RestoreOptions, now func() time.Time) (Info, error) {
	db, err := storage.Open(filepath.Join(opts.DataDir, DBDir), storage.Options{WALDir: opts.WALDir, CacheBytes: 8 << 20, Logger: quietLogger{}})
	if err != nil {
		return Info{}, err
	}
	defer db.Close()
	info := Info{Format: FormatEtcd, CompactRevision: -1, TotalSize: ef.bf.size()}
	sv, err := ef.get(bucketMeta, metaStorageVersion)
	if err != nil {
		return Info{}, err
	}
	info.Version = string(sv)
	im := mvcc.NewImporter(db)
	var kv mvccpb.KeyValue
	last := int64(0)
	err = ef.pairs(bucketKey, func(k, v []byte) error {
		main, sub, tomb, err := parseRevBytes(k)
		if err != nil {
			return fmt.Errorf("%w: key bucket: %v", ErrCorrupt, err)
		}
		last = max(last, main)
		if len(v) == 0 {
			return nil // etcdutl's --bump-revision marker: a revision, no key
		}
		if err := parseKeyValue(v, &kv); err != nil {
			return fmt.Errorf("%w: key bucket at revision %d: %v", ErrCorrupt, main, err)
		}
		if len(kv.Key) == 0 {
			return fmt.Errorf("%w: key bucket at revision %d: a version without a key", ErrCorrupt, main)
		}
		info.TotalKey++
		return im.Add(main, sub, tomb, &kv)
	})
	if err != nil {
		return Info{}, err
	}
	comp, err := ef.compacted()
	if err != nil {
		return Info{}, err
	}
	cur, err := im.Finish(last, comp)
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: restore: %w", err)
	}
	info.Revision, info.CompactRevision = cur, comp
	leases := map[int64]struct{}{}
	if err := importLeasesAlarms(ef, db, leases); err != nil {
		return Info{}, err
	}
	b := db.NewBatch()
	defer b.Close()
	if err := importAuth(ef, b); err != nil {
		return Info{}, err
	}
	err = mvcc.ScanLeasedKeys(db, func(key []byte, id int64) error {
		if _, ok := leases[id]; !ok {
			return nil // as etcd: a key's lease that no longer exists is not attached
		}
		return lease.ImportAttachment(b, id, key)
	})
	if err != nil {
		return Info{}, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return Info{}, fmt.Errorf("snapshot: restore: %w", err)
	}
	return finishRestore(db, info, opts, now)
}

// importLeasesAlarms writes the lease and alarm buckets of ef into db and
// records the lease IDs in leases.
func importLeasesAlarms(ef *etcdFile, db *pebble.DB, leases map[int64]struct{}) error {
	b := db.NewBatch()
	defer func() { b.Close() }()
	err := ef.pairs(bucketLease, func(k, v []byte) error {
		id, ttl, rem, err := parseLease(v)
		if err != nil {
			return fmt.Errorf("%w: lease bucket: %v", ErrCorrupt, err)
		}
		if len(k) != 8 || int64(binary.BigEndian.Uint64(k)) != id {
			return fmt.Errorf("%w: lease bucket: key %x holds lease %d", ErrCorrupt, k, id)
		}
		leases[id] = struct{}{}
		if err := lease.ImportLease(b, id, ttl, rem); err != nil {
			return err
		}
		if b.Len() < restoreBatchBytes {
			return nil
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		b.Close()
		b = db.NewBatch()
		return nil
	})
	if err != nil {
		return err
	}
	err = ef.pairs(bucketAlarm, func(k, _ []byte) error {
		member, alarm, err := parseAlarmMember(k)
		if err != nil {
			return fmt.Errorf("%w: alarm bucket: %v", ErrCorrupt, err)
		}
		key := []byte{storage.PrefixAlarm}
		key = binary.BigEndian.AppendUint64(key, member)
		key = binary.BigEndian.AppendUint32(key, uint32(alarm))
		return b.Set(key, nil, nil)
	})
	if err != nil {
		return err
	}
	return b.Commit(pebble.NoSync)
}

// importAuth writes the auth, authUsers and authRoles buckets of ef into
// w as the auth store's records: authEnabled one byte (absent: disabled),
// authRevision 8 bytes big-endian (absent: 1), users and roles as authpb
// values. A value that does not parse, or a name that disagrees with its
// key, is ErrCorrupt.
func importAuth(ef *etcdFile, w pebble.Writer) error {
	st := auth.State{Revision: 1}
	on, err := ef.get(bucketAuth, authEnabledKey)
	if err != nil {
		return err
	}
	st.Enabled = len(on) == 1 && on[0] == 1
	rev, err := ef.get(bucketAuth, authRevisionKey)
	if err != nil {
		return err
	}
	if len(rev) == 8 {
		st.Revision = binary.BigEndian.Uint64(rev)
	} else if len(rev) != 0 {
		return fmt.Errorf("%w: auth bucket: authRevision of %d bytes", ErrCorrupt, len(rev))
	}
	if st.Users, err = readNamed(ef, bucketAuthUsers, func() *authpb.User { return &authpb.User{} }); err != nil {
		return err
	}
	if st.Roles, err = readNamed(ef, bucketAuthRoles, func() *authpb.Role { return &authpb.Role{} }); err != nil {
		return err
	}
	return auth.WriteState(w, st)
}

// readNamed parses every value of bucket into a new M; a value that does
// not parse, or whose name is not its key, is ErrCorrupt.
func readNamed[M interface {
	proto.Message
	GetName() []byte
}](ef *etcdFile, bucket []byte, newM func() M) ([]M, error) {
	var out []M
	err := ef.pairs(bucket, func(k, v []byte) error {
		m := newM()
		if err := proto.Unmarshal(v, m); err != nil || !bytes.Equal(m.GetName(), k) {
			return fmt.Errorf("%w: %s bucket: %q does not parse", ErrCorrupt, bucket, k)
		}
		out = append(out, m)
		return nil
	})
	return out, err
}
