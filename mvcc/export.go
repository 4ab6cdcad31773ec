package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/concord-kv/concord/storage"
)

// This file is the store's side of package snapshot's etcd format: reading
// the history as etcd's key bucket holds it, and writing a history read
// from one into an empty engine. Both work offline on a Pebble reader or
// engine, never on an open Store.

// ErrImportOrder is returned by Importer.Add for a version that does not
// come after the previous one in revision order.
var ErrImportOrder = errors.New("mvcc: imported versions out of revision order")

// Revisions reads the current and compacted revisions stored in r (the
// current revision is 1 for a store never written; compacted is -1 if
// never compacted, as CompactRev).
func Revisions(r pebble.Reader) (current, compacted int64, err error) {
	cur, err := storage.GetUint64(r, metaRev)
	if err != nil {
		return 0, 0, fmt.Errorf("mvcc: read current revision: %w", err)
	}
	current = max(int64(cur), 1)
	compacted = -1
	v, c, err := r.Get(metaCompactRev)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return 0, 0, fmt.Errorf("mvcc: read compacted revision: %w", err)
	default:
		defer c.Close()
		if len(v) != 8 {
			return 0, 0, fmt.Errorf("%w: compacted revision has %d bytes", storage.ErrCorrupt, len(v))
		}
		compacted = int64(binary.BigEndian.Uint64(v))
	}
	return current, compacted, nil
}

// ScanEtcdHistory calls fn, in revision order, for every version of r that
// etcd's key bucket holds once its compaction at the compacted revision
// has finished: every version above the compacted revision and, at or
// below it, each key's newest version unless that is a deletion below it
// (a deletion at the compacted revision itself stays, as etcd keeps it
// until the next compaction). Versions the background compactor has not
// removed yet are left out the same way, so the result does not depend on
// its progress. kv is valid only during the call; for a deletion it holds
// only Key (as etcd stores tombstones). r should be a Pebble snapshot.
// Errors: reading r, storage.ErrCorrupt for undecodable records, fn's.
func ScanEtcdHistory(r pebble.Reader, fn func(main, sub int64, tombstone bool, kv *mvccpb.KeyValue) error) error {
	_, comp, err := Revisions(r)
	if err != nil {
		return err
	}
	rl, err := r.NewIter(&pebble.IterOptions{LowerBound: revLogStart, UpperBound: revLogEnd})
	if err != nil {
		return fmt.Errorf("mvcc: open iterator: %w", err)
	}
	defer rl.Close()
	ki, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{storage.PrefixKeyIndex}, UpperBound: keyIndexEnd})
	if err != nil {
		return fmt.Errorf("mvcc: open iterator: %w", err)
	}
	defer ki.Close()
	var kv mvccpb.KeyValue
	for valid := rl.First(); valid; valid = rl.Next() {
		main, sub, err := splitRevLogKey(rl.Key())
		if err != nil {
			return err
		}
		v, err := rl.ValueAndErr()
		if err != nil {
			return err
		}
		rec, err := decodeRevLog(v)
		if err != nil {
			return err
		}
		if rec.tombstone && main < comp {
			continue
		}
		p := keyPrefix(rec.key)
		vk := appendRevInv(p, main, sub)
		if !ki.SeekGE(vk) || !bytes.Equal(ki.Key(), vk) {
			if err := ki.Error(); err != nil {
				return err
			}
			return fmt.Errorf("%w: revision log names missing version %d/%d of %q", storage.ErrCorrupt, main, sub, rec.key)
		}
		val, err := ki.ValueAndErr()
		if err != nil {
			return err
		}
		if main <= comp {
			// Kept only if no newer version at or below comp exists: the
			// key index orders a key's versions newest first.
			if ki.Prev() {
				pp, pm, _, err := splitVersionKey(ki.Key())
				if err != nil {
					return err
				}
				if bytes.Equal(pp, p) && pm <= comp {
					continue
				}
			} else if err := ki.Error(); err != nil {
				return err
			}
		}
		kv = mvccpb.KeyValue{Key: rec.key}
		if !rec.tombstone {
			kv.CreateRevision, kv.Version, kv.Lease, kv.Value, err = decodeVersion(val)
			if err != nil {
				return err
			}
			kv.ModRevision = main
		}
		if err := fn(main, sub, rec.tombstone, &kv); err != nil {
			return err
		}
	}
	return rl.Error()
}

