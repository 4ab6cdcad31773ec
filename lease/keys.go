package lease

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/concord-kv/concord/storage"
)

// Second bytes of the lease keyspace (see the package documentation).
const (
	tagLease  byte = 'l'
	tagAttach byte = 'k'
)

var (
	leaseStart  = []byte{storage.PrefixLease, tagLease}
	leaseEnd    = []byte{storage.PrefixLease, tagLease + 1}
	attachStart = []byte{storage.PrefixLease, tagAttach}
	attachEnd   = []byte{storage.PrefixLease, tagAttach + 1}
)

// leaseKey is PrefixLease 'l' | id.
func leaseKey(id int64) []byte {
	b := make([]byte, 2, 10)
	b[0], b[1] = storage.PrefixLease, tagLease
	return binary.BigEndian.AppendUint64(b, uint64(id))
}

// attachPrefix is PrefixLease 'k' | id: the common prefix of id's
// attachment records.
func attachPrefix(id int64) []byte {
	b := make([]byte, 2, 10)
	b[0], b[1] = storage.PrefixLease, tagAttach
	return binary.BigEndian.AppendUint64(b, uint64(id))
}

// attachPrefixEnd is the exclusive upper bound of id's attachment records.
func attachPrefixEnd(id int64) []byte {
	if uint64(id) == math.MaxUint64 {
		return append([]byte(nil), attachEnd...)
	}
	b := make([]byte, 2, 10)
	b[0], b[1] = storage.PrefixLease, tagAttach
	return binary.BigEndian.AppendUint64(b, uint64(id)+1)
}

// attachKey is PrefixLease 'k' | id | key.
func attachKey(id int64, key []byte) []byte {
	return append(attachPrefix(id), key...)
}

// encodeLease encodes a lease record value.
func encodeLease(ttl, remaining int64) []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen64)
	b = binary.AppendVarint(b, ttl)
	return binary.AppendVarint(b, remaining)
}

// decodeLease decodes the record stored under key k (a lease key).
func decodeLease(k, v []byte) (id, ttl, remaining int64, err error) {
	if len(k) != 10 {
		return 0, 0, 0, fmt.Errorf("%w: lease key %x has %d bytes, want 10", storage.ErrCorrupt, k, len(k))
	}
	id = int64(binary.BigEndian.Uint64(k[2:]))
	ttl, n := binary.Varint(v)
	if n <= 0 {
		return 0, 0, 0, fmt.Errorf("%w: lease %d: bad ttl", storage.ErrCorrupt, id)
	}
	remaining, m := binary.Varint(v[n:])
	if m <= 0 || n+m != len(v) {
		return 0, 0, 0, fmt.Errorf("%w: lease %d: bad remaining ttl", storage.ErrCorrupt, id)
	}
	return id, ttl, remaining, nil
}

// decodeAttach splits an attachment key into lease ID and user key.
func decodeAttach(k []byte) (id int64, key []byte, err error) {
	if len(k) < 10 {
		return 0, nil, fmt.Errorf("%w: attachment key %x too short", storage.ErrCorrupt, k)
	}
	return int64(binary.BigEndian.Uint64(k[2:10])), k[10:], nil
}
