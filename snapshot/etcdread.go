package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Reading an etcd snapshot: a bbolt database with etcd's buckets, usually
// followed by the SHA-256 of its bytes (what etcdctl snapshot save
// writes). The file is checked as etcdutl checks it, and more, before
// anything reads a bucket: the trailer, bbolt's meta pages (a file shorter
// than the database they describe is truncated, and would fault the
// memory map), then bbolt's own consistency check.

// bbolt's on-disk layout, as far as the checks below read it: a page
// header (id 8, flags 2, count 2, overflow 4 bytes) and, on pages 0 and 1,
// the meta (magic, version, page size, flags, root bucket (root, sequence),
// freelist, high-water page id, txid, checksum: FNV-64a of the fields
// before it), all little-endian.
const (
	boltPageHeader = 16
	boltMetaLen    = 4 + 4 + 4 + 4 + 16 + 8 + 8 + 8 + 8
	boltVersion    = 2
)

// etcdFile is an etcd snapshot file that passed openEtcd's checks.
type etcdFile struct {
	path    string
	dbSize  int64 // bytes of the bbolt database (the file less its trailer)
	hasHash bool
	db      *bolt.DB
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
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	if err := checkBoltMeta(f, ef.dbSize); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if ef.hasHash && checkHash {
		sum := sha256.New()
		if _, err := io.Copy(sum, io.NewSectionReader(f, 0, ef.dbSize)); err != nil {
			return nil, fmt.Errorf("snapshot: %s: %w", path, err)
		}
		var trailer [TrailerLen]byte
		if _, err := f.ReadAt(trailer[:], ef.dbSize); err != nil {
			return nil, fmt.Errorf("snapshot: %s: %w", path, err)
		}
		if got := sum.Sum(nil); !bytes.Equal(got, trailer[:]) {
			return nil, fmt.Errorf("%w: %s: expected sha256 %x, got %x (the file is damaged)", ErrHashMismatch, path, trailer[:], got)
		}
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	ef.db = db
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	if err := ef.view(func(tx *bolt.Tx) error {
		var errs []string
		for e := range tx.Check() {
			errs = append(errs, e.Error())
		}
		if len(errs) > 0 {
			return fmt.Errorf("bbolt integrity check found %d errors, the first: %s", len(errs), errs[0])
		}
		if tx.Bucket(bucketKey) == nil || tx.Bucket(bucketMeta) == nil {
			return fmt.Errorf("a bbolt database without etcd's key and meta buckets")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	return ef, nil
}

func (ef *etcdFile) close() { ef.db.Close() }

// view runs fn in a read transaction, turning a bbolt panic (it panics on
// some damaged pages) into an error.
func (ef *etcdFile) view(fn func(tx *bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: damaged bbolt database: %v", ErrCorrupt, r)
		}
	}()
	return ef.db.View(fn)
}

// checkBoltMeta reads the two meta pages of the bbolt database in the
// first dbSize bytes of f and checks that at least one is valid and that
// the database it describes fits in dbSize bytes.
func checkBoltMeta(f *os.File, dbSize int64) error {
	var best struct {
		ok         bool
		txid, hwm  uint64
		pageSize   uint32
		metaErrors []string
	}
	head := make([]byte, boltPageHeader+boltMetaLen)
	pageSize := int64(0)
	for i := 0; i < 2; i++ {
		off := int64(i) * pageSize
		if i == 1 && pageSize == 0 {
			break
		}
		if off+int64(len(head)) > dbSize {
			best.metaErrors = append(best.metaErrors, fmt.Sprintf("meta page %d is past the end (%d bytes)", i, dbSize))
			continue
		}
		if _, err := f.ReadAt(head, off); err != nil {
			return err
		}
		m := head[boltPageHeader:]
		if binary.LittleEndian.Uint32(m) != bboltMagic {
			best.metaErrors = append(best.metaErrors, fmt.Sprintf("meta page %d has no bbolt magic", i))
			if i == 0 {
				return errors.New("not a bbolt database (no magic on its first page)")
			}
			continue
		}
		ps := binary.LittleEndian.Uint32(m[8:])
		if i == 0 {
			pageSize = int64(ps)
			if ps < 512 || ps&(ps-1) != 0 {
				return fmt.Errorf("bbolt meta page 0 has page size %d", ps)
			}
		}
		h := fnv.New64a()
		h.Write(m[:boltMetaLen-8])
		if binary.LittleEndian.Uint32(m[4:]) != boltVersion || h.Sum64() != binary.LittleEndian.Uint64(m[boltMetaLen-8:]) {
			best.metaErrors = append(best.metaErrors, fmt.Sprintf("meta page %d fails its checksum or version", i))
			continue
		}
		txid := binary.LittleEndian.Uint64(m[48:])
		if !best.ok || txid > best.txid {
			best.ok, best.txid, best.hwm, best.pageSize = true, txid, binary.LittleEndian.Uint64(m[40:]), ps
		}
	}
	if !best.ok {
		return fmt.Errorf("no valid bbolt meta page (%v)", best.metaErrors)
	}
	if need := int64(best.hwm) * int64(best.pageSize); need > dbSize {
		return fmt.Errorf("truncated: the database needs %d bytes (%d pages of %d), the file holds %d", need, best.hwm, best.pageSize, dbSize)
	}
	return nil
}

// etcdInfo describes an opened etcd snapshot as etcdutl snapshot status
// does (3.5/3.6): Hash is the CRC-32 (Castagnoli) of every bucket's name
// and pairs in order, Revision the main revision of the key bucket's last
// key, TotalKey the live keys (a key whose newest version is not a
// deletion), TotalSize the database's size (trailer excluded), Version
// the meta bucket's storageVersion (empty before etcd 3.6). The live keys
// are counted in a set of 64-bit key hashes, 16 bytes or so a key.
func (ef *etcdFile) info() (Info, error) {
	info := Info{Format: FormatEtcd, CompactRevision: -1}
	err := ef.view(func(tx *bolt.Tx) error {
		info.TotalSize = tx.Size()
		crc := crc32.New(crcTable)
		live := map[uint64]struct{}{}
		var kv mvccpb.KeyValue
		c := tx.Cursor()
		for name, _ := c.First(); name != nil; name, _ = c.Next() {
			b := tx.Bucket(name)
			if b == nil {
				return fmt.Errorf("%w: %q at the top level is not a bucket", ErrCorrupt, name)
			}
			crc.Write(name)
			isKey := bytes.Equal(name, bucketKey)
			err := b.ForEach(func(k, v []byte) error {
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
				if err := parseKeyValue(v, &kv); err != nil {
					return fmt.Errorf("%w: key bucket at revision %d: %v", ErrCorrupt, main, err)
				}
				if len(v) == 0 {
					return nil // etcdutl's --bump-revision marker
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
				return err
			}
		}
		info.TotalKey = len(live)
		info.Keys = int64(len(live))
		info.Hash = crc.Sum32()
		meta := tx.Bucket(bucketMeta)
		info.Version = string(meta.Get(metaStorageVersion))
		comp, err := etcdCompacted(meta)
		info.CompactRevision = comp
		info.Revision = max(info.Revision, comp)
		return err
	})
	return info, err
}

// etcdCompacted returns the compaction revision recorded in an etcd meta
// bucket: the scheduled one if it is ahead of the finished one (etcd
// finishes it when it starts), -1 if none.
func etcdCompacted(meta *bolt.Bucket) (int64, error) {
	comp := int64(-1)
	for _, k := range [][]byte{metaFinishedCompact, metaScheduledCompact} {
		v := meta.Get(k)
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
