package raftnode

import (
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// defaultCacheBytes bounds the in-memory tail of the log.
const defaultCacheBytes = 64 << 20

// logStore is the raft.Storage of one member: the raft log, hard state and
// truncation point in Pebble, with the tail of the log cached in memory so
// that replication and apply never read Pebble on the hot path.
//
// The raft goroutine is its only caller except for Snapshot's registry
// (held), which snapshot senders also use.
type logStore struct {
	db            *pebble.DB
	held          *heldSnapshots
	maxCacheBytes int

	// mu guards every field below. Only the raft goroutine takes it today;
	// it keeps the type safe for tests and tooling that inspect the log.
	mu sync.Mutex
	// hard is the last persisted HardState (never nil).
	hard *pb.HardState
	// snapIndex and snapTerm identify the last entry removed from the log
	// (0, 0 for a log never truncated): FirstIndex is snapIndex+1.
	snapIndex, snapTerm uint64
	// last is the index of the last persisted entry (snapIndex if none).
	last uint64
	// cache holds entries (last-len(cache), last] in order; cacheBytes is
	// the sum of their encoded sizes. Its slices are never written in place
	// once handed out: truncation uses full slice expressions.
	cache      []*pb.Entry
	cacheBytes int
}

var _ raft.Storage = (*logStore)(nil)

// openLogStore loads the persisted raft state from db.
func openLogStore(db *pebble.DB, maxCacheBytes int) (*logStore, error) {
	if maxCacheBytes <= 0 {
		maxCacheBytes = defaultCacheBytes
	}
	s := &logStore{db: db, held: newHeldSnapshots(), maxCacheBytes: maxCacheBytes, hard: &pb.HardState{}}
	if err := getProto(db, keyHardState, s.hard); err != nil {
		return nil, err
	}
	var meta pb.SnapshotMetadata
	if err := getProto(db, keySnapMeta, &meta); err != nil {
		return nil, err
	}
	s.snapIndex, s.snapTerm, s.last = meta.GetIndex(), meta.GetTerm(), meta.GetIndex()

	lo, hi := logKeyAll()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("raftnode: open log iterator: %w", err)
	}
	defer it.Close()
	// Load the cache from the end backwards.
	var rev []*pb.Entry
	for ok := it.Last(); ok; ok = it.Prev() {
		idx, err := logKeyIndex(it.Key())
		if err != nil {
			return nil, err
		}
		if idx <= s.snapIndex {
			break
		}
		if len(rev) == 0 {
			s.last = idx
		} else if want := rev[len(rev)-1].GetIndex() - 1; idx != want {
			return nil, fmt.Errorf("%w: log gap: entry %d follows %d", ErrCorrupt, want+1, idx)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("raftnode: read log entry %d: %w", idx, err)
		}
		e := &pb.Entry{}
		if err := proto.Unmarshal(v, e); err != nil || e.GetIndex() != idx {
			return nil, fmt.Errorf("%w: log entry %d: %v", ErrCorrupt, idx, err)
		}
		rev = append(rev, e)
		s.cacheBytes += proto.Size(e)
		if s.cacheBytes >= s.maxCacheBytes {
			break
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("raftnode: scan log: %w", err)
	}
	s.cache = make([]*pb.Entry, len(rev))
	for i, e := range rev {
		s.cache[len(rev)-1-i] = e
	}
	return s, nil
}

// empty reports whether nothing was ever persisted (a fresh data dir).
func (s *logStore) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last == 0 && raft.IsEmptyHardState(s.hard)
}

// hardState returns a copy of the persisted HardState.
func (s *logStore) hardState() *pb.HardState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.hard).(*pb.HardState)
}

// InitialState implements raft.Storage: the persisted HardState and the
// ConfState the state machine reflects (read from the replicated range).
func (s *logStore) InitialState() (*pb.HardState, *pb.ConfState, error) {
	cs, err := ReadConfState(s.db)
	if err != nil {
		return nil, nil, err
	}
	return s.hardState(), cs, nil
}

