package alarm

import (
	"errors"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/concord-kv/concord/storage"
)

func openDB(t *testing.T, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := storage.Open("db", storage.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func list(s *Store, t pb.AlarmType) []string {
	var out []string
	for _, m := range s.Get(t) {
		out = append(out, String(m))
	}
	return out
}

// TestStore walks etcd's alarm store semantics: activation is idempotent
// and reports the first alarm of a type; deactivation needs the exact
// member and type and reports the last; the set survives a reopen.
func TestStore(t *testing.T) {
	fs := vfs.NewMem()
	db := openDB(t, fs)
	s := NewStore()
	if err := s.Load(db); err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	steps := []struct {
		activate bool
		member   uint64
		typ      pb.AlarmType
		wantNil  bool
		edge     bool // first (activate) / last (deactivate) of its type
	}{
		{true, 7, pb.AlarmType_NONE, true, false},
		{true, 7, pb.AlarmType_NOSPACE, false, true},
		{true, 7, pb.AlarmType_NOSPACE, false, false},
		{true, 3, pb.AlarmType_NOSPACE, false, false},
		{true, 3, pb.AlarmType_CORRUPT, false, true},
		{false, 9, pb.AlarmType_NOSPACE, true, false},
		{false, 7, pb.AlarmType_NONE, true, false},
		{false, 7, pb.AlarmType_NOSPACE, false, false},
	}
	for i, st := range steps {
		var m *pb.AlarmMember
		var edge bool
		var err error
		if st.activate {
			m, edge, err = s.Activate(b, st.member, st.typ)
		} else {
			m, edge, err = s.Deactivate(b, st.member, st.typ)
		}
		if err != nil {
			t.Fatal(err)
		}
		if (m == nil) != st.wantNil || edge != st.edge {
			t.Fatalf("step %d %+v: got %v edge %v", i, st, m, edge)
		}
		if m != nil && (m.MemberID != st.member || m.Alarm != st.typ) {
			t.Fatalf("step %d: got %v", i, m)
		}
	}
	want := []string{"memberID:3 alarm:NOSPACE ", "memberID:3 alarm:CORRUPT "}
	if got := list(s, pb.AlarmType_NONE); !slices.Equal(got, want) {
		t.Fatalf("Get(NONE) = %q, want %q", got, want)
	}
	if got := list(s, pb.AlarmType_CORRUPT); !slices.Equal(got, want[1:]) {
		t.Fatalf("Get(CORRUPT) = %q", got)
	}
	if !s.Active(pb.AlarmType_NOSPACE) || !s.Active(pb.AlarmType_CORRUPT) {
		t.Fatal("alarms not active")
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, fs)
	defer db.Close()
	s2 := NewStore()
	if err := s2.Load(db); err != nil {
		t.Fatal(err)
	}
	if got := list(s2, pb.AlarmType_NONE); !slices.Equal(got, want) {
		t.Fatalf("after reopen Get(NONE) = %q, want %q", got, want)
	}
	b = db.NewBatch()
	if m, last, _ := s2.Deactivate(b, 3, pb.AlarmType_NOSPACE); m == nil || !last {
		t.Fatalf("deactivate last NOSPACE: %v %v", m, last)
	}
	if s2.Active(pb.AlarmType_NOSPACE) {
		t.Fatal("NOSPACE still active")
	}
}

func TestLoadCorrupt(t *testing.T) {
	db := openDB(t, vfs.NewMem())
	defer db.Close()
	if err := db.Set([]byte{storage.PrefixAlarm, 1}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := NewStore().Load(db); !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("Load = %v, want ErrCorrupt", err)
	}
}

func TestQuota(t *testing.T) {
	put := func(k, v string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}}
	}
	del := &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("k")}}}
	costs := []struct {
		name string
		r    any
		want int
	}{
		{"put", &pb.PutRequest{Key: []byte("ab"), Value: []byte("cde")}, 256 + 5},
		{"lease grant", &pb.LeaseGrantRequest{TTL: 5}, 64},
		{"txn: costlier branch", &pb.TxnRequest{Success: []*pb.RequestOp{put("a", "b")}, Failure: []*pb.RequestOp{put("a", "b"), put("c", "d"), del}}, 2 * 258},
		{"txn without puts", &pb.TxnRequest{Success: []*pb.RequestOp{del}}, 0},
		{"delete", &pb.DeleteRangeRequest{Key: []byte("k")}, 0},
		{"compaction", &pb.CompactionRequest{Revision: 3}, 0},
	}
	for _, c := range costs {
		if got := Cost(c.r); got != c.want {
			t.Errorf("Cost(%s) = %d, want %d", c.name, got, c.want)
		}
	}
	size := int64(0)
	q := &Quota{Bytes: 1000, Size: func() int64 { return size }}
	p := &pb.PutRequest{Key: []byte("k"), Value: make([]byte, 100)} // cost 357
	for _, c := range []struct {
		size int64
		r    any
		want bool
	}{
		{0, p, true},
		{642, p, true},
		{643, p, false}, // 643 + 357 = 1000: not below the quota
		{5000, &pb.DeleteRangeRequest{Key: []byte("k")}, true},
		{5000, &pb.TxnRequest{Success: []*pb.RequestOp{del}}, true},
	} {
		size = c.size
		if got := q.Available(c.r); got != c.want {
			t.Errorf("size %d: Available(%T) = %v, want %v", c.size, c.r, got, c.want)
		}
	}
	off := &Quota{Bytes: QuotaBytes(-1), Size: func() int64 { return 1 << 40 }}
	if off.Enabled() || !off.Available(p) {
		t.Error("a negative quota must disable the check")
	}
	if QuotaBytes(0) != 2<<30 || QuotaBytes(16<<20) != 16<<20 {
		t.Error("QuotaBytes: 0 is the 2 GiB default, others are kept")
	}
}
