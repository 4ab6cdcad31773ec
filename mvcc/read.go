package mvcc

import (
	"bytes"
	"context"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// RangeOptions select what Range returns, as etcd's mvcc.RangeOptions.
type RangeOptions struct {
	// Limit caps the number of KVs returned; 0 (or negative) means no limit.
	// Count is unaffected by it.
	Limit int64
	// Rev is the revision to read at; <= 0 means the current revision.
	Rev int64
	// CountOnly returns no KVs, only Count.
	CountOnly bool
}

// RangeResult is the outcome of a Range.
type RangeResult struct {
	// KVs are the live keys in the range at the read revision, ascending
	// by key, at most Limit of them.
	KVs []*mvccpb.KeyValue
	// Rev is the store's current revision when the read started (also for
	// historical reads, as etcd puts it in the response header).
	Rev int64
	// Count is the number of live keys in the range at the read revision,
	// regardless of Limit.
	Count int64
}

// nextKeyProbe is how many Next calls are tried before seeking to the
// next user key when skipping older versions.
const nextKeyProbe = 4

// ctxCheckEvery is how often (in keys) long scans check their context.
const ctxCheckEvery = 1024

// keyBounds returns the key-index bounds of the user-key range [key, end)
// under etcd's range_end rules: empty end is the single key, end "\x00"
// is every key >= key. ok is false if the range is empty.
func keyBounds(key, end []byte) (lo, hi []byte, ok bool) {
	lo = keyPrefix(key)
	switch {
	case len(end) == 0:
		hi = afterKey(lo)
	case len(end) == 1 && end[0] == 0:
		hi = keyIndexEnd
	default:
		if bytes.Compare(end, key) <= 0 {
			return nil, nil, false
		}
		hi = keyPrefix(end)
	}
	return lo, hi, true
}

// inRange reports whether k is in [key, end) under etcd's range_end rules.
func inRange(k, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(k, key)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(k, key) >= 0
	default:
		return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
	}
}

// visitLive positions it (bounded to the key-index range of interest) on
// the newest version at or below rev of every user key from lo on and
// calls fn for those that are live (not tombstones). ik and val are valid
// only during the call.
func visitLive(ctx context.Context, it *pebble.Iterator, lo []byte, rev int64, fn func(ik, val []byte) error) error {
	valid := it.SeekGE(lo)
	n := 0
	var cur []byte
	for valid {
		if n++; n%ctxCheckEvery == 0 && ctx != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		p, main, _, err := splitVersionKey(it.Key())
		if err != nil {
			return err
		}
		// The iterator's key buffer changes when it moves: keep a copy.
		prefix := append(cur[:0], p...)
		cur = prefix
		if main > rev {
			// Newer than wanted: jump to the newest version <= rev.
			valid = it.SeekGE(seekAtRev(prefix, rev))
			if !valid {
				break
			}
			p2, _, _, err := splitVersionKey(it.Key())
			if err != nil {
				return err
			}
			if !bytes.Equal(p2, prefix) {
				// No version at or below rev: this is the next key.
				continue
			}
		}
		val, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if !isTombstone(val) {
			if err := fn(it.Key(), val); err != nil {
				return err
			}
		}
		// Skip the older versions of this key.
		moved := false
		for i := 0; i < nextKeyProbe; i++ {
			if valid = it.Next(); !valid {
				break
			}
			k := it.Key()
			if len(k) < revSuffixLen || !bytes.Equal(k[:len(k)-revSuffixLen], cur) {
				moved = true
				break
			}
		}
		if valid && !moved {
			valid = it.SeekGE(afterKey(cur))
		}
	}
	return it.Error()
}

// decodeKV builds a KeyValue from a key-index entry of a live version.
func decodeKV(ik, val []byte) (*mvccpb.KeyValue, error) {
	prefix, main, _, err := splitVersionKey(ik)
	if err != nil {
		return nil, err
	}
	k, err := userKey(prefix)
	if err != nil {
		return nil, err
	}
	create, ver, lease, value, err := decodeVersion(val)
	if err != nil {
		return nil, err
	}
	return &mvccpb.KeyValue{
		Key:            k,
		CreateRevision: create,
		ModRevision:    main,
		Version:        ver,
		Value:          append([]byte(nil), value...),
		Lease:          lease,
	}, nil
}

// rangeOn scans r at rev and calls fn for the first limit live KVs
// (none if countOnly); it returns the count of all live keys in range.
func rangeOn(ctx context.Context, r pebble.Reader, key, end []byte, rev int64, o RangeOptions, fn func(*mvccpb.KeyValue) error) (int64, error) {
	lo, hi, ok := keyBounds(key, end)
	if !ok {
		return 0, nil
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, fmt.Errorf("mvcc: open iterator: %w", err)
	}
	count, err := scanRange(ctx, it, lo, len(end) == 0, rev, o, fn)
	if cerr := it.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return count, err
}