// Entries implements raft.Storage: entries [lo, hi) limited to maxSize
// encoded bytes (at least one). ErrCompacted if lo was truncated,
// ErrUnavailable if hi is past the last entry.
func (s *logStore) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lo <= s.snapIndex {
		return nil, raft.ErrCompacted
	}
	if hi > s.last+1 {
		return nil, fmt.Errorf("raftnode: entries [%d, %d) past last index %d: %w", lo, hi, s.last, raft.ErrUnavailable)
	}
	if lo >= hi {
		return nil, nil
	}
	out := make([]*pb.Entry, 0, min(hi-lo, 1024))
	var size uint64
	add := func(e *pb.Entry) bool {
		sz := uint64(proto.Size(e))
		if len(out) > 0 && size+sz > maxSize {
			return false
		}
		size += sz
		out = append(out, e)
		return true
	}
	cacheFirst := s.cacheFirstLocked()
	next := lo
	if lo < cacheFirst {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: logKey(lo), UpperBound: logKey(min(hi, cacheFirst))})
		if err != nil {
			return nil, fmt.Errorf("raftnode: open log iterator: %w", err)
		}
		full := false
		for ok := it.First(); ok && !full; ok = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return nil, fmt.Errorf("raftnode: read log: %w", err)
			}
			e := &pb.Entry{}
			if err := proto.Unmarshal(v, e); err != nil {
				it.Close()
				return nil, fmt.Errorf("%w: log entry: %v", ErrCorrupt, err)
			}
			if e.GetIndex() != next {
				it.Close()
				return nil, fmt.Errorf("raftnode: log entry %d missing: %w", next, raft.ErrUnavailable)
			}
			full = !add(e)
			if !full {
				next++
			}
		}
		err = it.Close()
		if err != nil {
			return nil, fmt.Errorf("raftnode: scan log: %w", err)
		}
		if full {
			return out, nil
		}
		if next < min(hi, cacheFirst) {
			return nil, fmt.Errorf("raftnode: log entry %d missing: %w", next, raft.ErrUnavailable)
		}
	}
	for ; next < hi; next++ {
		if !add(s.cache[next-cacheFirst]) {
			break
		}
	}
	return out, nil
}

// Term implements raft.Storage for i in [FirstIndex()-1, LastIndex()].
func (s *logStore) Term(i uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.termLocked(i)
}

func (s *logStore) termLocked(i uint64) (uint64, error) {
	switch {
	case i < s.snapIndex:
		return 0, raft.ErrCompacted
	case i == s.snapIndex:
		return s.snapTerm, nil
	case i > s.last:
		return 0, raft.ErrUnavailable
	}
	if cf := s.cacheFirstLocked(); i >= cf {
		return s.cache[i-cf].GetTerm(), nil
	}
	e := &pb.Entry{}
	v, c, err := s.db.Get(logKey(i))
	if err != nil {
		return 0, fmt.Errorf("raftnode: read log entry %d: %w", i, err)
	}
	defer c.Close()
	if err := proto.Unmarshal(v, e); err != nil {
		return 0, fmt.Errorf("%w: log entry %d: %v", ErrCorrupt, i, err)
	}
	return e.GetTerm(), nil
}

// LastIndex implements raft.Storage.
func (s *logStore) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, nil
}

// FirstIndex implements raft.Storage.
func (s *logStore) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapIndex + 1, nil
}

// Snapshot implements raft.Storage: it holds a Pebble snapshot of the state
// machine and describes it; the transport streams and releases it. It
// answers ErrSnapshotTemporarilyUnavailable while nothing was applied past
// the log's truncation point.
func (s *logStore) Snapshot() (*pb.Snapshot, error) {
	s.mu.Lock()
	floor := s.snapIndex
	s.mu.Unlock()
	return s.held.hold(s.db, floor)
}

func (s *logStore) cacheFirstLocked() uint64 { return s.last + 1 - uint64(len(s.cache)) }

// save persists entries and hard state (either may be empty) in one Pebble
// batch, synced when sync is set, then updates the in-memory view. Entries
// replace any persisted entries at the same or higher indexes. It returns
// the batch size in bytes.
func (s *logStore) save(hs *pb.HardState, ents []*pb.Entry, sync bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(ents) > 0 && ents[0].GetIndex() <= s.snapIndex {
		ents = ents[1:]
	}
	b := s.db.NewBatch()
	defer b.Close()
	if len(ents) > 0 {
		first, newLast := ents[0].GetIndex(), ents[len(ents)-1].GetIndex()
		if first > s.last+1 {
			return 0, fmt.Errorf("%w: appending entry %d after last %d", ErrCorrupt, first, s.last)
		}
		for _, e := range ents {
			if err := putProto(b, logKey(e.GetIndex()), e); err != nil {
				return 0, err
			}
		}
		if newLast < s.last {
			if err := b.DeleteRange(logKey(newLast+1), logKey(s.last+1), nil); err != nil {
				return 0, err
			}
		}
	}
	if !raft.IsEmptyHardState(hs) {
		if err := putProto(b, keyHardState, hs); err != nil {
			return 0, err
		}
	}
	if b.Empty() {
		return 0, nil
	}
	n := len(b.Repr())
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := b.Commit(opt); err != nil {
		return 0, fmt.Errorf("raftnode: persist raft state: %w", err)
	}
	if len(ents) > 0 {
		s.appendCacheLocked(ents)
	}
	if !raft.IsEmptyHardState(hs) {
		s.hard = proto.Clone(hs).(*pb.HardState)
	}
	return n, nil
}