// ScanLeasedKeys calls fn, in key order, for every live key of r (its
// newest version is not a deletion) that has a lease. key is valid only
// during the call.
func ScanLeasedKeys(r pebble.Reader, fn func(key []byte, lease int64) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{storage.PrefixKeyIndex}, UpperBound: keyIndexEnd})
	if err != nil {
		return fmt.Errorf("mvcc: open iterator: %w", err)
	}
	defer it.Close()
	var last []byte
	for valid := it.First(); valid; valid = it.Next() {
		p, _, _, err := splitVersionKey(it.Key())
		if err != nil {
			return err
		}
		if last != nil && bytes.Equal(p, last) {
			continue
		}
		last = append(last[:0], p...)
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if isTombstone(v) {
			continue
		}
		_, _, lease, _, err := decodeVersion(v)
		if err != nil {
			return err
		}
		if lease == 0 {
			continue
		}
		k, err := userKey(p)
		if err != nil {
			return err
		}
		if err := fn(k, lease); err != nil {
			return err
		}
	}
	return it.Error()
}

// importBatchBytes is how large an Importer's batch grows before it is
// committed.
const importBatchBytes = 4 << 20

// Importer writes a history given in revision order (as etcd's key bucket
// holds it) into an empty engine, as this store would have written it:
// versions, revision-log records naming each change's previous live
// version (when the imported history still has it) and the live key
// count. Memory stays bounded: the previous version of a key is looked up
// in the engine, not kept. One goroutine uses an Importer.
type Importer struct {
	db       *pebble.DB
	b        *pebble.Batch
	keys     int64
	lastMain int64
	lastSub  int64
	started  bool
	maxMain  int64
}

// NewImporter starts an import into db, which must hold no MVCC state.
func NewImporter(db *pebble.DB) *Importer {
	return &Importer{db: db, b: db.NewIndexedBatch()}
}

// Add writes the version at (main, sub): a deletion of kv.Key, or kv as
// a put (ModRevision is taken from main). Versions must come in strictly
// ascending revision order (ErrImportOrder). Errors: the engine's.
func (im *Importer) Add(main, sub int64, tombstone bool, kv *mvccpb.KeyValue) error {
	if main < 1 || sub < 0 || (im.started && (main < im.lastMain || (main == im.lastMain && sub <= im.lastSub))) {
		return fmt.Errorf("%w: %d/%d after %d/%d", ErrImportOrder, main, sub, im.lastMain, im.lastSub)
	}
	im.started, im.lastMain, im.lastSub, im.maxMain = true, main, sub, main
	pMain, pSub, pVal, found, err := latestVersion(im.b, kv.Key)
	if err != nil {
		return err
	}
	live := found && !isTombstone(pVal)
	rec := revLogRecord{key: kv.Key, tombstone: tombstone}
	if live {
		rec.hasPrev, rec.prevMain, rec.prevSub = true, pMain, pSub
	}
	val := tombstoneValue
	switch {
	case tombstone && live:
		im.keys--
	case !tombstone:
		if !live {
			im.keys++
		}
		val = encodePut(kv.CreateRevision, kv.Version, kv.Lease, kv.Value)
	}
	if err := im.b.Set(versionKey(kv.Key, main, sub), val, nil); err != nil {
		return err
	}
	if err := im.b.Set(revLogKey(main, sub), encodeRevLog(rec), nil); err != nil {
		return err
	}
	if im.b.Len() >= importBatchBytes {
		if err := im.b.Commit(pebble.NoSync); err != nil {
			return err
		}
		im.b.Close()
		im.b = im.db.NewIndexedBatch()
	}
	return nil
}

// LastRevision is the main revision of the last version added (0 if none).
func (im *Importer) LastRevision() int64 { return im.maxMain }

// Finish records the current revision (at least the last one added) and,
// if compacted > 0, a compaction at compacted (which the compactor then
// applies to what the imported history still holds below it), and commits.
// It returns the current revision stored.
func (im *Importer) Finish(current, compacted int64) (int64, error) {
	defer im.b.Close()
	current = max(current, im.maxMain, compacted, 1)
	if err := putInt64(im.b, metaRev, current); err != nil {
		return 0, err
	}
	if compacted > 0 {
		if err := putInt64(im.b, metaCompactRev, compacted); err != nil {
			return 0, err
		}
	}
	if err := putInt64(im.b, metaKeyCount, im.keys); err != nil {
		return 0, err
	}
	if err := im.b.Commit(pebble.NoSync); err != nil {
		return 0, err
	}
	return current, nil
}
