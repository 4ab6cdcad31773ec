package mvcc

import (
	"context"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// TxnWrite is one write transaction: all its changes share one main
// revision (the store revision + 1) and get sub-revisions in order. It
// writes into the apply loop's indexed batch and reads through it, so it
// sees the changes of earlier transactions in the same batch and its own.
// Only the apply goroutine uses it; End must be called before the next
// Write.
type TxnWrite struct {
	s        *Store
	b        *pebble.Batch
	beginRev int64
	changes  []*mvccpb.Event
	keyDelta int64
	ended    bool
}

// Write starts a write transaction for one revision on b, an indexed batch
// (db.NewIndexedBatch()) owned by the apply loop. Several transactions may
// be run in sequence on the same batch before it is committed (then
// Publish); each sees the previous ones' changes.
func (s *Store) Write(b *pebble.Batch) *TxnWrite {
	return &TxnWrite{s: s, b: b, beginRev: s.wRev}
}

// rev is the revision this transaction's changes get.
func (tw *TxnWrite) rev() int64 { return tw.beginRev + 1 }

// curRev is the revision the transaction reads at by default: the store
// revision, or the transaction's own once it changed something (as etcd's
// storeTxnWrite).
func (tw *TxnWrite) curRev() int64 {
	if len(tw.changes) > 0 {
		return tw.beginRev + 1
	}
	return tw.beginRev
}

// Range is Store.Range seen from inside the transaction: it reads the
// batch (so it sees this and earlier transactions' changes), the default
// and maximum revision is the transaction's current one (store revision,
// +1 once the transaction changed something), and Rev in the result is
// that revision. Errors: ErrFutureRev, ErrCompacted as Store.Range.
func (tw *TxnWrite) Range(key, end []byte, o RangeOptions) (*RangeResult, error) {
	cur := tw.curRev()
	rev := o.Rev
	if rev > cur {
		return nil, ErrFutureRev
	}
	if rev <= 0 {
		rev = cur
	}
	if rev < tw.s.wCompactRev {
		return nil, ErrCompacted
	}
	res := &RangeResult{Rev: cur}
	count, err := rangeOn(context.Background(), tw.b, key, end, rev, o, func(kv *mvccpb.KeyValue) error {
		res.KVs = append(res.KVs, kv)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Count = count
	return res, nil
}

// Put writes value under key with the given lease (0 for none) at this
// transaction's revision: create_revision is kept and version incremented
// if the key is live, otherwise a new generation starts (create_revision =
// this revision, version 1). It returns the key's previous live KV, or nil
// if it was absent or deleted (for prev_kv).
func (tw *TxnWrite) Put(key, value []byte, lease int64) (prev *mvccpb.KeyValue, err error) {
	if tw.ended {
		return nil, fmt.Errorf("mvcc: Put after End")
	}
	rev := tw.rev()
	sub := int64(len(tw.changes))
	pMain, pSub, pVal, found := tw.s.latest.get(key)
	if !found {
		pMain, pSub, pVal, found, err = latestVersion(tw.b, key)
		if err != nil {
			return nil, err
		}
	}
	create, ver := rev, int64(1)
	rec := revLogRecord{key: key}
	if found && !isTombstone(pVal) {
		c, v, l, val, err := decodeVersion(pVal)
		if err != nil {
			return nil, err
		}
		prev = &mvccpb.KeyValue{
			Key:            append([]byte(nil), key...),
			CreateRevision: c,
			ModRevision:    pMain,
			Version:        v,
			Value:          val,
			Lease:          l,
		}
		create, ver = c, v+1
		rec.hasPrev, rec.prevMain, rec.prevSub = true, pMain, pSub
	}
	enc := encodePut(create, ver, lease, value)
	if err := tw.b.Set(versionKey(key, rev, sub), enc, nil); err != nil {
		return nil, fmt.Errorf("mvcc: put: %w", err)
	}
	tw.s.latest.put(key, rev, sub, enc)
	if err := tw.b.Set(revLogKey(rev, sub), encodeRevLog(rec), nil); err != nil {
		return nil, fmt.Errorf("mvcc: put: %w", err)
	}
	if prev == nil {
		tw.keyDelta++
	}
	kv := &mvccpb.KeyValue{
		Key:            append([]byte(nil), key...),
		CreateRevision: create,
		ModRevision:    rev,
		Version:        ver,
		Value:          append([]byte(nil), value...),
		Lease:          lease,
	}
	tw.changes = append(tw.changes, &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv, PrevKv: prev})
	tw.s.metrics.putSize.Add(float64(len(key) + len(value)))
	return prev, nil
}

// DeleteRange deletes every live key in [key, end) (etcd's range_end
// rules) at this transaction's revision, one sub-revision per key in key
// order, and returns their last KVs (for prev_kv and watch DELETE events).
// Deleting nothing is not a change.
func (tw *TxnWrite) DeleteRange(key, end []byte) (deleted []*mvccpb.KeyValue, err error) {
	if tw.ended {
		return nil, fmt.Errorf("mvcc: DeleteRange after End")
	}
	type victim struct {
		kv  *mvccpb.KeyValue
		sub int64
	}
	var victims []victim
	lo, hi, ok := keyBounds(key, end)
	if !ok {
		return nil, nil
	}
	it, err := tw.b.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("mvcc: open iterator: %w", err)
	}
	err = visitLive(nil, it, lo, math.MaxInt64, func(ik, val []byte) error {
		kv, err := decodeKV(ik, val)
		if err != nil {
			return err
		}
		_, _, sub, err := splitVersionKey(ik)
		if err != nil {
			return err
		}
		victims = append(victims, victim{kv: kv, sub: sub})
		return nil
	})
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	rev := tw.rev()
	for _, v := range victims {
		sub := int64(len(tw.changes))
		if err := tw.b.Set(versionKey(v.kv.Key, rev, sub), tombstoneValue, nil); err != nil {
			return nil, fmt.Errorf("mvcc: delete: %w", err)
		}
		rec := revLogRecord{tombstone: true, hasPrev: true, prevMain: v.kv.ModRevision, prevSub: v.sub, key: v.kv.Key}
		if err := tw.b.Set(revLogKey(rev, sub), encodeRevLog(rec), nil); err != nil {
			return nil, fmt.Errorf("mvcc: delete: %w", err)
		}
		tw.s.latest.forget(v.kv.Key)
		tw.keyDelta--
		tw.changes = append(tw.changes, &mvccpb.Event{
			Type:   mvccpb.Event_DELETE,
			Kv:     &mvccpb.KeyValue{Key: v.kv.Key, ModRevision: rev},
			PrevKv: v.kv,
		})
		deleted = append(deleted, v.kv)
	}
	return deleted, nil
}

// Changes returns the events of this transaction so far, in sub-revision
// order: PUT with the full new KV, DELETE with only the key and
// mod_revision = the transaction's revision (as etcd). PrevKv is the key's
// previous live KV (nil if none), which is what an etcd watcher with
// prev_kv gets. The slice and events are shared; do not modify them.
func (tw *TxnWrite) Changes() []*mvccpb.Event { return tw.changes }

// End finishes the transaction. If it changed something it records the
// new revision and key count in the batch and returns the new revision;
// otherwise the revision stays and End returns it. The change is visible
// to Store readers only after the batch commits and Publish is called.
func (tw *TxnWrite) End() (rev int64) {
	if tw.ended {
		return tw.curRev()
	}
	tw.ended = true
	if len(tw.changes) == 0 {
		return tw.beginRev
	}
	s := tw.s
	s.wRev = tw.rev()
	s.wKeyCount += tw.keyDelta
	// Set on an indexed batch fails only when the batch index overflows
	// (gigabytes); the Puts before would have failed first. Returning
	// without the meta keys would silently corrupt the store, so panic.
	if err := putInt64(tw.b, metaRev, s.wRev); err != nil {
		panic(fmt.Sprintf("mvcc: record revision in batch: %v", err))
	}
	if err := putInt64(tw.b, metaKeyCount, s.wKeyCount); err != nil {
		panic(fmt.Sprintf("mvcc: record key count in batch: %v", err))
	}
	return s.wRev
}