// appendCacheLocked puts persisted entries in the cache, replacing a
// conflicting suffix, and trims the cache to its byte budget.
func (s *logStore) appendCacheLocked(ents []*pb.Entry) {
	first := ents[0].GetIndex()
	if first <= s.last {
		cf := s.cacheFirstLocked()
		if first > cf {
			cut := first - cf
			for _, e := range s.cache[cut:] {
				s.cacheBytes -= proto.Size(e)
			}
			s.cache = s.cache[:cut:cut]
		} else {
			s.cache, s.cacheBytes = nil, 0
		}
	}
	for _, e := range ents {
		s.cacheBytes += proto.Size(e)
	}
	s.cache = append(s.cache, ents...)
	s.last = ents[len(ents)-1].GetIndex()
	s.trimCacheLocked()
}

func (s *logStore) trimCacheLocked() {
	drop := 0
	for drop < len(s.cache)-1 && s.cacheBytes > s.maxCacheBytes {
		s.cacheBytes -= proto.Size(s.cache[drop])
		drop++
	}
	if drop > 0 {
		s.cache = append([]*pb.Entry(nil), s.cache[drop:]...)
	}
}

// compact removes entries up to and including index from the log; index
// becomes the truncation point (FirstIndex() == index+1). The caller
// guarantees index is applied. ErrCompacted if index is already truncated.
func (s *logStore) compact(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index <= s.snapIndex {
		return raft.ErrCompacted
	}
	if index > s.last {
		return fmt.Errorf("raftnode: compact %d past last index %d: %w", index, s.last, raft.ErrUnavailable)
	}
	term, err := s.termLocked(index)
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := writeTruncation(b, index, term); err != nil {
		return err
	}
	// Not synced: losing the truncation in a crash only keeps more log.
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("raftnode: truncate log: %w", err)
	}
	s.snapIndex, s.snapTerm = index, term
	cf := s.cacheFirstLocked()
	if index >= cf {
		drop := index - cf + 1
		for _, e := range s.cache[:drop] {
			s.cacheBytes -= proto.Size(e)
		}
		s.cache = append([]*pb.Entry(nil), s.cache[drop:]...)
	}
	return nil
}

// writeTruncation adds to b the removal of log entries up to index and the
// new truncation point (index, term).
func writeTruncation(b *pebble.Batch, index, term uint64) error {
	if err := b.DeleteRange(logKey(0), logKey(index+1), nil); err != nil {
		return err
	}
	return putProto(b, keySnapMeta, &pb.SnapshotMetadata{Index: new(index), Term: new(term)})
}

// writeInstall adds to b the raft-side effects of installing the snapshot
// described by meta: the whole log is dropped, the truncation point moves
// to the snapshot and hs (the hard state to hold afterwards) is written.
func writeInstall(b *pebble.Batch, meta *pb.SnapshotMetadata, hs *pb.HardState) error {
	lo, hi := logKeyAll()
	if err := b.DeleteRange(lo, hi, nil); err != nil {
		return err
	}
	if err := putProto(b, keySnapMeta, &pb.SnapshotMetadata{Index: new(meta.GetIndex()), Term: new(meta.GetTerm())}); err != nil {
		return err
	}
	return putProto(b, keyHardState, hs)
}

// installed updates the in-memory view after the apply loop committed a
// batch made with writeInstall.
func (s *logStore) installed(meta *pb.SnapshotMetadata, hs *pb.HardState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapIndex, s.snapTerm, s.last = meta.GetIndex(), meta.GetTerm(), meta.GetIndex()
	s.cache, s.cacheBytes = nil, 0
	s.hard = proto.Clone(hs).(*pb.HardState)
}
