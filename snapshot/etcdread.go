package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"os"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Reading an etcd snapshot: a bbolt database with etcd's buckets, usually
// followed by the SHA-256 of its bytes (what etcdctl snapshot save
// writes). The file is checked as etcdutl checks it before anything is
// written: the trailer, then bbolt's meta pages (a file shorter than the
// database they describe is truncated), then every page as it is read
// (bolt.go).

// bbolt's meta page: a page header, then magic, version, page size,
// flags, root bucket (root, sequence), freelist, high-water page id,
// txid, checksum.
const (
	boltPageHeader = 16
	boltMetaLen    = 4 + 4 + 4 + 4 + 16 + 8 + 8 + 8 + 8
	boltVersion    = 2
)

// etcdFile is an etcd snapshot file that passed openEtcd's checks.
type etcdFile struct {
	path    string
	f       *os.File
	dbSize  int64 // bytes of the file before its trailer
	hasHash bool
	bf      *boltFile
	buckets map[string]boltBucket
}

// isBolt says whether head (at least 20 bytes from the file's start) is a
// bbolt meta page.
func isBolt(head []byte) bool {
	return len(head) >= 20 && binary.LittleEndian.Uint32(head[16:20]) == bboltMagic
}

// openEtcd checks and opens the etcd snapshot at path; size is the file's.
// With checkHash a file without trailer or whose trailer does not match is
// refused. Errors: ErrCorrupt (naming what is wrong), ErrHashMismatch, the
// file's I/O error.
func openEtcd(path string, size int64, checkHash bool) (_ *etcdFile, err error) {
	ef := &etcdFile{path: path, dbSize: size, hasHash: size%BlockSize == TrailerLen}
	if ef.hasHash {
		ef.dbSize = size - TrailerLen
	} else if checkHash {
		return nil, fmt.Errorf("%w: %s: no sha256 trailer: its size %d is not a multiple of %d plus %d (truncated, or a database copied from a data dir: then use --skip-hash-check)",
			ErrCorrupt, path, size, BlockSize, TrailerLen)
	}
	if ef.f, err = os.Open(path); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			ef.f.Close()
		}
	}()
	if ef.bf, err = openBolt(ef.f, ef.dbSize); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if ef.hasHash && checkHash {
		sum := sha256.New()
		if _, err := io.Copy(sum, io.NewSectionReader(ef.f, 0, ef.dbSize)); err != nil {
			return nil, fmt.Errorf("snapshot: %s: %w", path, err)
		}
		var trailer [TrailerLen]byte
		if _, err := ef.f.ReadAt(trailer[:], ef.dbSize); err != nil {
			return nil, fmt.Errorf("snapshot: %s: %w", path, err)
		}
		if got := sum.Sum(nil); !bytes.Equal(got, trailer[:]) {
			return nil, fmt.Errorf("%w: %s: expected sha256 %x, got %x (the file is damaged)", ErrHashMismatch, path, trailer[:], got)
		}
	}
	bs, err := ef.bf.buckets()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: damaged bbolt database: %v", ErrCorrupt, path, err)
	}
	ef.buckets = map[string]boltBucket{}
	for _, b := range bs {
		ef.buckets[string(b.name)] = b
	}
	if _, ok := ef.buckets[string(bucketKey)]; !ok {
		return nil, fmt.Errorf("%w: %s: a bbolt database without etcd's key bucket", ErrCorrupt, path)
	}
	if _, ok := ef.buckets[string(bucketMeta)]; !ok {
		return nil, fmt.Errorf("%w: %s: a bbolt database without etcd's meta bucket", ErrCorrupt, path)
	}
	return ef, nil
}

func (ef *etcdFile) close() { ef.f.Close() }

// pairs calls fn for every pair of the named bucket in key order (none if
// the bucket is absent); a damaged page is ErrCorrupt.
func (ef *etcdFile) pairs(bucket []byte, fn func(k, v []byte) error) error {
	b, ok := ef.buckets[string(bucket)]
	if !ok {
		return nil
	}
	var fnErr error
	err := ef.bf.bucketPairs(b, func(k, v []byte) error {
		if err := fn(k, v); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("%w: %s: damaged bbolt database: bucket %s: %v", ErrCorrupt, ef.path, bucket, err)
	}
	return err
}

// get returns a copy of the value of key in a small bucket (nil if none).
func (ef *etcdFile) get(bucket, key []byte) ([]byte, error) {
	var out []byte
	err := ef.pairs(bucket, func(k, v []byte) error {
		if bytes.Equal(k, key) {
			out = append([]byte{}, v...)
		}
		return nil
	})
	return out, err
}

// info describes the file as etcdutl snapshot status does (3.5/3.6): Hash
// is the CRC-32 (Castagnoli) of every bucket's name and pairs in order,
// Revision the main revision of the key bucket's last key, TotalKey the
// live keys (a key whose newest version is not a deletion), TotalSize the
// database's size (trailer excluded), Version the meta bucket's
// storageVersion (empty before etcd 3.6). The live keys are counted in a
// set of 64-bit key hashes, 16 bytes or so a key.
func (ef *etcdFile) info() (Info, error) {
	info := Info{Format: FormatEtcd, CompactRevision: -1, TotalSize: ef.bf.size()}
	crc := crc32.New(crcTable)
	live := map[uint64]struct{}{}
	var kv mvccpb.KeyValue
	bs, err := ef.bf.buckets()
	if err != nil {
		return Info{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, ef.path, err)
	}
	for _, b := range bs {
		crc.Write(b.name)
		isKey := bytes.Equal(b.name, bucketKey)
		err := ef.pairs(b.name, func(k, v []byte) error {
			crc.Write(k)
			crc.Write(v)
			if !isKey {
				return nil
			}
			main, _, tomb, err := parseRevBytes(k)
			if err != nil {
				return fmt.Errorf("%w: key bucket: %v", ErrCorrupt, err)
			}
			info.Revision = main
			if len(v) == 0 {
				return nil // etcdutl's --bump-revision marker
			}
			if err := parseKeyValue(v, &kv); err != nil {
				return fmt.Errorf("%w: key bucket at revision %d: %v", ErrCorrupt, main, err)
			}
			h := fnv.New64a()
			h.Write(kv.Key)
			if tomb {
				delete(live, h.Sum64())
			} else {
				live[h.Sum64()] = struct{}{}
			}
			return nil
		})
		if err != nil {
			return Info{}, err
		}
	}
	info.TotalKey = len(live)
	info.Keys = int64(len(live))
	info.Hash = crc.Sum32()
	sv, err := ef.get(bucketMeta, metaStorageVersion)
	if err != nil {
		return Info{}, err
	}
	info.Version = string(sv)
	if info.CompactRevision, err = ef.compacted(); err != nil {
		return Info{}, err
	}
	info.Revision = max(info.Revision, info.CompactRevision)
	return info, nil
}

// compacted returns the compaction revision recorded in the meta bucket:
// the scheduled one if it is ahead of the finished one (etcd finishes it
// when it starts), -1 if none.
func (ef *etcdFile) compacted() (int64, error) {
	comp := int64(-1)
	for _, k := range [][]byte{metaFinishedCompact, metaScheduledCompact} {
		v, err := ef.get(bucketMeta, k)
		if err != nil {
			return 0, err
		}
		if v == nil {
			continue
		}
		main, _, _, err := parseRevBytes(v)
		if err != nil {
			return 0, fmt.Errorf("%w: meta %s: %v", ErrCorrupt, k, err)
		}
		comp = max(comp, main)
	}
	return comp, nil
}
