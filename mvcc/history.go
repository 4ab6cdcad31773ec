package mvcc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/storage"
)

// historyView is a consistent snapshot for reading the revision log and
// the versions it points to.
type historyView struct {
	snap *pebble.Snapshot
	ki   *pebble.Iterator // over the key index, for "newest at or below" seeks
	cur  int64
	comp int64
	done func() // ends the open-read count
}

// openHistory takes the current revision, then a snapshot, then the
// compacted revision (the order Range uses).
func (s *Store) openHistory() (*historyView, error) {
	cur := s.Rev()
	snap := s.db.NewSnapshot()
	ki, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{storage.PrefixKeyIndex}, UpperBound: keyIndexEnd})
	if err != nil {
		snap.Close()
		return nil, fmt.Errorf("mvcc: open iterator: %w", err)
	}
	return &historyView{snap: snap, ki: ki, cur: cur, comp: s.CompactRev(), done: s.metrics.readOpened()}, nil
}

func (h *historyView) close() {
	h.ki.Close()
	h.snap.Close()
	h.done()
}

// newestAtOrBelow finds the newest version of k with main revision <= rev.
// val is valid until the next call.
func (h *historyView) newestAtOrBelow(k []byte, rev int64) (main, sub int64, val []byte, found bool, err error) {
	p := keyPrefix(k)
	if !h.ki.SeekGE(seekAtRev(p, rev)) {
		return 0, 0, nil, false, h.ki.Error()
	}
	prefix, main, sub, err := splitVersionKey(h.ki.Key())
	if err != nil || !bytes.Equal(prefix, p) {
		return 0, 0, nil, false, err
	}
	val, err = h.ki.ValueAndErr()
	if err != nil {
		return 0, 0, nil, false, err
	}
	return main, sub, val, true, nil
}

// version reads the version of k at exactly (main, sub).
func (h *historyView) version(k []byte, main, sub int64) ([]byte, error) {
	v, c, err := h.snap.Get(versionKey(k, main, sub))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%w: revision log names missing version %d/%d of %q", storage.ErrCorrupt, main, sub, k)
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	c.Close()
	return out, nil
}

