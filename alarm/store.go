package alarm

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/concord-kv/concord/storage"
)

// entry is one active alarm.
type entry struct {
	member uint64
	typ    pb.AlarmType
}

// Store is the in-memory view of the active alarms, backed by the
// PrefixAlarm records. See the package doc for who may call what.
type Store struct {
	mu     sync.RWMutex // guards active
	active map[entry]struct{}
}

// NewStore returns an empty store; Load fills it from storage.
func NewStore() *Store {
	return &Store{active: map[entry]struct{}{}}
}

func alarmKey(member uint64, t pb.AlarmType) []byte {
	k := make([]byte, 13)
	k[0] = storage.PrefixAlarm
	binary.BigEndian.PutUint64(k[1:], member)
	binary.BigEndian.PutUint32(k[9:], uint32(t))
	return k
}

// Load replaces the in-memory view with the records in r (at start and
// after a raft snapshot was installed). A record of the wrong length is
// storage.ErrCorrupt.
func (s *Store) Load(r pebble.Reader) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{storage.PrefixAlarm}, UpperBound: []byte{storage.PrefixAlarm + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	active := map[entry]struct{}{}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 13 {
			return fmt.Errorf("%w: alarm key %x", storage.ErrCorrupt, k)
		}
		active[entry{binary.BigEndian.Uint64(k[1:9]), pb.AlarmType(binary.BigEndian.Uint32(k[9:]))}] = struct{}{}
	}
	if err := it.Error(); err != nil {
		return err
	}
	s.mu.Lock()
	s.active = active
	s.mu.Unlock()
	return nil
}

// Activate raises alarm t for member in w and in memory, as etcd's
// AlarmStore.Activate: it returns the alarm (the one already active if it
// was) and whether it is the first alarm of type t in the cluster (etcd
// logs "alarm raised" and switches its applier only then). NONE is not an
// alarm: it returns nil, false.
func (s *Store) Activate(w pebble.Writer, member uint64, t pb.AlarmType) (*pb.AlarmMember, bool, error) {
	if t == pb.AlarmType_NONE {
		return nil, false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := entry{member, t}
	if _, ok := s.active[e]; ok {
		return &pb.AlarmMember{MemberID: member, Alarm: t}, false, nil
	}
	if err := w.Set(alarmKey(member, t), nil, nil); err != nil {
		return nil, false, err
	}
	first := s.countLocked(t) == 0
	s.active[e] = struct{}{}
	return &pb.AlarmMember{MemberID: member, Alarm: t}, first, nil
}

// Deactivate clears alarm t of member in w and in memory, as etcd's
// AlarmStore.Deactivate: nil if that alarm is not active (a DEACTIVATE must
// name the member and the type exactly); otherwise the alarm cleared and
// whether it was the last of type t in the cluster.
func (s *Store) Deactivate(w pebble.Writer, member uint64, t pb.AlarmType) (*pb.AlarmMember, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := entry{member, t}
	if _, ok := s.active[e]; !ok {
		return nil, false, nil
	}
	if err := w.Delete(alarmKey(member, t), nil); err != nil {
		return nil, false, err
	}
	delete(s.active, e)
	return &pb.AlarmMember{MemberID: member, Alarm: t}, s.countLocked(t) == 0, nil
}

func (s *Store) countLocked(t pb.AlarmType) int {
	n := 0
	for e := range s.active {
		if e.typ == t {
			n++
		}
	}
	return n
}

// Get returns the active alarms of type t (NONE: all of them), as etcd's
// AlarmStore.Get, sorted by member ID then type.
func (s *Store) Get(t pb.AlarmType) []*pb.AlarmMember {
	s.mu.RLock()
	out := make([]*pb.AlarmMember, 0, len(s.active))
	for e := range s.active {
		if t == pb.AlarmType_NONE || e.typ == t {
			out = append(out, &pb.AlarmMember{MemberID: e.member, Alarm: e.typ})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *pb.AlarmMember) int {
		if c := cmp.Compare(a.MemberID, b.MemberID); c != 0 {
			return c
		}
		return cmp.Compare(a.Alarm, b.Alarm)
	})
	return out
}

// Active reports whether some member has alarm t.
func (s *Store) Active(t pb.AlarmType) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.countLocked(t) > 0
}

// String formats an alarm as etcd 3.4's AlarmMember.String, the text
// etcdctl prints and Status lists in its errors:
// "memberID:<decimal id> alarm:<TYPE> " (with the trailing space).
func String(m *pb.AlarmMember) string {
	return fmt.Sprintf("memberID:%d alarm:%s ", m.GetMemberID(), m.GetAlarm())
}