// scanRange is the body of every range read: it calls fn for the first
// limit live KVs at rev (none if CountOnly) of the keys the iterator's
// bounds cover, from lo on, and returns the count of all of them. A
// single-key range is one seek.
func scanRange(ctx context.Context, it *pebble.Iterator, lo []byte, single bool, rev int64, o RangeOptions, fn func(*mvccpb.KeyValue) error) (int64, error) {
	if single {
		if !it.SeekGE(seekAtRev(lo, rev)) {
			return 0, it.Error()
		}
		val, err := it.ValueAndErr()
		if err != nil || isTombstone(val) {
			return 0, err
		}
		if o.CountOnly {
			return 1, nil
		}
		kv, err := decodeKV(it.Key(), val)
		if err != nil {
			return 0, err
		}
		return 1, fn(kv)
	}
	limit := o.Limit
	if limit <= 0 {
		limit = math.MaxInt64
	}
	var count int64
	err := visitLive(ctx, it, lo, rev, func(ik, val []byte) error {
		count++
		if o.CountOnly || count > limit {
			return nil
		}
		kv, err := decodeKV(ik, val)
		if err != nil {
			return err
		}
		return fn(kv)
	})
	return count, err
}

// Range returns the live keys in [key, end) at revision o.Rev, following
// etcd's range rules: end empty = the single key; end "\x00" = all keys >=
// key; otherwise [key, end). KVs are sorted by key; Count counts all keys
// in range regardless of o.Limit; Rev is the current revision.
// Errors: ErrFutureRev if o.Rev > Rev(); ErrCompacted if o.Rev <
// CompactRev() (reading exactly at the compacted revision is allowed);
// ctx's error if it ends during the scan. Safe from any goroutine.
func (s *Store) Range(ctx context.Context, key, end []byte, o RangeOptions) (*RangeResult, error) {
	res := &RangeResult{}
	rev, count, err := s.RangeStream(ctx, key, end, o, func(kv *mvccpb.KeyValue) error {
		res.KVs = append(res.KVs, kv)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Rev, res.Count = rev, count
	return res, nil
}

// RangeStream is Range without materialising the result: it calls fn for
// each KV in key order (at most o.Limit of them, none with o.CountOnly)
// and returns the current revision and the full count. An error from fn
// stops the scan and is returned as is. Safe from any goroutine.
func (s *Store) RangeStream(ctx context.Context, key, end []byte, o RangeOptions, fn func(*mvccpb.KeyValue) error) (rev, count int64, err error) {
	// Revision first, then the iterator, then the compaction check: the
	// iterator then holds every change up to cur, and the compactor cannot
	// have removed anything visible at rev unless CompactRev shows it.
	cur := s.Rev()
	rev = o.Rev
	if rev > cur {
		return 0, 0, ErrFutureRev
	}
	if rev <= 0 {
		rev = cur
	}
	lo, hi, ok := keyBounds(key, end)
	if !ok {
		if rev < s.CompactRev() {
			return 0, 0, ErrCompacted
		}
		return cur, 0, nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, 0, fmt.Errorf("mvcc: open iterator: %w", err)
	}
	defer it.Close()
	defer s.metrics.readOpened()()
	if rev < s.CompactRev() {
		return 0, 0, ErrCompacted
	}
	count, err = scanRange(ctx, it, lo, len(end) == 0, rev, o, fn)
	if err != nil {
		return 0, 0, err
	}
	return cur, count, nil
}

// latestVersion returns the newest version of k in r (any revision), with
// its revision; found is false if k has no version at all. val is a copy.
func latestVersion(r pebble.Reader, k []byte) (main, sub int64, val []byte, found bool, err error) {
	p := keyPrefix(k)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: afterKey(p)})
	if err != nil {
		return 0, 0, nil, false, fmt.Errorf("mvcc: open iterator: %w", err)
	}
	defer it.Close()
	// A prefix seek (storage.Comparer splits off the revision) lets bloom
	// filters skip every SSTable without this key: a put of a new key
	// no longer searches all levels.
	if !it.SeekPrefixGE(p) {
		return 0, 0, nil, false, it.Error()
	}
	_, main, sub, err = splitVersionKey(it.Key())
	if err != nil {
		return 0, 0, nil, false, err
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return 0, 0, nil, false, err
	}
	return main, sub, append([]byte(nil), v...), true, nil
}
