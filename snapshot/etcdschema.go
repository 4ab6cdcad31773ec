package snapshot

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// etcd's backend schema (server/storage/schema in etcd 3.5/3.6, mvcc and
// etcdserver in 3.4): bucket names, meta keys and value encodings, as far
// as an etcd snapshot file needs them. Written from reading etcd's source;
// the protobuf messages of etcd's server module (leasepb.Lease) are
// encoded by hand with protowire, field numbers from their .proto.

// Bucket names of an etcd backend database.
var (
	bucketKey            = []byte("key")
	bucketMeta           = []byte("meta")
	bucketLease          = []byte("lease")
	bucketAlarm          = []byte("alarm")
	bucketCluster        = []byte("cluster")
	bucketMembers        = []byte("members")
	bucketMembersRemoved = []byte("members_removed")
	bucketAuth           = []byte("auth")
	bucketAuthUsers      = []byte("authUsers")
	bucketAuthRoles      = []byte("authRoles")
)

// etcdBuckets are the buckets an etcd 3.4–3.6 backend has, in the order
// etcd creates them.
var etcdBuckets = [][]byte{bucketKey, bucketMeta, bucketLease, bucketAlarm, bucketCluster,
	bucketMembers, bucketMembersRemoved, bucketAuth, bucketAuthUsers, bucketAuthRoles}

// Keys of the meta, cluster and auth buckets.
var (
	metaConsistentIndex  = []byte("consistent_index")
	metaTerm             = []byte("term") // since 3.5
	metaScheduledCompact = []byte("scheduledCompactRev")
	metaFinishedCompact  = []byte("finishedCompactRev")
	metaStorageVersion   = []byte("storageVersion") // since 3.6
	clusterVersionKey    = []byte("clusterVersion")
	authEnabledKey       = []byte("authEnabled")
	authRevisionKey      = []byte("authRevision")
)

// revBytesLen is the length of a key-bucket key: main revision (8 bytes
// big-endian), '_', sub revision (8 bytes big-endian); a deletion's key
// has one more byte, markTombstone.
const (
	revBytesLen   = 17
	markTombstone = 't'
)

// appendRevBytes appends the key-bucket key of (main, sub).
func appendRevBytes(dst []byte, main, sub int64, tombstone bool) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(main))
	dst = append(dst, '_')
	dst = binary.BigEndian.AppendUint64(dst, uint64(sub))
	if tombstone {
		dst = append(dst, markTombstone)
	}
	return dst
}

// parseRevBytes decodes a key-bucket key.
func parseRevBytes(k []byte) (main, sub int64, tombstone bool, err error) {
	if (len(k) != revBytesLen && len(k) != revBytesLen+1) || k[8] != '_' {
		return 0, 0, false, fmt.Errorf("revision key %x is not main '_' sub", k)
	}
	main = int64(binary.BigEndian.Uint64(k))
	sub = int64(binary.BigEndian.Uint64(k[9:]))
	if main < 0 || sub < 0 {
		return 0, 0, false, fmt.Errorf("revision key %x is negative", k)
	}
	if len(k) == revBytesLen+1 {
		if k[revBytesLen] != markTombstone {
			return 0, 0, false, fmt.Errorf("revision key %x has mark %q, want 't'", k, k[revBytesLen])
		}
		tombstone = true
	}
	return main, sub, tombstone, nil
}

// appendKeyValue appends kv marshalled as mvccpb.KeyValue (fields in
// number order, zero values left out: what etcd's gogo marshaller writes).
func appendKeyValue(dst []byte, kv *mvccpb.KeyValue) []byte {
	if len(kv.Key) > 0 {
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendBytes(dst, kv.Key)
	}
	for _, f := range []struct {
		n protowire.Number
		v int64
	}{{2, kv.CreateRevision}, {3, kv.ModRevision}, {4, kv.Version}} {
		if f.v != 0 {
			dst = protowire.AppendTag(dst, f.n, protowire.VarintType)
			dst = protowire.AppendVarint(dst, uint64(f.v))
		}
	}
	if len(kv.Value) > 0 {
		dst = protowire.AppendTag(dst, 5, protowire.BytesType)
		dst = protowire.AppendBytes(dst, kv.Value)
	}
	if kv.Lease != 0 {
		dst = protowire.AppendTag(dst, 6, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(kv.Lease))
	}
	return dst
}