// scanRevLog calls fn for each revision-log record with main revision in
// [from, to]. rec.key is valid only during the call.
func (h *historyView) scanRevLog(ctx context.Context, from, to int64, fn func(main, sub int64, rec revLogRecord) error) error {
	it, err := h.snap.NewIter(&pebble.IterOptions{LowerBound: revLogKey(from, 0), UpperBound: revLogKey(to+1, 0)})
	if err != nil {
		return fmt.Errorf("mvcc: open iterator: %w", err)
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		if n++; n%ctxCheckEvery == 0 && ctx != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		main, sub, err := splitRevLogKey(it.Key())
		if err != nil {
			return err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		rec, err := decodeRevLog(v)
		if err != nil {
			return err
		}
		if err := fn(main, sub, rec); err != nil {
			return err
		}
	}
	return it.Error()
}

// Events calls fn, in revision order, for every change with main revision
// in [from, to] whose key is in [key, end) (etcd's range_end rules). PUT
// events carry the full KV; DELETE events the key and mod_revision only,
// as etcd's watch. With prevKV, PrevKv is the key's live KV at revision-1
// (as etcd's watch prev_kv; nil if none or if revision-1 is compacted).
// to <= 0 or above the current revision means the current revision.
// Errors: ErrCompacted if from < CompactRev() (watchers must then be
// cancelled with the compact revision); ctx's error; fn's error as is.
// Safe from any goroutine.
func (s *Store) Events(ctx context.Context, from, to int64, key, end []byte, prevKV bool, fn func(*mvccpb.Event) error) error {
	h, err := s.openHistory()
	if err != nil {
		return err
	}
	defer h.close()
	if from < h.comp {
		return ErrCompacted
	}
	if from < 1 {
		from = 1
	}
	if to <= 0 || to > h.cur {
		to = h.cur
	}
	if from > to {
		return nil
	}
	return h.scanRevLog(ctx, from, to, func(main, sub int64, rec revLogRecord) error {
		if !inRange(rec.key, key, end) {
			return nil
		}
		k := append([]byte(nil), rec.key...)
		ev := &mvccpb.Event{}
		if rec.tombstone {
			ev.Type = mvccpb.Event_DELETE
			ev.Kv = &mvccpb.KeyValue{Key: k, ModRevision: main}
		} else {
			v, err := h.version(k, main, sub)
			if err != nil {
				return err
			}
			create, ver, lease, value, err := decodeVersion(v)
			if err != nil {
				return err
			}
			ev.Type = mvccpb.Event_PUT
			ev.Kv = &mvccpb.KeyValue{Key: k, CreateRevision: create, ModRevision: main, Version: ver, Value: value, Lease: lease}
		}
		if prevKV && main-1 >= h.comp {
			pm, _, pv, found, err := h.newestAtOrBelow(k, main-1)
			if err != nil {
				return err
			}
			if found && !isTombstone(pv) {
				create, ver, lease, value, err := decodeVersion(pv)
				if err != nil {
					return err
				}
				ev.PrevKv = &mvccpb.KeyValue{Key: k, CreateRevision: create, ModRevision: pm, Version: ver, Value: append([]byte(nil), value...), Lease: lease}
			}
		}
		return fn(ev)
	})
}

// HashKV returns a CRC-32 (Castagnoli) over every key version with revision
// <= rev that survives the compaction at the compacted revision, in
// revision order, as etcd's HashKV: the versions above the compacted
// revision plus, below it, each key's newest non-deletion version. Each
// version contributes its etcd backend key (main, '_', sub, and 't' for
// deletions) and its marshalled mvccpb.KeyValue, so members with the same
// history agree whatever their physical compaction progress.
// rev 0 means the current revision. It returns the hash, the revision
// hashed and the compacted revision (-1 if never compacted, as etcd).
// Errors: ErrFutureRev if rev > Rev(); ErrCompacted if 0 < rev <
// CompactRev(). Safe from any goroutine; it reads the whole history.
func (s *Store) HashKV(rev int64) (hash uint32, hashRev, compactRev int64, err error) {
	start := s.metrics.now()
	defer func() {
		if err == nil {
			s.metrics.hashRev.Observe(s.metrics.now().Sub(start).Seconds())
		}
	}()
	h, err := s.openHistory()
	if err != nil {
		return 0, 0, 0, err
	}
	defer h.close()
	if rev > h.cur {
		return 0, 0, h.comp, ErrFutureRev
	}
	if rev > 0 && rev < h.comp {
		return 0, 0, h.comp, ErrCompacted
	}
	if rev <= 0 {
		rev = h.cur
	}
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	crc.Write([]byte("key")) // etcd hashes its bucket name first
	var rk [18]byte
	mopts := proto.MarshalOptions{Deterministic: true}
	err = h.scanRevLog(context.Background(), 0, rev, func(main, sub int64, rec revLogRecord) error {
		if main <= h.comp {
			// Below the compaction point only the newest non-deletion
			// version of each key counts.
			if rec.tombstone {
				return nil
			}
			m, sb, _, found, err := h.newestAtOrBelow(rec.key, h.comp)
			if err != nil {
				return err
			}
			if !found || m != main || sb != sub {
				return nil
			}
		}
		binary.BigEndian.PutUint64(rk[:], uint64(main))
		rk[8] = '_'
		binary.BigEndian.PutUint64(rk[9:], uint64(sub))
		kv := &mvccpb.KeyValue{Key: rec.key}
		n := 17
		if rec.tombstone {
			rk[17] = 't'
			n = 18
		} else {
			v, err := h.version(rec.key, main, sub)
			if err != nil {
				return err
			}
			kv.CreateRevision, kv.Version, kv.Lease, kv.Value, err = decodeVersion(v)
			if err != nil {
				return err
			}
			kv.ModRevision = main
		}
		b, err := mopts.Marshal(kv)
		if err != nil {
			return err
		}
		crc.Write(rk[:n])
		crc.Write(b)
		return nil
	})
	if err != nil {
		return 0, 0, h.comp, err
	}
	return crc.Sum32(), rev, h.comp, nil
}
