package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/concord-kv/concord/storage"
)

// Version kinds (first byte of a key-index value and of a revision-log
// value).
const (
	kindPut       byte = 0
	kindTombstone byte = 1
	// revLogHasPrev is or-ed into a revision-log kind byte when the record
	// names the key's previous live version.
	revLogHasPrev byte = 2
)

// revSuffixLen is the length of the inverted (main, sub) suffix of a
// key-index key.
const revSuffixLen = 16

var (
	metaRev        = []byte{storage.PrefixMeta, 'r'}
	metaCompactRev = []byte{storage.PrefixMeta, 'c'}
	metaFinished   = []byte{storage.PrefixMeta, 'f'}
	metaKeyCount   = []byte{storage.PrefixMeta, 'k'}

	keyIndexEnd = []byte{storage.PrefixKeyIndex + 1}
	revLogStart = []byte{storage.PrefixRevLog}
	revLogEnd   = []byte{storage.PrefixRevLog + 1}
)

// appendEscaped appends the order-preserving escape of k followed by the
// 0x00 0x01 terminator.
func appendEscaped(dst, k []byte) []byte {
	for {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			dst = append(dst, k...)
			break
		}
		dst = append(dst, k[:i]...)
		dst = append(dst, 0x00, 0xff)
		k = k[i+1:]
	}
	return append(dst, 0x00, 0x01)
}

// unescape decodes an escaped key body (without its terminator).
func unescape(esc []byte) ([]byte, error) {
	out := make([]byte, 0, len(esc))
	for {
		i := bytes.IndexByte(esc, 0)
		if i < 0 {
			return append(out, esc...), nil
		}
		if i+1 >= len(esc) || esc[i+1] != 0xff {
			return nil, fmt.Errorf("%w: bad key escape", storage.ErrCorrupt)
		}
		out = append(out, esc[:i]...)
		out = append(out, 0)
		esc = esc[i+2:]
	}
}

// keyPrefix returns PrefixKeyIndex | esc(k) | 0x00 0x01: the common prefix
// of every version of k.
func keyPrefix(k []byte) []byte {
	b := make([]byte, 0, 1+len(k)+2+revSuffixLen)
	b = append(b, storage.PrefixKeyIndex)
	return appendEscaped(b, k)
}

// afterKey returns the smallest key-index key above every version of the
// key whose prefix (as keyPrefix) is p.
func afterKey(p []byte) []byte {
	b := make([]byte, len(p))
	copy(b, p)
	b[len(b)-1] = 0x02
	return b
}

// appendRevInv appends (^main, ^sub) big-endian.
func appendRevInv(dst []byte, main, sub int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, ^uint64(main))
	return binary.BigEndian.AppendUint64(dst, ^uint64(sub))
}

// versionKey is the key-index key of key k at revision (main, sub).
func versionKey(k []byte, main, sub int64) []byte {
	return appendRevInv(keyPrefix(k), main, sub)
}

// seekAtRev returns the key whose SeekGE lands on the newest version of
// the key with prefix p whose main revision is <= rev.
func seekAtRev(p []byte, rev int64) []byte {
	b := make([]byte, 0, len(p)+revSuffixLen)
	b = append(b, p...)
	b = binary.BigEndian.AppendUint64(b, ^uint64(rev))
	return binary.BigEndian.AppendUint64(b, 0)
}

// splitVersionKey splits a key-index key into its key prefix (including
// the terminator) and its revision.
func splitVersionKey(ik []byte) (prefix []byte, main, sub int64, err error) {
	if len(ik) < 1+2+revSuffixLen || ik[0] != storage.PrefixKeyIndex {
		return nil, 0, 0, fmt.Errorf("%w: key-index key %q", storage.ErrCorrupt, ik)
	}
	n := len(ik) - revSuffixLen
	main = int64(^binary.BigEndian.Uint64(ik[n:]))
	sub = int64(^binary.BigEndian.Uint64(ik[n+8:]))
	return ik[:n], main, sub, nil
}

