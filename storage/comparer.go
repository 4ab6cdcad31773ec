package storage

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2"
)

// keyIndexTerminator ends the escaped user key in a key-index key; inside
// the escaped key a 0x00 byte is always followed by 0xff, so the first
// 0x00 0x01 is the terminator.
var keyIndexTerminator = []byte{0x00, 0x01}

// Comparer orders keys bytewise, as Pebble's default, and tells Pebble
// where the revision suffix of an MVCC key-index key begins (PrefixKeyIndex
// | escaped key | 0x00 0x01 | 16-byte revision), so that bloom filters are
// built on user keys and a lookup of one key's versions (SeekPrefixGE)
// skips every SSTable that does not hold it. Keys of other keyspaces have
// no suffix.
var Comparer = func() *pebble.Comparer {
	c := *pebble.DefaultComparer
	c.Split = splitKey
	c.ImmediateSuccessor = immediateSuccessor
	c.Name = "concord.keyindex.v1"
	return &c
}()

// splitKey returns the length of the prefix of key: the key-index prefix
// through its terminator, or the whole key.
func splitKey(key []byte) int {
	if len(key) == 0 || key[0] != PrefixKeyIndex {
		return len(key)
	}
	i := bytes.Index(key[1:], keyIndexTerminator)
	if i < 0 {
		return len(key)
	}
	return 1 + i + len(keyIndexTerminator)
}

// immediateSuccessor appends the smallest prefix key above prefix key a:
// for a key-index prefix, the same bytes with the terminator's last byte
// raised (every longer key starting with a has a as its prefix); for other
// keys, a followed by 0x00.
func immediateSuccessor(dst, a []byte) []byte {
	if n := len(a); n >= 3 && a[0] == PrefixKeyIndex && splitKey(a) == n && bytes.HasSuffix(a, keyIndexTerminator) {
		dst = append(dst, a...)
		dst[len(dst)-1]++
		return dst
	}
	return append(append(dst, a...), 0x00)
}
