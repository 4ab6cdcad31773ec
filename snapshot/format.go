package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/concord-kv/concord/storage"
)

var (
	// ErrNotSnapshot is returned for a file that does not start with
	// Concord's snapshot magic (for example an etcd bbolt snapshot).
	ErrNotSnapshot = errors.New("snapshot: not a snapshot file (neither etcd's bbolt database nor Concord's format)")
	// ErrUnsupportedVersion is returned for a snapshot file of a format
	// version this build cannot read.
	ErrUnsupportedVersion = errors.New("snapshot: unsupported snapshot format version")
	// ErrCorrupt is returned for a snapshot file whose structure is
	// damaged: truncated, a pair outside the state range or out of order, a
	// pair count that does not match, bytes after the last pair.
	ErrCorrupt = errors.New("snapshot: corrupt snapshot file")
	// ErrHashMismatch is returned when the SHA-256 trailer does not match
	// the file's content (etcd: "expected sha256 ..., got ...").
	ErrHashMismatch = errors.New("snapshot: sha256 mismatch")
	// ErrChanged is returned by Encoder.WriteTo when the reader's content
	// changed between the scan of NewEncoder and the write: the reader
	// must be a Pebble snapshot (or otherwise immutable).
	ErrChanged = errors.New("snapshot: state changed while being written; use a Pebble snapshot")
)

// FormatVersion is the snapshot file format this package writes.
const FormatVersion = 1

// magic starts every snapshot file.
var magic = []byte("CONCORD-SNAPSHOT")

// TrailerLen is the length in bytes of the SHA-256 trailer.
const TrailerLen = 32

// BlockSize is what the part of a file before its trailer is padded to a
// multiple of: etcd's clients (etcdctl snapshot save, 3.4 to 3.6) accept a
// streamed snapshot only if its size is TrailerLen more than a multiple of
// 512 bytes, as a bbolt file followed by its sha256 is.
const BlockSize = 512

// maxPairLen bounds one key or value read from a file (bytes), so that a
// damaged length cannot make a reader allocate without bound.
const maxPairLen = 1 << 30

// crcTable is the CRC-32 polynomial of Info.Hash (Castagnoli, as etcd's
// snapshot status).
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Keys of the replicated state this package reads or leaves out. They
// mirror the layout owned by mvcc (revision, compacted revision, live key
// count), storage (applied index) and raftnode (ConfState); the tests
// check them against those packages.
var (
	keyRev          = []byte{storage.PrefixMeta, 'r'}
	keyCompactRev   = []byte{storage.PrefixMeta, 'c'}
	keyLiveKeys     = []byte{storage.PrefixMeta, 'k'}
	keyAppliedIndex = []byte{storage.PrefixMeta, 'a'}
	keyConfState    = []byte{storage.PrefixMeta, 'C'}
)

// Info describes a snapshot file; its first five fields are those of
// etcd's `snapshot status` (etcdutl's snapshot.Status).
type Info struct {
	// Hash is, for a Concord file, the CRC-32 (Castagnoli) of the pairs:
	// every key then value, in file order (equal states give equal
	// hashes); for an etcd file, etcdutl's: the CRC-32 of every bucket's
	// name, keys and values.
	Hash uint32
	// Revision is the MVCC current revision of the state (1 for a store
	// that was never written).
	Revision int64
	// TotalKey is, for a Concord file, the number of key/value pairs in
	// it; for an etcd file the live keys, as etcdutl 3.6 counts them
	// (etcdctl 3.4 counted every pair of every bucket). After Restore of
	// an etcd file, the versions restored.
	TotalKey int
	// TotalSize is the size in bytes: of a Concord file, trailer
	// included; of an etcd file, its bbolt database (trailer excluded), as
	// etcdutl's.
	TotalSize int64
	// Version is the Concord version that wrote a Concord file, or an etcd
	// file's storageVersion (empty before etcd 3.6 and from Concord).
	Version string

	// CompactRevision is the MVCC compacted revision, -1 if the store
	// was never compacted.
	CompactRevision int64
	// Keys is the number of live keys at Revision (what `get "" --prefix
	// --count-only` would answer).
	Keys int64
	// FormatVersion is the file format version (FormatVersion) of a
	// Concord snapshot, 0 for an etcd one.
	FormatVersion int
	// Format is FormatConcord or FormatEtcd.
	Format string
}

