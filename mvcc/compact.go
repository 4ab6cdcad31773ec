package mvcc

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// Compact records a compaction at rev in b, as etcd's Compact: afterwards
// reads below rev fail with ErrCompacted, and for every key only the
// newest version at or below rev survives (dropped too if it is a
// deletion). It takes effect for readers once b commits and Publish is
// called; the background compactor then removes the invisible versions.
// The returned channel is closed when that physical removal of everything
// at or below rev is done (for CompactionRequest.physical).
// Errors: ErrCompacted if rev <= the compacted revision, ErrFutureRev if
// rev > the current revision (both as seen by the apply loop, including
// unpublished changes in its batch).
func (s *Store) Compact(b *pebble.Batch, rev int64) (done <-chan struct{}, err error) {
	if rev <= s.wCompactRev {
		return nil, ErrCompacted
	}
	if rev > s.wRev {
		return nil, ErrFutureRev
	}
	if err := putInt64(b, metaCompactRev, rev); err != nil {
		return nil, fmt.Errorf("mvcc: record compaction: %w", err)
	}
	s.wCompactRev = rev
	ch := make(chan struct{})
	s.wmu.Lock()
	s.waiters = append(s.waiters, compactWaiter{rev: rev, ch: ch})
	s.wmu.Unlock()
	s.notifyWaiters()
	return ch, nil
}

// setProgressLocked records the compactor position; cmu is held.
func (s *Store) setProgressLocked(main, sub int64) {
	s.finMain, s.finSub = main, sub
	if sub == math.MaxInt64 {
		s.finished.Store(main)
	} else {
		s.finished.Store(main - 1)
	}
}

// notifyWaiters closes the Compact channels whose revision is physically
// compacted.
func (s *Store) notifyWaiters() {
	fin := s.finished.Load()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if w.rev <= fin {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	for i := len(kept); i < len(s.waiters); i++ {
		s.waiters[i] = compactWaiter{}
	}
	s.waiters = kept
}

// runCompactor is the compactor goroutine: on every kick it works through
// the revision log up to the published compacted revision, one bounded
// batch at a time.
func (s *Store) runCompactor() {
	defer close(s.stopped)
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		}
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			more, err := s.compactBatch()
			if err != nil {
				// Retried on the next kick (next compaction, Reload or Open).
				s.lg.Error("mvcc: compaction batch failed", zap.Error(err))
				break
			}
			if !more {
				break
			}
		}
	}
}

// compactBatch removes up to batchLimit records' worth of invisible
// versions. It returns more=true if records up to the target remain.
func (s *Store) compactBatch() (more bool, err error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.paused {
		return false, nil
	}
	target := s.compactRev.Load()
	if target < 0 || s.finished.Load() >= target {
		s.notifyWaiters()
		return false, nil
	}
	start := s.metrics.now()
	if s.compactStart.IsZero() {
		s.compactStart = start
	}
	startMain, startSub := s.finMain, s.finSub+1
	if s.finSub == math.MaxInt64 {
		startMain, startSub = s.finMain+1, 0
	}
	it, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: revLogKey(startMain, startSub),
		// The records of the compaction revision itself wait for a later
		// compaction: a watch may start at the compacted revision and must
		// still see a deletion made there, as etcd keeps it (etcd issue
		// 18089). What they supersede stays invisible to every read.
		UpperBound: revLogKey(target, 0),
	})
	if err != nil {
		return false, fmt.Errorf("mvcc: open iterator: %w", err)
	}
	defer it.Close()
	b := s.db.NewBatch()
	defer b.Close()
	n, removed := 0, 0
	lastMain, lastSub := target, int64(math.MaxInt64)
	for valid := it.First(); valid; valid = it.Next() {
		if n == s.batchLimit {
			more = true
			break
		}
		main, sub, err := splitRevLogKey(it.Key())
		if err != nil {
			return false, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return false, err
		}
		rec, err := decodeRevLog(v)
		if err != nil {
			return false, err
		}
		// This change is below the compaction revision, so the
		// version it superseded is invisible at every readable revision.
		if rec.hasPrev {
			removed += 2
			if err := b.Delete(versionKey(rec.key, rec.prevMain, rec.prevSub), nil); err != nil {
				return false, err
			}
			if err := b.Delete(revLogKey(rec.prevMain, rec.prevSub), nil); err != nil {
				return false, err
			}
		}
		// A deletion below the compaction revision hides nothing
		// readable; drop it with its predecessor (same batch, so no reader
		// ever sees the predecessor without its tombstone).
		if rec.tombstone {
			removed += 2
			if err := b.Delete(versionKey(rec.key, main, sub), nil); err != nil {
				return false, err
			}
			if err := b.Delete(revLogKey(main, sub), nil); err != nil {
				return false, err
			}
		}
		lastMain, lastSub = main, sub
		n++
	}
	if err := it.Error(); err != nil {
		return false, err
	}
	if !more {
		lastMain, lastSub = target-1, math.MaxInt64
	}
	var fin [16]byte
	binary.BigEndian.PutUint64(fin[:], uint64(lastMain))
	binary.BigEndian.PutUint64(fin[8:], uint64(lastSub))
	if err := b.Set(metaFinished, fin[:], nil); err != nil {
		return false, err
	}
	// No sync: a lost batch is redone after restart (deletes are idempotent).
	if err := b.Commit(pebble.NoSync); err != nil {
		return false, fmt.Errorf("mvcc: commit compaction batch: %w", err)
	}
	s.setProgressLocked(lastMain, lastSub)
	if !more {
		// Everything this compaction may remove is gone.
		s.finished.Store(target)
	}
	s.metrics.compactedKeys.Add(float64(removed))
	end := s.metrics.now()
	s.metrics.compactionPause.Observe(millis(end.Sub(start)))
	if !more {
		s.metrics.compactionTotal.Observe(millis(end.Sub(s.compactStart)))
		s.metrics.compactionLast.Set(float64(end.Unix()))
		s.compactStart = time.Time{}
	}
	s.notifyWaiters()
	if !more {
		s.lg.Debug("mvcc: finished compaction", zap.Int64("revision", target))
	}
	return more, nil
}

// WaitCompaction blocks until the versions made invisible by the published
// compacted revision are physically removed, or ctx ends (ctx.Err()).
// Defragmentation waits for it, so that the space it reclaims includes the
// last compaction's garbage, as etcd's defrag after a compaction does.
func (s *Store) WaitCompaction(ctx context.Context) error {
	rev := s.compactRev.Load()
	if rev <= 0 || s.finished.Load() >= rev {
		return nil
	}
	ch := make(chan struct{})
	s.wmu.Lock()
	s.waiters = append(s.waiters, compactWaiter{rev: rev, ch: ch})
	s.wmu.Unlock()
	s.notifyWaiters()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