// userKey decodes the user key of a key prefix (as keyPrefix).
func userKey(prefix []byte) ([]byte, error) {
	if len(prefix) < 3 || prefix[len(prefix)-2] != 0 || prefix[len(prefix)-1] != 1 {
		return nil, fmt.Errorf("%w: key-index prefix %q", storage.ErrCorrupt, prefix)
	}
	return unescape(prefix[1 : len(prefix)-2])
}

// revLogKey is the revision-log key of (main, sub).
func revLogKey(main, sub int64) []byte {
	b := make([]byte, 0, 17)
	b = append(b, storage.PrefixRevLog)
	b = binary.BigEndian.AppendUint64(b, uint64(main))
	return binary.BigEndian.AppendUint64(b, uint64(sub))
}

func splitRevLogKey(k []byte) (main, sub int64, err error) {
	if len(k) != 17 || k[0] != storage.PrefixRevLog {
		return 0, 0, fmt.Errorf("%w: revision-log key %q", storage.ErrCorrupt, k)
	}
	return int64(binary.BigEndian.Uint64(k[1:])), int64(binary.BigEndian.Uint64(k[9:])), nil
}

// revLogRecord is a decoded revision-log value.
type revLogRecord struct {
	tombstone bool
	// hasPrev says prevMain/prevSub name the key's previous live version,
	// made invisible by this change.
	hasPrev           bool
	prevMain, prevSub int64
	key               []byte
}

func encodeRevLog(r revLogRecord) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(r.key))
	kind := kindPut
	if r.tombstone {
		kind = kindTombstone
	}
	if r.hasPrev {
		kind |= revLogHasPrev
	}
	b = append(b, kind)
	if r.hasPrev {
		b = binary.AppendUvarint(b, uint64(r.prevMain))
		b = binary.AppendUvarint(b, uint64(r.prevSub))
	}
	return append(b, r.key...)
}

// decodeRevLog decodes v; key aliases v.
func decodeRevLog(v []byte) (revLogRecord, error) {
	var r revLogRecord
	if len(v) < 1 || v[0] > kindTombstone|revLogHasPrev {
		return r, fmt.Errorf("%w: revision-log value", storage.ErrCorrupt)
	}
	r.tombstone = v[0]&kindTombstone != 0
	r.hasPrev = v[0]&revLogHasPrev != 0
	v = v[1:]
	if r.hasPrev {
		m, n := binary.Uvarint(v)
		if n <= 0 {
			return r, fmt.Errorf("%w: revision-log prev main", storage.ErrCorrupt)
		}
		v = v[n:]
		s, n := binary.Uvarint(v)
		if n <= 0 {
			return r, fmt.Errorf("%w: revision-log prev sub", storage.ErrCorrupt)
		}
		v = v[n:]
		r.prevMain, r.prevSub = int64(m), int64(s)
	}
	r.key = v
	return r, nil
}

// encodePut encodes a live version.
func encodePut(create, version, lease int64, value []byte) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(value))
	b = append(b, kindPut)
	b = binary.AppendUvarint(b, uint64(create))
	b = binary.AppendUvarint(b, uint64(version))
	b = binary.AppendVarint(b, lease)
	return append(b, value...)
}

var tombstoneValue = []byte{kindTombstone}

func isTombstone(v []byte) bool { return len(v) > 0 && v[0] == kindTombstone }

// decodeVersion decodes a live version value; value aliases v.
func decodeVersion(v []byte) (create, version, lease int64, value []byte, err error) {
	if len(v) < 1 || v[0] != kindPut {
		return 0, 0, 0, nil, fmt.Errorf("%w: version value", storage.ErrCorrupt)
	}
	v = v[1:]
	c, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, 0, 0, nil, fmt.Errorf("%w: version create_revision", storage.ErrCorrupt)
	}
	v = v[n:]
	ver, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, 0, 0, nil, fmt.Errorf("%w: version version", storage.ErrCorrupt)
	}
	v = v[n:]
	l, n := binary.Varint(v)
	if n <= 0 {
		return 0, 0, 0, nil, fmt.Errorf("%w: version lease", storage.ErrCorrupt)
	}
	return int64(c), int64(ver), l, v[n:], nil
}