// parseKeyValue decodes an mvccpb.KeyValue into kv; Key and Value alias b.
// Unknown fields are skipped, as protobuf decoders do.
func parseKeyValue(b []byte, kv *mvccpb.KeyValue) error {
	*kv = mvccpb.KeyValue{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("mvccpb.KeyValue: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case (num == 1 || num == 5) && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("mvccpb.KeyValue field %d: %v", num, protowire.ParseError(m))
			}
			if num == 1 {
				kv.Key = v
			} else {
				kv.Value = v
			}
			n = m
		case num >= 2 && num <= 6 && num != 5 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return fmt.Errorf("mvccpb.KeyValue field %d: %v", num, protowire.ParseError(m))
			}
			switch num {
			case 2:
				kv.CreateRevision = int64(v)
			case 3:
				kv.ModRevision = int64(v)
			case 4:
				kv.Version = int64(v)
			case 6:
				kv.Lease = int64(v)
			}
			n = m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("mvccpb.KeyValue field %d: %v", num, protowire.ParseError(n))
			}
		}
		b = b[n:]
	}
	return nil
}

// appendLease appends etcd's leasepb.Lease {ID = 1, TTL = 2,
// RemainingTTL = 3}, all int64.
func appendLease(dst []byte, id, ttl, remaining int64) []byte {
	for _, f := range []struct {
		n protowire.Number
		v int64
	}{{1, id}, {2, ttl}, {3, remaining}} {
		if f.v != 0 {
			dst = protowire.AppendTag(dst, f.n, protowire.VarintType)
			dst = protowire.AppendVarint(dst, uint64(f.v))
		}
	}
	return dst
}

// parseLease decodes a leasepb.Lease.
func parseLease(b []byte) (id, ttl, remaining int64, err error) {
	vals, err := parseVarints(b, 3, "leasepb.Lease")
	return vals[1], vals[2], vals[3], err
}

// appendAlarmMember appends etcdserverpb.AlarmMember {MemberID = 1
// (uint64), Alarm = 2 (enum)}: the key of an alarm-bucket entry.
func appendAlarmMember(dst []byte, member uint64, alarm int32) []byte {
	if member != 0 {
		dst = protowire.AppendTag(dst, 1, protowire.VarintType)
		dst = protowire.AppendVarint(dst, member)
	}
	if alarm != 0 {
		dst = protowire.AppendTag(dst, 2, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(int64(alarm)))
	}
	return dst
}

// parseAlarmMember decodes an etcdserverpb.AlarmMember.
func parseAlarmMember(b []byte) (member uint64, alarm int32, err error) {
	vals, err := parseVarints(b, 2, "AlarmMember")
	return uint64(vals[1]), int32(vals[2]), err
}

// parseVarints decodes a message whose fields 1..n are all varints; vals
// is indexed by field number. Other fields are skipped.
func parseVarints(b []byte, n int, what string) (vals [4]int64, err error) {
	for len(b) > 0 {
		num, typ, m := protowire.ConsumeTag(b)
		if m < 0 {
			return vals, fmt.Errorf("%s: %v", what, protowire.ParseError(m))
		}
		b = b[m:]
		if num >= 1 && int(num) <= n && typ == protowire.VarintType {
			v, k := protowire.ConsumeVarint(b)
			if k < 0 {
				return vals, fmt.Errorf("%s field %d: %v", what, num, protowire.ParseError(k))
			}
			vals[num] = int64(v)
			b = b[k:]
			continue
		}
		k := protowire.ConsumeFieldValue(num, typ, b)
		if k < 0 {
			return vals, fmt.Errorf("%s field %d: %v", what, num, protowire.ParseError(k))
		}
		b = b[k:]
	}
	return vals, nil
}

// etcdMember is a members-bucket value: etcd's membership.Member as JSON,
// fields in etcd's order.
type etcdMember struct {
	ID         uint64   `json:"id"`
	PeerURLs   []string `json:"peerURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
	Name       string   `json:"name,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
}