// The snapshot file formats ReadInfo and Restore read (Info.Format).
const (
	// FormatConcord is Concord's own snapshot file (this package's doc),
	// written by Concord before it sent etcd's format; still read.
	FormatConcord = "concord"
	// FormatEtcd is an etcd backend database (bbolt, etcd's buckets) with
	// or without its SHA-256 trailer: what etcd 3.4–3.6 and Concord send
	// for etcdctl snapshot save.
	FormatEtcd = "etcd"
)

// headerLen is the header's size in bytes for a version string of n bytes.
func headerLen(n int) int { return len(magic) + 2 + 1 + n + 8 + 8 + 8 + 8 }

// appendHeader appends the file header for info to dst.
func appendHeader(dst []byte, info Info) []byte {
	dst = append(dst, magic...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(info.FormatVersion))
	dst = append(dst, byte(len(info.Version)))
	dst = append(dst, info.Version...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(info.Revision))
	dst = binary.BigEndian.AppendUint64(dst, uint64(info.CompactRevision))
	dst = binary.BigEndian.AppendUint64(dst, uint64(info.Keys))
	return binary.BigEndian.AppendUint64(dst, uint64(info.TotalKey))
}

// bboltMagic is the magic number of a bbolt meta page (etcd's database and
// snapshot files), stored little-endian at byte 16 of the file.
const bboltMagic = 0xED0CDAED

// notSnapshot explains why head (the first bytes of a file) is not a
// Concord snapshot.
func notSnapshot(head []byte) error {
	if isBolt(head) {
		return fmt.Errorf("%w (it is an etcd bbolt database)", ErrNotSnapshot)
	}
	return ErrNotSnapshot
}

// readHeader reads and decodes a header from r; Hash, TotalSize and the
// verification of TotalKey are left to the caller.
func readHeader(r io.Reader) (Info, error) {
	var info Info
	head := make([]byte, len(magic)+2+1)
	if n, err := io.ReadFull(r, head); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return info, notSnapshot(head[:n])
		}
		return info, err
	}
	if !bytes.Equal(head[:len(magic)], magic) {
		// Read a little more to recognise a bbolt file.
		more := make([]byte, 8)
		n, _ := io.ReadFull(r, more)
		return info, notSnapshot(append(head, more[:n]...))
	}
	info.FormatVersion = int(binary.BigEndian.Uint16(head[len(magic):]))
	if info.FormatVersion != FormatVersion {
		return info, fmt.Errorf("%w: %d (this build reads %d)", ErrUnsupportedVersion, info.FormatVersion, FormatVersion)
	}
	rest := make([]byte, int(head[len(head)-1])+32)
	if _, err := io.ReadFull(r, rest); err != nil {
		return info, fmt.Errorf("%w: header: %v", ErrCorrupt, err)
	}
	n := len(rest) - 32
	info.Version = string(rest[:n])
	info.Revision = int64(binary.BigEndian.Uint64(rest[n:]))
	info.CompactRevision = int64(binary.BigEndian.Uint64(rest[n+8:]))
	info.Keys = int64(binary.BigEndian.Uint64(rest[n+16:]))
	count := binary.BigEndian.Uint64(rest[n+24:])
	if count > 1<<40 {
		return info, fmt.Errorf("%w: pair count %d", ErrCorrupt, count)
	}
	info.TotalKey = int(count)
	return info, nil
}

// pairLen is the encoded size of one pair.
func pairLen(k, v []byte) int64 {
	return int64(uvarintLen(uint64(len(k))) + len(k) + uvarintLen(uint64(len(v))) + len(v))
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// inState says whether k is in the replicated state range.
func inState(k []byte) bool {
	return bytes.Compare(k, storage.StateStart) >= 0 && bytes.Compare(k, storage.StateEnd) < 0
}

// decodeInt64 decodes an 8-byte big-endian value of a meta key.
func decodeInt64(k, v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: meta key %q has %d bytes, want 8", storage.ErrCorrupt, k, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}
